"""Variance explained and per-gene R^2 on held-out individuals, and oracle predictions from
the demo's planted truth."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from milage import cis
from milage.dataset import Dataset
from milage.prepare import column_means

SPLITS = ("train", "valid", "test")

log = logging.getLogger(__name__)


def training_means(y: np.ndarray, tissue: np.ndarray, sample_split: np.ndarray,
                   n_tissues: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-(tissue, gene) (tissues x genes; NaN for a tissue without training samples) and
    pooled per-gene means over the training samples of y (samples x genes; NaN cells are
    missing and left out)."""
    y = np.asarray(y, dtype=np.float64)
    train = sample_split == "train"
    by_tissue = np.full((n_tissues, y.shape[1]), np.nan)
    for k in range(n_tissues):
        rows = train & (tissue == k)
        if rows.any():
            by_tissue[k] = column_means(y[rows])
    return by_tissue, column_means(y[train])


def sst_by_split(y: np.ndarray, tissue: np.ndarray, sample_split: np.ndarray, n_tissues: int,
                 pooled: bool = False) -> dict[str, float]:
    """Total sum of squares of each split's samples (rows of y; NaN cells missing) around
    the per-(tissue, gene) training means (``pooled``: around the pooled per-gene training
    means)."""
    y = np.asarray(y, dtype=np.float64)
    by_tissue, pooled_mean = training_means(y, tissue, sample_split, n_tissues)
    centre = pooled_mean if pooled else by_tissue[tissue]
    return {split: float(np.nansum((y[r] - (centre if pooled else centre[r])) ** 2))
            for split in SPLITS if (r := sample_split == split).any()}


