"""Exports of the cis models for downstream tools: per tissue, a PredictDB SQLite database
and its S-PrediXcan covariance file, as PrediXcan, S-PrediXcan and MetaXcan read them; and
the weights and test R^2 as tensorQTL-style tables."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from milage.cis import CIS_FIX
from milage.files import atomic_output, gzip_text
from milage.genotypes import var_ids
from milage.guards import check_table

log = logging.getLogger(__name__)

COVARIANCE_HEADER = "GENE RSID1 RSID2 VALUE"


def model_performance(r2: pd.DataFrame, genes: pd.Index, max_pval: float,
                      min_r2: float) -> pd.DataFrame:
    """One tissue's held-out performance of the genes with a model (``genes``).

    r2 : gene_id, r, pvalue (this tissue's test correlation of prediction and expression)
    Returns gene_id, r2 (= r^2, PredictDB's pred.perf.R2), pvalue, qval (Benjamini-Hochberg
    over ``genes``; a gene with no test samples counts with p = 1) and keep: the filter of
    GTEx's PredictDB elastic-net models, r > 0, pvalue <= ``max_pval`` and r2 >= ``min_r2``.
    """
    perf = pd.DataFrame({"gene_id": genes}).merge(r2[["gene_id", "r", "pvalue"]],
                                                  on="gene_id", how="left", validate="1:1")
    p = perf["pvalue"].fillna(1.0).to_numpy()
    perf["qval"] = false_discovery_control(p, method="bh") if len(p) else p
    r = perf.pop("r")
    perf["r2"] = r**2
    perf["keep"] = (r > 0) & (p <= max_pval) & (perf["r2"] >= min_r2)
    return perf


def write_predictdb(path: str | os.PathLike, weights: pd.DataFrame, snps: pd.DataFrame,
                    genes: pd.DataFrame, performance: pd.DataFrame) -> None:
    """Write one tissue's models.

    weights : gene_id, snp_id, weight (the non-zero weights of the genes exported)
    snps : snp_id, chrom, pos, ref, alt (ref = the input's reference allele, alt = the
        counted, effect allele)
    genes : gene_id, gene_name
    performance : gene_id, r2, pvalue, qval (:func:`model_performance`)
    """
    check_table(weights, "weight", f"weights for {path}", {"gene": "gene_id", "SNP": "snp_id"},
                CIS_FIX)
    w = weights.merge(snps, on="snp_id", how="left", validate="m:1")
    table = pd.DataFrame({
        "gene": w["gene_id"], "rsid": w["snp_id"],
        "varID": var_ids(w) + "_b38",
        "ref_allele": w["ref"], "eff_allele": w["alt"], "weight": w["weight"]})
    n_snps = table.groupby("gene").size().rename("n.snps.in.model")
    extra = (genes[genes["gene_id"].isin(n_snps.index)]
             .merge(performance, on="gene_id", how="left")
             .rename(columns={"gene_id": "gene", "gene_name": "genename", "r2": "pred.perf.R2",
                              "pvalue": "pred.perf.pval", "qval": "pred.perf.qval"}))
    extra = extra.join(n_snps, on="gene")[["gene", "genename", "n.snps.in.model",
                                           "pred.perf.R2", "pred.perf.pval", "pred.perf.qval"]]
    with atomic_output(path) as tmp, contextlib.closing(sqlite3.connect(tmp)) as db:
        table.to_sql("weights", db, index=False)
        extra.to_sql("extra", db, index=False)
        db.execute("CREATE INDEX weights_rsid ON weights (rsid)")
        db.execute("CREATE INDEX weights_gene ON weights (gene)")
        db.execute("CREATE INDEX extra_gene ON extra (gene)")
        db.commit()


def covariance_of(dosages: Callable[[np.ndarray], np.ndarray]) -> Callable[[tuple], np.ndarray]:
    """SNP IDs (a tuple) -> the covariance (ddof 1) of their dosages, computed once per set
    of SNPs: a gene's model keeps the same SNPs in most tissues (the group-LASSO selects a
    SNP across tissues; the demo's 53,032 gene-tissue models have 1,882 distinct sets).

    dosages : SNP IDs -> their dosages (SNPs x individuals of the reference panel)
    """

    @functools.cache
    def covariance(ids: tuple) -> np.ndarray:
        return np.atleast_2d(np.cov(dosages(np.array(ids)).astype(np.float64)))

    return covariance


def write_covariance(path: str | os.PathLike, weights: pd.DataFrame,
                     covariance: Callable[[tuple], np.ndarray]) -> None:
    """Write S-PrediXcan's covariance file of one tissue's models (gzip, space-separated
    ``GENE RSID1 RSID2 VALUE``): per gene, in the order of ``weights``, the covariance
    (ddof 1) of every pair of its model SNPs' dosages, each pair once with RSID1 <= RSID2
    in the model's order, the diagonal included (MetaXcan fills the other triangle).

    weights : gene_id, snp_id (the exported models)
    covariance : :func:`covariance_of` the reference panel's dosages
    """
    columns: list[list[np.ndarray]] = [[], [], [], []]     # GENE, RSID1, RSID2, VALUE
    for gene, ids in weights.groupby("gene_id", sort=False)["snp_id"]:
        ids = ids.to_numpy()
        cov = covariance(tuple(ids))
        i, j = np.triu_indices(len(ids))
        for column, values in zip(columns, (np.repeat(gene, len(i)), ids[i], ids[j], cov[i, j]),
                                  strict=True):
            column.append(values)
    table = pd.DataFrame({name: np.concatenate(values) if values else []
                          for name, values in zip(COVARIANCE_HEADER.split(), columns,
                                                  strict=True)})
    with atomic_output(path) as tmp, gzip_text(tmp) as fh:
        table.to_csv(fh, sep=" ", index=False, float_format="%.6g")


def export_tissue(folder: os.PathLike, name: str, weights: pd.DataFrame, r2: pd.DataFrame,
                  snps: pd.DataFrame, genes: pd.DataFrame,
                  covariance: Callable[[tuple], np.ndarray], max_pval: float,
                  min_r2: float) -> int:
    """Write ``{folder}/{name}.db`` and ``{name}.txt.gz`` of one tissue's models that pass
    the performance filter (:func:`model_performance`); return the number of genes dropped."""
    perf = model_performance(r2, pd.Index(weights["gene_id"].unique()), max_pval, min_r2)
    kept = weights[weights["gene_id"].isin(perf.loc[perf["keep"], "gene_id"])]
    write_predictdb(os.path.join(folder, f"{name}.db"), kept, snps, genes, perf)
    write_covariance(os.path.join(folder, f"{name}.txt.gz"), kept, covariance)
    dropped = int((~perf["keep"]).sum())
    log.info("%s: %d genes exported, %d dropped by the performance filter (test p > %g, "
             "r <= 0 or r^2 < %g)", name, int(perf["keep"].sum()), dropped, max_pval, min_r2)
    return dropped


def tensorqtl_tables(weights: pd.DataFrame, r2: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                         pd.DataFrame]:
    """The cis weights (phenotype_id, variant_id, tissue, weight) and per-gene, per-tissue
    test performance (phenotype_id, tissue, n, r2, r, pvalue) keyed as tensorQTL keys its
    tables."""
    w = weights.rename(columns={"gene_id": "phenotype_id", "snp_id": "variant_id"})
    return (w[["phenotype_id", "variant_id", "tissue", "weight"]],
            r2.rename(columns={"gene_id": "phenotype_id"})[
                ["phenotype_id", "tissue", "n", "r2", "r", "pvalue"]])
