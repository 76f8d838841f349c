"""Variance explained and per-gene R^2 on held-out individuals, and oracle predictions from
the demo's planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from milage.data import Dataset

SPLITS = ("train", "valid", "test")


def _training_means(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per-(tissue, gene) and pooled per-gene means over the training samples."""
    y = np.asarray(ds.expression, dtype=np.float64)
    train = (ds.samples["split"] == "train").to_numpy()
    tissue = ds.samples["tissue_index"].to_numpy()
    by_tissue = np.full((len(ds.tissues), y.shape[1]), np.nan)
    for k in range(len(ds.tissues)):
        rows = train & (tissue == k)
        if rows.any():
            by_tissue[k] = y[rows].mean(axis=0)
    return by_tissue, y[train].mean(axis=0)


def variance_explained(ds: Dataset, pred: np.ndarray, model: str) -> pd.DataFrame:
    """Rows (model, split, n_samples, ve, ve_pooled) for the train, valid and test splits.

    ve = 1 - SSE / SST over the observed samples of a split, with SST around the
    per-(tissue, gene) training means; ve_pooled uses the pooled per-gene training mean
    (the paper's baseline).
    """
    y = np.asarray(ds.expression, dtype=np.float64)
    by_tissue, pooled = _training_means(ds)
    centre = by_tissue[ds.samples["tissue_index"].to_numpy()]
    rows = []
    for split in SPLITS:
        r = (ds.samples["split"] == split).to_numpy()
        if not r.any():
            continue
        sse = ((y[r] - pred[r]) ** 2).sum()
        rows.append({"model": model, "split": split, "n_samples": int(r.sum()),
                     "ve": 1 - sse / ((y[r] - centre[r]) ** 2).sum(),
                     "ve_pooled": 1 - sse / ((y[r] - pooled) ** 2).sum()})
    return pd.DataFrame(rows)


def r2_by_gene_tissue(ds: Dataset, pred: np.ndarray, split: str = "test") -> pd.DataFrame:
    """Per (gene, tissue) on one split: n, r2 (1 - SSE/SST around the training mean),
    Pearson r of prediction and observation, and its p-value."""
    y = np.asarray(ds.expression, dtype=np.float64)
    by_tissue, _ = _training_means(ds)
    out = []
    for k, tissue in enumerate(ds.tissues):
        r = ((ds.samples["split"] == split) & (ds.samples["tissue_index"] == k)).to_numpy()
        if r.sum() < 3:
            continue
        yk, pk = y[r], pred[r]
        sse = ((yk - pk) ** 2).sum(axis=0)
        sst = ((yk - by_tissue[k]) ** 2).sum(axis=0)
        yc, pc = yk - yk.mean(axis=0), pk - pk.mean(axis=0)
        denom = np.sqrt((yc**2).sum(axis=0) * (pc**2).sum(axis=0))
        corr = np.divide((yc * pc).sum(axis=0), denom, out=np.zeros(len(sse)), where=denom > 0)
        t = corr * np.sqrt((r.sum() - 2) / np.maximum(1 - corr**2, 1e-300))
        out.append(pd.DataFrame({"gene_id": ds.genes["gene_id"], "tissue": tissue,
                                 "n": int(r.sum()), "r2": 1 - sse / sst, "r": corr,
                                 "pvalue": 2 * stats.t.sf(np.abs(t), r.sum() - 2)}))
    return pd.concat(out, ignore_index=True)


def oracle_cis_weights(ds: Dataset, truth: dict) -> pd.DataFrame:
    """The planted cis weights in the units of the prepared expression (gene_id, snp_id,
    tissue, weight).

    The simulator plants effects on a latent scale: log2(TPM + 1) = mean + log_sd * latent.
    Normalisation then divides by the training standard deviation, so a weight scales by
    log_sd / sd.
    """
    n_pairs = len(truth["cis_gene"])
    tissues = np.asarray(truth["tissues"])
    table = pd.DataFrame({
        "gene_id": np.repeat(np.asarray(truth["gene_ids"])[truth["cis_gene"]], len(tissues)),
        "snp_id": np.repeat(np.asarray(truth["snp_ids"])[truth["cis_snp"]], len(tissues)),
        "tissue": np.tile(tissues, n_pairs),
        "weight": np.asarray(truth["cis_weight"]).ravel(),
        "log_sd": np.repeat(np.asarray(truth["log_sd"])[truth["cis_gene"]], len(tissues))})
    table = table[table["gene_id"].isin(ds.genes["gene_id"]) & table["tissue"].isin(ds.tissues)
                  & table["snp_id"].isin(ds.snps["snp_id"])]
    moments = ds.moments.rename(columns={"group": "tissue"})
    if (moments["tissue"] == "all").all():
        table = table.merge(moments[["gene_id", "sd"]], on="gene_id")
    else:
        table = table.merge(moments[["gene_id", "tissue", "sd"]], on=["gene_id", "tissue"])
    table["weight"] *= table["log_sd"] / table["sd"]
    return table[["gene_id", "snp_id", "tissue", "weight"]].reset_index(drop=True)


def training_intercepts(ds: Dataset, pred_without_intercept: np.ndarray) -> pd.DataFrame:
    """Per-(gene, tissue) intercepts that centre the training residuals of a prediction."""
    y = np.asarray(ds.expression, dtype=np.float64)
    train = (ds.samples["split"] == "train").to_numpy()
    tissue = ds.samples["tissue_index"].to_numpy()
    frames = []
    for k, name in enumerate(ds.tissues):
        rows = train & (tissue == k)
        frames.append(pd.DataFrame({"gene_id": ds.genes["gene_id"], "tissue": name,
                                    "intercept": (y[rows] - pred_without_intercept[rows])
                                    .mean(axis=0)}))
    return pd.concat(frames, ignore_index=True)
