"""The cis model (paper 2.3.1, step 1): per gene, a multi-tissue group-LASSO of expression on
the SNPs of its cis window, one group per SNP across tissues, fitted on the training
individuals with missing samples masked; its residuals feed the trans models.
"""

from __future__ import annotations

import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from milage import cis_solver
from milage.dataset import Dataset
from milage.errors import InputError
from milage.guards import check_table
from milage.settings import CisSettings

log = logging.getLogger(__name__)

CIS_FIX = ("check that tissue's samples (expression.min_samples) and the SNP's genotypes; if "
           "they are sound, report it with the rule's log")


def _mask_and_fill(Y: np.ndarray, impute: str) -> tuple[np.ndarray, np.ndarray]:
    """Observation mask (True = observed, Y's shape) and Y with missing entries filled.

    Y is (..., individuals, tissues) with NaN for missing samples (and, per gene, missing
    cells). ``impute="mean"`` fills them with the tissue's mean and marks everything
    observed (the paper's choice); ``"none"`` fills zeros that the mask then ignores.
    """
    observed = ~np.isnan(Y)
    if impute == "mean":
        mean = np.nanmean(Y, axis=-2, keepdims=True)
        return np.ones(Y.shape, dtype=bool), np.where(observed, Y, np.nan_to_num(mean))
    return observed, np.where(observed, Y, 0.0)


class MultiTissueGroupLasso(RegressorMixin, BaseEstimator):
    """Multi-tissue group-LASSO for one gene, with missing samples masked.

    Minimises (1 / 2n) * sum over observed (individual, tissue) of squared error
    + alpha * (l1_ratio * sum_s ||W[s, :]||_2 + (1 - l1_ratio) / 2 * ||W||_F^2), with n the
    number of individuals and unpenalised per-tissue intercepts. On complete data with
    l1_ratio = 1 it solves scikit-learn's MultiTaskLasso problem.

    Parameters
    ----------
    alpha : penalty strength.
    l1_ratio : share of the group-L2 (sparsity) part of the penalty.
    impute : "none" (mask missing samples) or "mean" (fill them with the tissue mean).
    tol : stop when the duality gap is below tol * ||Y_centred||^2.
    max_epochs : block coordinate descent epochs per working set.

    Attributes
    ----------
    coef_ : (tissues, SNPs), as scikit-learn's MultiTaskLasso ((SNPs,) after a 1-D y).
    intercept_ : (tissues,) (a number after a 1-D y)
    n_features_in_ : SNPs seen in fit.
    dual_gap_ : relative duality gap at the end.
    n_iter_ : epochs run.
    """

    def __init__(self, alpha: float = 1.0, *, l1_ratio: float = 1.0, impute: str = "none",
                 tol: float = 1e-6, max_epochs: int = 10_000) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.impute = impute
        self.tol = tol
        self.max_epochs = max_epochs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y) -> MultiTissueGroupLasso:
        """X: (individuals, SNPs); y: (individuals, tissues), or (individuals,) for one
        tissue; NaN where a sample is missing (infinite values are refused)."""
        if self.impute not in ("none", "mean"):
            raise ValueError(f"impute must be 'none' or 'mean', not {self.impute!r}")
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target "
                             "y is None")
        X = validate_data(self, X, dtype=np.float64)
        y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                        input_name="y")             # NaN marks missing samples
        check_consistent_length(X, y)
        if y.ndim > 2:
            raise ValueError(f"y must be (individuals,) or (individuals, tissues), not {y.shape}")
        if np.isnan(y).all():
            raise ValueError("Input y contains NaN only: every sample is missing")
        Y = y.reshape(len(y), -1)
        M, Yf = _mask_and_fill(Y, self.impute)
        M = M.astype(np.float64)
        Xt = np.ascontiguousarray(X.T)
        W, c, gap, epochs = cis_solver.fit_path(
            Xt, Yf, M, *cis_solver.snp_stats(Xt, M), np.array([float(self.alpha)]),
            float(self.l1_ratio), float(self.tol), int(self.max_epochs))
        self.coef_, self.intercept_ = (W.T, c) if y.ndim == 2 else (W[:, 0], c[0])
        self.dual_gap_, self.n_iter_ = gap, epochs
        if gap > self.tol:
            warnings.warn(f"did not converge: duality gap {gap:.2e} > tol {self.tol:.0e}; "
                          "raise max_epochs", ConvergenceWarning, stacklevel=2)
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted expression, (individuals, tissues) ((individuals,) after a 1-D y)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T + self.intercept_


