"""Trans-eQTL calls: the SNPs a trained model's alpha keeps, per factor, with the factor's
top genes and tissues, and their empirical FDR from genotype permutations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from milage.trans_models import TransModel


def trans_eqtls(model: TransModel, snps, genes, tissues: list[str],
                top: int = 5) -> pd.DataFrame:
    """SNPs with non-zero alpha, one row per (factor, SNP), with the factor's top genes and
    tissues by the model's trans-eQTL weights (:meth:`TransModel.eqtl_weights`). Factors
    are numbered from 1."""
    alpha = model.alpha                                        # SNPs x factors
    snp_row, factor = np.nonzero(alpha)
    gene_w, tissue_w = model.eqtl_weights()                    # factors x genes, x tissues
    names = np.asarray(genes["gene_id"])

    def tops(w, labels):
        best = np.argsort(-w, axis=1, kind="stable")[:, :top]
        return [",".join(labels[b[w[t, b] > 0]]) for t, b in enumerate(best)]

    top_genes, top_tissues = tops(gene_w, names), tops(tissue_w, np.asarray(tissues))
    table = snps.iloc[snp_row][["snp_id", "chrom", "pos"]].reset_index(drop=True)
    table.insert(0, "factor", factor + 1)
    table["alpha"] = alpha[snp_row, factor]
    table["top_genes"] = [top_genes[t] for t in factor]
    table["top_tissues"] = [top_tissues[t] for t in factor]
    order = np.lexsort((-table["alpha"].abs().to_numpy(), table["factor"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def permutation_fdr(n_called: int, permuted_calls: list[int]) -> pd.DataFrame:
    """Empirical FDR of the trans-eQTL calls: mean number called on permuted genotypes over
    the number called on the real ones (capped at 1)."""
    mean = float(np.mean(permuted_calls)) if permuted_calls else np.nan
    fdr = min(1.0, mean / n_called) if n_called else np.nan
    return pd.DataFrame({"n_called": [n_called], "n_permutations": [len(permuted_calls)],
                         "mean_called_permuted": [mean], "empirical_fdr": [fdr]})
