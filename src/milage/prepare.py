"""Train/validation/test split, normalisation with training moments, and cis windows."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from milage.errors import EmptyAfterFilterError, InputError
from milage.expression import Expression
from milage.files import read_input_table, require_file

log = logging.getLogger(__name__)

MIN_INDIVIDUALS = 20   # train, validation and test splits, and the cis CV's folds


def split_individuals(individuals, test_fraction: float = 0.25, valid_fraction: float = 0.1,
                      seed: int = 1) -> pd.DataFrame:
    """Assign individuals to train / valid / test at random (seeded).

    ``test_fraction`` of all individuals form the test set; ``valid_fraction`` of the rest
    the validation set (used for early stopping and penalty choice); the others train.
    Individuals are sorted first, so the split does not depend on input order. Fewer than
    ``MIN_INDIVIDUALS``, or fractions that leave a split empty, are refused.
    """
    ids = np.sort(np.asarray(list(individuals), dtype=str))
    n = len(ids)
    if n < MIN_INDIVIDUALS:
        raise EmptyAfterFilterError("expression", f"{n} individuals have genotypes and "
                                    f"expression; milage needs at least {MIN_INDIVIDUALS} (for "
                                    "its train, validation and test splits)",
                                    "add individuals, or lower expression.min_samples if "
                                    "tissues were dropped")
    n_test = int(round(test_fraction * n))
    n_valid = int(round(valid_fraction * (n - n_test)))
    for key, size in (("test_fraction", n_test), ("valid_fraction", n_valid)):
        if size < 1:
            raise InputError(f"config split.{key}", f"it leaves no individual in the "
                             f"{key.split('_')[0]} split of {n}", f"raise split.{key}")
    if n - n_test - n_valid < MIN_INDIVIDUALS // 2:
        raise InputError("config split", f"test_fraction {test_fraction:g} and valid_fraction "
                         f"{valid_fraction:g} leave {n - n_test - n_valid} of {n} individuals "
                         f"for training (at least {MIN_INDIVIDUALS // 2} are needed)",
                         "lower split.test_fraction / split.valid_fraction")
    order = np.random.default_rng(seed).permutation(n)
    split = np.empty(n, dtype=object)
    split[order[:n_test]] = "test"
    split[order[n_test:n_test + n_valid]] = "valid"
    split[order[n_test + n_valid:]] = "train"
    return pd.DataFrame({"individual": ids, "split": split})


def read_covariates(path: str | os.PathLike, individuals: pd.Series) -> np.ndarray:
    """GTEx covariates.txt (rows: covariates, first column ID; columns: individuals);
    returns an individuals x covariates matrix in the order of ``individuals``."""
    path = require_file(path, "covariates")
    table = read_input_table(path, "covariates", "give GTEx's covariates.txt layout: a row "
                             "per covariate, a column per individual, tab-separated",
                             sep="\t", index_col=0)
    absent = individuals[~individuals.isin(table.columns)]
    if len(absent):
        raise InputError(path, f"individual {absent.iat[0]} has no covariate column "
                         f"({absent.nunique()} individuals missing)",
                         "give covariates for every individual with a sample of this tissue")
    values = table[individuals.to_numpy()].T
    bad = values.columns[~values.apply(pd.api.types.is_numeric_dtype).to_numpy()
                         | values.isna().any().to_numpy()]
    if len(bad):
        raise InputError(path, f"covariate {bad[0]!r} has non-numeric or missing values",
                         "encode categorical covariates as numbers and fill missing values")
    return values.to_numpy(dtype=np.float64)


def regress_out(y: np.ndarray, covariates: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Residuals of y (samples x genes; NaN where a cell is missing) on an intercept plus
    covariates, fitted on the training rows only and applied to every row. Genes with
    missing cells are fitted on their observed training rows."""
    design = np.column_stack([np.ones(len(y)), covariates])
    missing = np.isnan(y[train])
    complete = ~missing.any(axis=0)
    coef = np.zeros((design.shape[1], y.shape[1]))
    coef[:, complete] = np.linalg.lstsq(design[train], y[train][:, complete], rcond=None)[0]
    for j in np.nonzero(~complete)[0]:
        rows = ~missing[:, j]
        coef[:, j] = np.linalg.lstsq(design[train][rows], y[train][rows, j], rcond=None)[0]
    return y - design @ coef