def masked_objective(X, Y, coef, intercept, alpha: float, l1_ratio: float = 1.0) -> float:
    """The objective of :class:`MultiTissueGroupLasso` (coef: tissues x SNPs; Y NaN = missing)."""
    resid = np.nan_to_num(Y - (X @ coef.T + intercept))
    w = np.asarray(coef)
    return float(0.5 / len(X) * (resid**2).sum() + alpha * (
        l1_ratio * np.linalg.norm(w, axis=0).sum() + 0.5 * (1 - l1_ratio) * (w**2).sum()))


# ------------------------------------------------------------------ many genes at once

def cap_windows(genes: pd.DataFrame, snp_pos: np.ndarray, max_snps: int) -> pd.DataFrame:
    """Windows with more than ``max_snps`` SNPs keep the ``max_snps`` contiguous SNPs
    centred on the TSS; a warning names each capped gene."""
    genes = genes.copy()
    size = (genes["cis_stop"] - genes["cis_start"]).to_numpy()
    capped = size > max_snps
    genes["capped"] = capped
    for row in np.nonzero(capped)[0]:
        start, stop = genes["cis_start"].iat[row], genes["cis_stop"].iat[row]
        centre = start + np.searchsorted(snp_pos[start:stop], genes["tss"].iat[row])
        new_start = int(np.clip(centre - max_snps // 2, start, stop - max_snps))
        genes.iloc[row, genes.columns.get_indexer(["cis_start", "cis_stop"])] = (
            new_start, new_start + max_snps)
        log.warning("gene %s: cis window of %d SNPs capped to the %d nearest its TSS "
                    "(cis.max_window_snps)", genes["gene_id"].iat[row], size[row], max_snps)
    return genes


def expression_tensor(ds: Dataset, gene_rows: np.ndarray, individuals: np.ndarray) -> np.ndarray:
    """Expression of the given genes as (genes, individuals, tissues), NaN where missing.

    ``individuals`` are row indices into ds.individuals.
    """
    out = np.full((len(gene_rows), len(individuals), len(ds.tissues)), np.nan)
    pos = pd.Series(np.arange(len(individuals)), index=individuals)
    rows = ds.samples["ind_index"].isin(individuals).to_numpy()
    i = pos.loc[ds.samples["ind_index"].to_numpy()[rows]].to_numpy()
    k = ds.samples["tissue_index"].to_numpy()[rows]
    values = np.asarray(ds.expression[np.ix_(np.nonzero(rows)[0], gene_rows)], dtype=np.float64)
    out[:, i, k] = values.T
    return out


def _check_finite(values: np.ndarray, what: str, rows, cols, missing_ok: bool = False) -> None:
    """Raise naming the first non-finite value (only infinite ones where NaN marks missing)."""
    bad = np.isinf(values) if missing_ok else ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0][:2]
        raise InputError("prepared dataset", f"non-finite {what} value for {rows[r]} and "
                         f"{cols[c]} ({bad.sum()} non-finite values)",
                         "remove or impute non-finite values in the input files and rerun")


@dataclass
class CisFit:
    """Fitted cis model of some genes: sparse weights, intercepts and a per-gene summary."""

    weights: pd.DataFrame      # gene_id, snp_id, tissue, weight (non-zero only)
    genes: pd.DataFrame        # gene_id, n_window_snps, capped, lambda, relax, n_snps,
    #                            dual_gap, cv_mse
    intercepts: pd.DataFrame   # gene_id, tissue, intercept


class _GeneFit(NamedTuple):
    rows: np.ndarray         # window rows of the SNPs with a non-zero weight
    weights: np.ndarray      # their weights, (rows, tissues)
    intercepts: np.ndarray   # (tissues,)
    gap: float
    penalty: float
    relax: float
    cv_mse: float


def _fit_gene(Xt, Y, M, stats, fold_stats, test, s: CisSettings, l1_ratio: float) -> _GeneFit:
    """One gene, its weights kept sparse (a chunk holds many genes).

    The penalty (with ``lambda_="auto"``) and the relaxation gamma (when ``relax`` offers
    several) are chosen together by cross-validation, as glmnet's ``relax=TRUE``: the
    group-LASSO's shrinkage costs accuracy on strong cis-eQTLs, and a plain refit on its
    SNPs overfits the weak ones; the blend of the two is chosen per gene
    (:func:`choose`). ``test`` marks each fold's held-out individuals.
    """
    gammas = np.asarray(s.relax, dtype=np.float64)
    if s.lambda_ == "auto":
        lam_max = max(cis_solver.lambda_max(Xt, Y, M, l1_ratio), 1e-12)
        path = lam_max * np.geomspace(1.0, s.lambda_min_ratio, s.n_lambdas)
    else:
        path = np.array([float(s.lambda_)])
    gamma, cv_mse = gammas[0], np.nan
    if len(path) > 1 or len(gammas) > 1:
        err = cis_solver.fold_errors(Xt, Y, M, *fold_stats, path, gammas, s.relax_max_snps,
                                     l1_ratio, s.cv_tol, s.max_epochs, test, s.cv_patience)
        best, g, cv_mse = choose(err, M.sum())
        path = path[: best + 1]
        gamma = gammas[g] if np.isfinite(cv_mse) else 1.0  # no relaxed fit under the cap
    W, c, gap, _ = cis_solver.fit_path(Xt, Y, M, *stats, path, l1_ratio, s.tol, s.max_epochs)
    if gamma < 1.0:
        W, c = cis_solver.relax_fit(Xt, Y, M, stats[0], W, gamma)
    rows = np.nonzero((W != 0).any(axis=1))[0]
    return _GeneFit(rows, W[rows], c, gap, path[-1], gamma, cv_mse)


def choose(fold_errors: np.ndarray, n_observed: float) -> tuple[int, int, float]:
    """The selection rule: the penalty and relaxation with the least squared error summed
    over the folds (folds x penalties x gammas); returns their indices and that error per
    observed sample (inf where every choice was skipped)."""
    total = fold_errors.sum(axis=0)
    best, g = np.unravel_index(int(total.argmin()), total.shape)
    return int(best), int(g), total[best, g] / n_observed


def cv_test_masks(n_train: int, settings: CisSettings, splitter=None) -> np.ndarray:
    """Each fold's held-out training individuals (folds x individuals, bool). By default
    ``settings.cv_folds`` folds of a seeded random permutation; ``splitter`` is any
    scikit-learn splitter (``KFold``, ``GroupKFold``, ...) whose ``split`` gives them
    instead. The folds are shared by every gene, so a gene's fit does not depend on which
    other genes are fitted with it."""
    if splitter is None:
        folds = np.random.default_rng(settings.seed).permutation(n_train) % settings.cv_folds
        return folds[None, :] == np.arange(settings.cv_folds)[:, None]
    test = np.zeros((splitter.get_n_splits(), n_train), dtype=bool)
    for f, (_, held_out) in enumerate(splitter.split(np.zeros((n_train, 1)))):
        test[f, held_out] = True
    return test


def fit_genes(ds: Dataset, gene_rows: np.ndarray, settings: CisSettings,
              tissues: np.ndarray | None = None, l1_ratio: float = 1.0,
              splitter=None) -> CisFit:
    """Fit the cis model of ``gene_rows`` on the training individuals.

    ``settings.threads`` genes are solved at a time. ``tissues`` restricts the fit to those
    tissue indices; ``l1_ratio`` below 1 adds a ridge part to the group-LASSO (an elastic
    net); ``splitter`` gives the cross-validation folds (:func:`cv_test_masks`).
    """
    tissue_idx = np.arange(len(ds.tissues)) if tissues is None else np.asarray(tissues)
    genes, fit_one = _gene_fitter(ds, gene_rows, settings, tissue_idx, l1_ratio, splitter)
    fits = _map_genes(fit_one, len(genes), settings)
    _warn_unconverged(fits, settings.tol)
    return _collect(ds, genes, fits, tissue_idx)


def fit_genes_per_tissue(ds: Dataset, gene_rows: np.ndarray,
                         settings: CisSettings) -> list[CisFit]:
    """The per-tissue elastic-net baseline (PredictDB's recipe): single-tissue fits of every
    tissue, mixing ``settings.baseline_l1_ratio``, not relaxed.

    The same numbers as ``fit_genes(ds, gene_rows, replace(settings, relax=(1.0,)),
    tissues=[k], l1_ratio=settings.baseline_l1_ratio)`` for each tissue k, with the genotype
    window, its statistics and the expression prepared once.
    """
    tissue_idx = np.arange(len(ds.tissues))
    genes, fit_one = _gene_fitter(ds, gene_rows, replace(settings, relax=(1.0,)), tissue_idx,
                                  settings.baseline_l1_ratio, None)
    fits = _map_genes(lambda g: [fit_one(g, [k]) for k in tissue_idx], len(genes), settings)
    out = []
    for k in tissue_idx:
        _warn_unconverged([f[k] for f in fits], settings.tol)
        out.append(_collect(ds, genes, [f[k] for f in fits], tissue_idx[[k]]))
    return out


def _gene_fitter(ds: Dataset, gene_rows: np.ndarray, s: CisSettings, tissue_idx: np.ndarray,
                 l1_ratio: float, splitter):
    """Prepare the genes' windows, expression and SNP statistics once; return the genes
    (windows capped) and ``fit_one(g, ks)``, which fits gene g on the prepared tissue
    columns ``ks`` (all by default)."""
    genes = cap_windows(ds.genes.iloc[gene_rows].reset_index(drop=True),
                        ds.snps["pos"].to_numpy(), s.max_window_snps)
    train = np.nonzero(ds.individuals["split"].to_numpy() == "train")[0]
    Y = expression_tensor(ds, np.asarray(gene_rows), train)
    if not np.array_equal(tissue_idx, np.arange(len(ds.tissues))):
        Y = np.ascontiguousarray(Y[:, :, tissue_idx])  # C order: kernels loop over tissues
    _check_finite(Y, "expression", genes["gene_id"],
                  ds.individuals["individual"].to_numpy()[train], missing_ok=True)
    M, Yf = _mask_and_fill(Y, s.impute)           # genes x individuals x tissues
    lo, hi = int(genes["cis_start"].min()), int(genes["cis_stop"].max())
    cols = ds.individuals["geno_col"].to_numpy()[train]
    Xt = ds.dosages.take(slice(lo, hi), cols)
    _check_finite(Xt, "genotype", ds.snps["snp_id"].to_numpy()[lo:hi],
                  ds.individuals["individual"].to_numpy()[train])
    cv = s.lambda_ == "auto" or len(s.relax) > 1
    if cv and splitter is None and s.cv_folds > len(train) // 2:
        raise InputError("config cis.cv_folds", f"{s.cv_folds} folds of the {len(train)} "
                         "training individuals leave fewer than 2 in a fold",
                         f"set cis.cv_folds to at most {len(train) // 2}")
    test = cv_test_masks(len(train), s, splitter)
    # SNP means and curvatures depend on genotypes and mask only: computed once per chunk
    # for the samples' mask, and per gene only for a gene with missing cells of its own
    sampled = M.any(axis=0)
    own_mask = (M != sampled).any(axis=(1, 2))
    stats = _window_stats(Xt, sampled.astype(np.float64), test, cv, s.threads)

    def fit_one(g: int, ks=slice(None)) -> _GeneFit:
        a, b = genes["cis_start"].iat[g] - lo, genes["cis_stop"].iat[g] - lo
        mask = M[g].astype(np.float64)
        (xbar, h), (fold_xbar, fold_h) = _window_stats(Xt[a:b], mask, test, cv, 1) \
            if own_mask[g] else ((v[a:b] for v in stats[0]), (v[:, a:b] for v in stats[1]))
        return _fit_gene(Xt[a:b], Yf[g][:, ks], np.ascontiguousarray(mask[:, ks]),
                         (xbar[:, ks], h[:, ks]), (fold_xbar[:, :, ks], fold_h[:, :, ks]),
                         test, s, l1_ratio)

    return genes, fit_one


def _window_stats(Xt: np.ndarray, M: np.ndarray, test: np.ndarray, cv: bool, threads: int):
    """(xbar, h) of the SNPs of ``Xt`` under the mask M (individuals x tissues) and, when
    ``cv``, the same for each fold's training individuals (stacked; empty otherwise)."""
    whole = _snp_stats(Xt, M, threads)
    if not cv:
        return whole, np.zeros((2, 0, 0, 0))
    return whole, tuple(map(np.stack, zip(*[_snp_stats(
        np.ascontiguousarray(Xt[:, ~held_out]), np.ascontiguousarray(M[~held_out]), threads)
        for held_out in test], strict=True)))


def _snp_stats(Xt: np.ndarray, M: np.ndarray, threads: int):
    """:func:`cis_solver.snp_stats` on blocks of SNPs in parallel (the same numbers)."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        parts = list(pool.map(lambda X: cis_solver.snp_stats(X, M),
                              np.array_split(Xt, max(1, threads))))
    return np.concatenate([x for x, _ in parts]), np.concatenate([v for _, v in parts])


def _map_genes(fn, n_genes: int, s: CisSettings) -> list:
    """``fn`` over gene positions, ``s.threads`` at a time (the kernels release the GIL)."""
    with threadpool_limits(1), ThreadPoolExecutor(max(1, s.threads)) as pool:
        return list(tqdm(pool.map(fn, range(n_genes)), total=n_genes, unit="gene",
                         desc="cis fit", mininterval=10))


def _warn_unconverged(fits: list[_GeneFit], tol: float) -> None:
    gaps = np.array([f.gap for f in fits])
    if (gaps > tol).any():
        warnings.warn(f"{(gaps > tol).sum()} genes did not converge (duality gap > "
                      f"{tol:g}); raise cis.max_epochs", ConvergenceWarning, stacklevel=3)


def _collect(ds: Dataset, genes: pd.DataFrame, fits: list[_GeneFit], tissue_idx) -> CisFit:
    tissues = pd.array(np.asarray(ds.tissues)[tissue_idx], dtype="str")
    gene_ids = pd.array(genes["gene_id"], dtype="str")
    nz = [np.nonzero(f.weights) for f in fits]          # (kept row, tissue) of each weight
    gene_of = np.repeat(np.arange(len(fits)), [len(r) for r, _ in nz])
    snp_row = genes["cis_start"].to_numpy()[gene_of] + np.concatenate(
        [f.rows[r] for f, (r, _) in zip(fits, nz, strict=True)])
    # string columns by Arrow takes: no Python string object per weight
    weights = pd.DataFrame({"gene_id": gene_ids.take(gene_of),
                            "snp_id": pd.array(ds.snps["snp_id"], dtype="str").take(snp_row),
                            "tissue": tissues.take(np.concatenate([k for _, k in nz])),
                            "weight": np.concatenate([f.weights[r, k] for f, (r, k) in
                                                      zip(fits, nz, strict=True)])})
    summary = pd.DataFrame({
        "gene_id": genes["gene_id"], "n_window_snps": genes["cis_stop"] - genes["cis_start"],
        "capped": genes["capped"], "lambda": [f.penalty for f in fits],
        "relax": [f.relax for f in fits], "n_snps": [len(f.rows) for f in fits],
        "dual_gap": [f.gap for f in fits], "cv_mse": [f.cv_mse for f in fits]})
    intercepts = pd.DataFrame({
        "gene_id": gene_ids.take(np.repeat(np.arange(len(genes)), len(tissues))),
        "tissue": tissues.take(np.tile(np.arange(len(tissues)), len(genes))),
        "intercept": np.concatenate([f.intercepts for f in fits])})
    names = {"gene": "gene_id", "tissue": "tissue", "SNP": "snp_id"}
    for table, column in ((weights, "weight"), (intercepts, "intercept")):
        keys = {k: c for k, c in names.items() if c in table}
        check_table(table, column, f"cis {column}s", keys, CIS_FIX)
    return CisFit(weights, summary, intercepts)


def tissue_weights(weights: pd.DataFrame, tissue: str, snp_idx: pd.Index,
                   gene_idx: pd.Index) -> tuple[np.ndarray, sparse.csr_matrix]:
    """One tissue's cis weights: the SNP rows they use and a (used SNPs x genes) matrix."""
    w = weights[weights["tissue"] == tissue]
    snps = snp_idx.get_indexer(w["snp_id"])
    used = np.unique(snps)
    return used, sparse.csr_matrix((w["weight"].to_numpy(float), (np.searchsorted(used, snps),
                                                                  gene_idx.get_indexer(
                                                                      w["gene_id"]))),
                                   shape=(len(used), len(gene_idx)))


def tissue_intercepts(intercepts: pd.DataFrame, tissue: str, gene_idx: pd.Index) -> np.ndarray:
    """One tissue's intercepts per gene (NaN where none)."""
    icp = intercepts[intercepts["tissue"] == tissue]
    c = np.full(len(gene_idx), np.nan)
    c[gene_idx.get_indexer(icp["gene_id"])] = icp["intercept"].to_numpy()
    return c


def predict(ds: Dataset, weights: pd.DataFrame, intercepts: pd.DataFrame) -> np.ndarray:
    """Cis predictions for every sample of the dataset: (samples, genes).

    Genes or tissues without intercepts are predicted as NaN.
    """
    gene_idx = pd.Index(ds.genes["gene_id"])
    snp_idx = pd.Index(ds.snps["snp_id"])
    out = np.full(ds.expression.shape, np.nan)
    for k, tissue in enumerate(ds.tissues):
        rows = np.nonzero(ds.samples["tissue_index"].to_numpy() == k)[0]
        if not len(rows):
            continue
        used, Wk = tissue_weights(weights, tissue, snp_idx, gene_idx)
        cols = ds.individuals["geno_col"].to_numpy()[ds.samples["ind_index"].to_numpy()[rows]]
        X = ds.dosages.take(used, cols).astype(np.float64).T   # samples x used SNPs
        out[rows] = np.asarray((Wk.T @ X.T).T) + tissue_intercepts(intercepts, tissue, gene_idx)
    return out