def _training_means(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    return training_means(ds.expression, ds.samples["tissue_index"].to_numpy(),
                          ds.samples["split"].to_numpy(), len(ds.tissues))


def _split_rows(ds: Dataset, split: str) -> np.ndarray:
    return (ds.samples["split"] == split).to_numpy()


def split_sst(ds: Dataset, pooled: bool = False) -> dict[str, float]:
    """:func:`sst_by_split` of the dataset's observed samples."""
    return sst_by_split(ds.expression, ds.samples["tissue_index"].to_numpy(),
                        ds.samples["split"].to_numpy(), len(ds.tissues), pooled)


def variance_explained(ds: Dataset, pred: np.ndarray, model: str) -> pd.DataFrame:
    """Rows (model, split, n_samples, ve, ve_pooled) for the train, valid and test splits.

    ve = 1 - SSE / SST over the observed samples (and cells) of a split, with SST around
    the per-(tissue, gene) training means; ve_pooled uses the pooled per-gene training mean
    (the paper's baseline).
    """
    y = np.asarray(ds.expression, dtype=np.float64)
    sst, sst_pooled = split_sst(ds), split_sst(ds, pooled=True)
    rows = []
    for split in sst:
        r = _split_rows(ds, split)
        sse = np.nansum((y[r] - pred[r]) ** 2)
        rows.append({"model": model, "split": split, "n_samples": int(r.sum()),
                     "ve": 1 - sse / sst[split], "ve_pooled": 1 - sse / sst_pooled[split]})
    return pd.DataFrame(rows)


def flag_below_cis(table: pd.DataFrame, models) -> pd.DataFrame:
    """``table`` (:func:`variance_explained` rows of several models, cis among them) with a
    column ``beats_cis``: for each of ``models``, whether its validation VE (training VE
    without a validation split) is above the cis model's; empty for the other rows. A
    trans model that does not beat cis on the split that selected it adds nothing."""
    split = "valid" if (table["split"] == "valid").any() else "train"
    ve = table[table["split"] == split].set_index("model")["ve"]
    beats = {m: bool(ve[m] > ve["cis"]) for m in models}
    for model in (m for m, ok in beats.items() if not ok):
        log.warning("%s does not beat the cis model on the %s split (VE %.4f, cis %.4f): "
                    "its trans part adds nothing", model, split, ve[model], ve["cis"])
    return table.assign(beats_cis=table["model"].map(beats).astype("boolean"))


def flag_memory_limited(table: pd.DataFrame, params: dict[str, str]) -> pd.DataFrame:
    """``table`` with a column ``memory_limited``: for each trans model, whether memory
    moved or ended its alpha penalty path or stopped its polish (the ``memory_limited``
    its training saved in its parameters, ``params``: model -> file; empty where they
    predate it, and for the other rows): it is then the best the machine admits, not
    what validation would choose with more memory."""
    limited = {model: _saved_flag(path, "memory_limited") for model, path in params.items()}
    for model in (m for m, hit in limited.items() if hit):
        log.warning("%s: memory moved or ended alpha's penalty path or stopped its polish "
                    "(see its trans_train log): it is the best this machine admits, not "
                    "what validation would choose with more memory", model)
    return table.assign(memory_limited=table["model"].map(limited).astype("boolean"))


def _saved_flag(path: str, name: str) -> bool | None:
    """The flag ``name`` of an .npz file, None where it has none (only that member is read)."""
    with np.load(path) as saved:
        return bool(saved[name]) if name in saved else None


def r2_by_gene_tissue(ds: Dataset, pred: np.ndarray, split: str = "test") -> pd.DataFrame:
    """Per (gene, tissue) on one split: n (observed samples), r2 (1 - SSE/SST around the
    training mean), Pearson r of prediction and observation, and its p-value. Pairs with
    fewer than 3 samples are left out."""
    y = np.asarray(ds.expression, dtype=np.float64)
    by_tissue, _ = _training_means(ds)
    out = []
    for k, tissue in enumerate(ds.tissues):
        r = ((ds.samples["split"] == split) & (ds.samples["tissue_index"] == k)).to_numpy()
        observed = ~np.isnan(y[r])
        n = observed.sum(axis=0)
        if n.max(initial=0) < 3:
            continue
        yk, pk = y[r], np.where(observed, pred[r], np.nan)
        sse = np.nansum((yk - pk) ** 2, axis=0)
        sst = np.nansum((yk - by_tissue[k]) ** 2, axis=0)
        yc = np.where(observed, yk - column_means(yk), 0.0)
        pc = np.where(observed, pk - column_means(pk), 0.0)
        denom = np.sqrt((yc**2).sum(axis=0) * (pc**2).sum(axis=0))
        corr = np.divide((yc * pc).sum(axis=0), denom, out=np.zeros(len(sse)), where=denom > 0)
        t = corr * np.sqrt(np.maximum(n - 2, 0) / np.maximum(1 - corr**2, 1e-300))
        table = pd.DataFrame({"gene_id": ds.genes["gene_id"], "tissue": tissue, "n": n,
                              "r2": 1 - sse / sst, "r": corr,
                              "pvalue": 2 * stats.t.sf(np.abs(t), np.maximum(n - 2, 1))})
        out.append(table[n >= 3])
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
    sd = _normalisation_sd(ds)[pd.Index(ds.tissues).get_indexer(table["tissue"]),
                               pd.Index(ds.genes["gene_id"]).get_indexer(table["gene_id"])]
    table["weight"] *= table["log_sd"] / sd
    return table[["gene_id", "snp_id", "tissue", "weight"]].reset_index(drop=True)


def _normalisation_sd(ds: Dataset) -> np.ndarray:
    """The standard deviation each (tissue, gene) was divided by when Z-scored
    (tissues x genes; the same for every tissue with a per-gene scope)."""
    moments = ds.moments.rename(columns={"group": "tissue"})
    genes = pd.Index(ds.genes["gene_id"])
    out = np.full((len(ds.tissues), len(genes)), np.nan)
    per_gene = moments["tissue"] == "all"
    out[:, genes.get_indexer(moments.loc[per_gene, "gene_id"])] = moments.loc[per_gene, "sd"]
    rest = moments[~per_gene]
    out[pd.Index(ds.tissues).get_indexer(rest["tissue"]),
        genes.get_indexer(rest["gene_id"])] = rest["sd"]
    return out


def training_intercepts(ds: Dataset, pred_without_intercept: np.ndarray) -> pd.DataFrame:
    """Per-(gene, tissue) intercepts that centre the training residuals of a prediction."""
    y = np.asarray(ds.expression, dtype=np.float64)
    train = (ds.samples["split"] == "train").to_numpy()
    tissue = ds.samples["tissue_index"].to_numpy()
    frames = []
    for k, name in enumerate(ds.tissues):
        rows = train & (tissue == k)
        frames.append(pd.DataFrame({"gene_id": ds.genes["gene_id"], "tissue": name,
                                    "intercept": column_means(y[rows]
                                                              - pred_without_intercept[rows])}))
    return pd.concat(frames, ignore_index=True)


def oracle_trans(ds: Dataset, truth: dict) -> np.ndarray:
    """The planted trans part of every sample (samples x genes) in prepared units: true
    factors F times true loadings beta, rescaled like :func:`oracle_cis_weights`."""
    ind = pd.Index(np.asarray(truth["individuals"])).get_indexer(ds.individuals["individual"])
    genes = pd.Index(np.asarray(truth["gene_ids"])).get_indexer(ds.genes["gene_id"])
    tissues = pd.Index(np.asarray(truth["tissues"])).get_indexer(ds.tissues)
    scale = np.asarray(truth["log_sd"])[genes] / _normalisation_sd(ds)     # tissues x genes
    f = np.asarray(truth["F"])[ind][ds.samples["ind_index"].to_numpy()]   # samples x factors
    out = np.zeros(ds.expression.shape)
    for k, tk in enumerate(tissues):
        rows = np.nonzero(ds.samples["tissue_index"].to_numpy() == k)[0]
        beta = np.asarray(truth["beta"])[tk][genes] * scale[k][:, None]   # genes x factors
        out[rows] = f[rows] @ beta.T
    return out


def oracle_prediction(ds: Dataset, truth: dict, trans: bool = True) -> np.ndarray:
    """Prediction of every sample by the planted parameters (the cis weights, plus the trans
    part unless ``trans`` is False), with intercepts fitted on the training samples."""
    weights = oracle_cis_weights(ds, truth)
    zero = pd.DataFrame({"gene_id": np.repeat(ds.genes["gene_id"], len(ds.tissues)),
                         "tissue": np.tile(ds.tissues, len(ds.genes)), "intercept": 0.0})
    pred = cis.predict(ds, weights, zero)
    if trans:
        pred += oracle_trans(ds, truth)
    return pred + cis.predict(ds, weights.iloc[:0], training_intercepts(ds, pred))


def r2_by(ds: Dataset, pred: np.ndarray, by: str, split: str = "test") -> pd.DataFrame:
    """R^2 (1 - SSE/SST, SST around per-(tissue, gene) training means) on one split, per
    tissue (over all genes) or per gene (over all tissues)."""
    y = np.asarray(ds.expression, dtype=np.float64)
    by_tissue, _ = _training_means(ds)
    r = _split_rows(ds, split)
    tissue = ds.samples["tissue_index"].to_numpy()[r]
    sse, sst = (y[r] - pred[r]) ** 2, (y[r] - by_tissue[tissue]) ** 2    # NaN: missing
    if by == "gene":
        return pd.DataFrame({"gene_id": ds.genes["gene_id"],
                             "r2": 1 - np.nansum(sse, axis=0) / np.nansum(sst, axis=0)})
    group = pd.Series(tissue).map(dict(enumerate(ds.tissues)))
    sums = pd.DataFrame({"tissue": group, "sse": np.nansum(sse, axis=1),
                         "sst": np.nansum(sst, axis=1),
                         "n_samples": 1}).groupby("tissue", sort=False).sum()
    return pd.DataFrame({"tissue": sums.index, "n_samples": sums["n_samples"].to_numpy(),
                         "r2": (1 - sums["sse"] / sums["sst"]).to_numpy()})