def column_means(y: np.ndarray) -> np.ndarray:
    """Per-column means of the observed (non-NaN) rows, in y's precision (as ``y.mean``);
    NaN for a column without any."""
    n = (~np.isnan(y)).sum(axis=0)
    return np.divide(np.nansum(y, axis=0), n, out=np.full(y.shape[1], np.nan, y.dtype),
                     where=n > 0)


def _moments(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and SD over the non-missing rows (NaN where a column has none)."""
    mean = column_means(y)
    return mean, np.sqrt(column_means((y - mean) ** 2))


def normalise(expr: Expression, split: pd.DataFrame, scope: str = "gene",
              covariates: dict[str, str] | None = None) -> tuple[Expression, pd.DataFrame]:
    """Z-scores with moments from training individuals only, applied to every sample.

    ``scope`` "gene" pools a gene's training samples of all tissues (the paper);
    "gene_tissue" standardises each (gene, tissue) separately. Covariates (per tissue) are
    regressed out first. Missing cells (NaN) stay missing and are left out of the moments;
    genes constant, or without a training value, in some group are dropped.

    Returns the normalised expression (samples gain a ``split`` column) and the moments
    (gene_id, group, mean, sd; group is the tissue, or "all" for scope "gene").
    """
    samples = expr.samples.merge(split, on="individual", how="left", validate="m:1")
    train = (samples["split"] == "train").to_numpy()
    y = expr.values.astype(np.float64)
    for tissue, path in (covariates or {}).items():
        rows = (samples["tissue"] == tissue).to_numpy()
        if not rows.any():
            raise InputError("config inputs.covariates", f"tissue {tissue!r} has no samples "
                             "after filtering", "remove it or fix the tissue name")
        cov = read_covariates(path, samples.loc[rows, "individual"])
        y[rows] = regress_out(y[rows], cov, train[rows])
    groups = samples["tissue"] if scope == "gene_tissue" else pd.Series("all", samples.index)
    mean, sd, moments = np.zeros_like(y), np.ones_like(y), []
    for group in groups.unique():
        rows = (groups == group).to_numpy()
        if not (rows & train).any():
            raise EmptyAfterFilterError("expression", f"{group!r} has no training sample",
                                        "use scope: gene or lower split.test_fraction")
        mean[rows], sd[rows] = _moments(y[rows & train])
        moments.append(pd.DataFrame({"gene_id": expr.genes["gene_id"], "group": group,
                                     "mean": mean[rows][0], "sd": sd[rows][0]}))
    constant = ~(sd > 0).all(axis=0)
    if constant.all():
        raise EmptyAfterFilterError("expression", "every gene is constant in the training "
                                    "samples", "check the expression input")
    if constant.any():
        log.warning("%d genes constant (or without a value) in the training samples of a "
                    "normalisation group dropped", constant.sum())
    z = ((y - mean) / np.where(sd > 0, sd, 1)).astype(np.float32)
    moments = pd.concat(moments, ignore_index=True)
    kept = set(expr.genes["gene_id"][~constant])
    return (Expression(z, samples, expr.genes).subset(cols=~constant),
            moments[moments["gene_id"].isin(kept)].reset_index(drop=True))


def cis_windows(genes: pd.DataFrame, snps: pd.DataFrame, window: int) -> pd.DataFrame:
    """Each gene's cis SNPs as a half-open index range [cis_start, cis_stop) into the SNP
    table: the SNPs on its chromosome within +-``window`` bp of its TSS.

    SNPs must be sorted by position within contiguous chromosome blocks (ingest checks it).
    """
    out = genes[["gene_id"]].copy()
    out["cis_start"] = 0
    out["cis_stop"] = 0
    snp_chrom = snps["chrom"].astype(str).to_numpy()
    for chrom, rows in genes.groupby(genes["chrom"].astype(str)).groups.items():
        idx = np.nonzero(snp_chrom == chrom)[0]
        if not len(idx):
            continue
        pos = snps["pos"].to_numpy()[idx]
        tss = genes.loc[rows, "tss"].to_numpy()
        out.loc[rows, "cis_start"] = idx[0] + np.searchsorted(pos, tss - window, side="left")
        out.loc[rows, "cis_stop"] = idx[0] + np.searchsorted(pos, tss + window, side="right")
    n = out["cis_stop"] - out["cis_start"]
    log.info("cis windows: median %d SNPs, %d genes with none", n.median(), (n == 0).sum())
    return out
