"""What the trans models train on, their predictions, and their parameters on disk.

The data stay compact: cis residuals as samples x genes, plus a table ``sample_of``
(individuals x tissues) giving each observed sample's row. A mini-batch gathers the dense
batch x tissues x genes block and its mask; no dense tensor of the whole cohort is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from keras import ops

from milage.dataset import Dataset
from milage.evaluate import SPLITS, split_sst
from milage.files import atomic_output
from milage.guards import check_array
from milage.models import TransModel, build_model


@dataclass
class TransData:
    """Cis residuals and standardised genotypes of the individuals of a dataset."""

    genotypes: np.ndarray     # individuals x SNPs, float32, (x - mean) / sd of training
    snp_mean: np.ndarray      # SNPs
    snp_sd: np.ndarray        # SNPs
    residuals: np.ndarray     # samples x genes, float32
    sample_of: np.ndarray     # individuals x tissues: row of residuals, -1 if not sampled
    split: np.ndarray         # individuals: train / valid / test
    sst: dict[str, float]     # split: total sum of squares around the training means
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # SNP, gene, tissue names

    def rows(self, split: str) -> np.ndarray:
        """Indices of the individuals of one split."""
        return np.nonzero(self.split == split)[0]

    def batch(self, rows: np.ndarray):
        """(genotypes, (residuals, mask)) of some individuals, as float32 arrays."""
        idx = self.sample_of[rows]                                  # batch x tissues
        mask = idx >= 0
        y = self.residuals[np.where(mask, idx, 0)] * mask[:, :, None]
        return self.genotypes[rows], (y.astype(np.float32), mask.astype(np.float32))


def standardise(dosages: np.ndarray, train: np.ndarray):
    """Individuals x SNPs float32 standardised by the training individuals' moments."""
    mean = dosages[train].mean(axis=0, dtype=np.float64)
    sd = dosages[train].std(axis=0, dtype=np.float64)
    sd[sd == 0] = 1.0
    x = ((dosages - mean) / sd).astype(np.float32)
    return x, mean, sd


def trans_data(ds: Dataset, residuals: np.ndarray, permute_seed: int | None = None) -> TransData:
    """Assemble the trans training data; ``permute_seed`` shuffles genotype rows across
    individuals (the permutation control for trans-eQTL calls)."""
    dosages = ds.genotypes()
    if permute_seed is not None:
        dosages = dosages[np.random.default_rng(permute_seed).permutation(len(dosages))]
    split = ds.individuals["split"].to_numpy()
    x, mean, sd = standardise(dosages, split == "train")
    sample_of = np.full((len(ds.individuals), len(ds.tissues)), -1)
    sample_of[ds.samples["ind_index"], ds.samples["tissue_index"]] = np.arange(len(ds.samples))
    labels = {"SNP": ds.snps["snp_id"].to_numpy(), "gene": ds.genes["gene_id"].to_numpy(),
              "tissue": np.asarray(ds.tissues)}
    return TransData(x, mean, sd, np.asarray(residuals, dtype=np.float32), sample_of, split,
                     split_sst(ds), labels)


PREDICT_BATCH_VALUES = 2**21   # predicted values per batch, at least 64 individuals


def predict_samples(model: TransModel, data: TransData,
                    batch_size: int | None = None) -> np.ndarray:
    """Trans predictions for every sample (samples x genes), batched over individuals
    (``batch_size``; default: 64, or more while a batch stays within
    ``PREDICT_BATCH_VALUES`` predicted values, so small models are not called per row)."""
    n_cells = data.sample_of.shape[1] * data.residuals.shape[1]      # tissues x genes
    batch_size = batch_size or max(64, PREDICT_BATCH_VALUES // n_cells)
    out = np.zeros(data.residuals.shape, dtype=np.float32)
    for start in range(0, len(data.sample_of), batch_size):
        rows = np.arange(start, min(start + batch_size, len(data.sample_of)))
        pred = ops.convert_to_numpy(model(data.genotypes[rows], training=False))
        idx = data.sample_of[rows]
        out[idx[idx >= 0]] = pred[idx >= 0]
    return out


def split_ve(data: TransData, trans_pred: np.ndarray,
             splits: tuple[str, ...] = SPLITS) -> dict[str, float]:
    """Variance explained by cis + trans per split: 1 - SSE / SST (missing cells, NaN
    residuals, left out)."""
    sse = np.nansum((data.residuals - trans_pred).astype(np.float64) ** 2, axis=1)
    out = {}
    for split in splits:
        rows = data.sample_of[data.split == split]
        if split in data.sst and (rows >= 0).any():
            out[split] = 1.0 - sse[rows[rows >= 0]].sum() / data.sst[split]
    return out


PARAMS_FIX = ("lower trans.train.learning_rate or raise the L1 penalties (trans.train.l1); "
              "check the cohort's size and the tissues' sample counts")


def save_params(model: TransModel, data: TransData, path: str | os.PathLike,
                **annotations) -> None:
    """The model's parameters by name, with SNP moments and any annotations, as .npz.
    Stops (:mod:`milage.guards`) before writing a parameter that is non-finite or absurd."""
    arrays = {v.name: ops.convert_to_numpy(v) for v in model.weights}
    for name, values in arrays.items():
        check_array(values, f"{model.name} parameter {name}", model.axes[name], data.labels,
                    PARAMS_FIX)
    arrays.update(kind=np.array(model.name), snp_mean=data.snp_mean, snp_sd=data.snp_sd,
                  **{k: np.asarray(v) for k, v in annotations.items()})
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_params(path: str | os.PathLike) -> tuple[TransModel, dict[str, np.ndarray]]:
    """The model saved by :func:`save_params`, and every array of the file."""
    arrays = dict(np.load(path, allow_pickle=False))
    n_snps, n_factors = arrays["alpha"].shape
    n_tissues, n_genes = (arrays["W"].shape[0], arrays["V"].shape[0]) if "V" in arrays \
        else arrays["b"].shape
    model = build_model(str(arrays["kind"]), n_snps, n_tissues, n_genes, n_factors)
    set_params(model, arrays)
    return model, arrays


def set_params(model: TransModel, params: dict[str, np.ndarray]) -> None:
    """Assign the model's variables from arrays keyed by variable name."""
    for v in model.weights:
        v.assign(np.asarray(params[v.name], dtype="float32"))


def trans_eqtls(params: dict[str, np.ndarray], snps, genes, tissues: list[str],
                top: int = 5) -> pd.DataFrame:
    """SNPs with non-zero alpha, one row per (factor, SNP), with the factor's top genes and
    tissues by |beta| (|V| and |W| for TM). Factors are numbered from 1."""
    alpha = params["alpha"]                                    # SNPs x factors
    snp_row, factor = np.nonzero(alpha)
    if "V" in params:
        gene_w, tissue_w = np.abs(params["V"]).T, np.abs(params["W"]).T   # factors x ...
    else:
        gene_w, tissue_w = (np.abs(params["beta"]).sum(axis=1),
                            np.abs(params["beta"]).sum(axis=2))
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
