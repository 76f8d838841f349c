"""Initialisation of the trans models (paper section 2.3, steps 3-9 and 2.3.2), on cis
residuals of the training individuals; each model (:mod:`milage.trans_models`) calls the
recipe of its kind.

ML/NN: PCA of the samples x genes residual matrix; factors averaged per individual; for NN
scaled into [0.1, 0.9] and passed through the logit; beta by the multi-tissue group-LASSO
of the cis model (missing samples masked, not mean-filled); alpha by LASSO on the
candidate SNPs of each factor. TM: PCA scores refolded into tissue x individual x factor,
a masked rank-1 factorisation per factor for W and F, LASSO on the Hadamard design for V,
then alpha as for ML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import logit
from sklearn.decomposition import PCA
from sklearn.linear_model import Lasso

from milage.cis import MultiTissueGroupLasso
from milage.errors import MilageError
from milage.settings import InitSettings, per_model
from milage.trans_data import TransData

CANDIDATES = ("none", "cis_of_active_genes", "all")
RANK1_FLOOR = 0.05   # of TM's rank-1 updates' curvatures, relative to the median one


@dataclass
class TrainSamples:
    """The observed training samples: residuals and which individual and tissue each is."""

    residuals: np.ndarray   # samples x genes; NaN where one gene's value is missing
    individual: np.ndarray  # samples: index among the training individuals
    tissue: np.ndarray      # samples: tissue index


def training_samples(data: TransData) -> TrainSamples:
    train = data.rows("train")
    ind, tis = np.nonzero(data.sample_of[train] >= 0)
    return TrainSamples(data.residuals[data.sample_of[train][ind, tis]], ind, tis)


def pca_scores(samples: TrainSamples, n_factors: int, seed: int) -> np.ndarray:
    """Sample scores (samples x factors) of the PCA of the residual matrix (a missing cell
    taken as 0, the cis prediction: PCA needs a complete matrix, and these scores are only
    a starting point)."""
    pca = PCA(n_components=n_factors, svd_solver="randomized", random_state=seed)
    return pca.fit_transform(np.nan_to_num(samples.residuals))


def individual_means(values: np.ndarray, individual: np.ndarray, n: int) -> np.ndarray:
    """Per-individual means of per-sample rows (tissue effects averaged out)."""
    sums = np.zeros((n, values.shape[1]))
    np.add.at(sums, individual, values)
    return sums / np.maximum(np.bincount(individual, minlength=n), 1)[:, None]


def scale_unit(f: np.ndarray, low: float = 0.1, high: float = 0.9) -> np.ndarray:
    """Scale each factor (column) into [low, high] (sigmoid outputs away from saturation)."""
    lo, hi = f.min(axis=0), f.max(axis=0)
    return low + (high - low) * (f - lo) / np.where(hi > lo, hi - lo, 1.0)


def group_penalty(lam: float, samples: TrainSamples, n_individuals: int,
                  n_tissues: int) -> float:
    """The penalty of :class:`MultiTissueGroupLasso` (loss averaged over individuals and
    summed over tissues, penalty on each factor's norm over tissues) that equals ``lam`` on
    a scale-free form of the same objective: the loss averaged over the observed samples,
    the penalty on the root-mean-square over tissues of a factor's loadings. A factor is
    then kept for a gene when its loadings' covariance with the gene's residuals reaches
    ``lam`` whatever the numbers of tissues, individuals and observed samples."""
    return lam * len(samples.tissue) / (n_individuals * np.sqrt(n_tissues))


def init_beta(f: np.ndarray, samples: TrainSamples, n_tissues: int, lam: float):
    """beta (factors x tissues x genes) and b (tissues x genes): per gene, the multi-tissue
    group-LASSO of its residuals on the factors, missing samples masked, at ``lam`` in
    the units of :func:`group_penalty`."""
    n_genes = samples.residuals.shape[1]
    lam = group_penalty(lam, samples, len(f), n_tissues)
    y = np.full((len(f), n_tissues, n_genes), np.nan)
    y[samples.individual, samples.tissue] = samples.residuals
    beta = np.zeros((f.shape[1], n_tissues, n_genes))
    b = np.zeros((n_tissues, n_genes))
    for j in range(n_genes):
        fit = MultiTissueGroupLasso(lam, tol=1e-6).fit(f, y[:, :, j])
        beta[:, :, j], b[:, j] = fit.coef_.T, fit.intercept_
    return beta, b


def rank1_factors(scores: np.ndarray, samples: TrainSamples, n_individuals: int,
                  n_tissues: int, iterations: int):
    """Per factor t, the rank-1 approximation F[i, t] W[k, t] of the incomplete
    tissue x individual matrix of scores, by alternating least squares on observed
    entries only. W columns have root-mean-square 1 and a positive mean."""
    ind, tis = samples.individual, samples.tissue
    f = individual_means(scores, ind, n_individuals)
    w = np.ones((n_tissues, scores.shape[1]))
    for _ in range(iterations):
        w = _ls_update(scores, f[ind], tis, n_tissues)
        f = _ls_update(scores, w[tis], ind, n_individuals)
    scale = np.sqrt((w**2).mean(axis=0)) * np.sign(w.mean(axis=0) + 1e-300)
    scale[scale == 0] = 1.0
    return f * scale, w / scale


def _ls_update(z: np.ndarray, other: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Least-squares coefficient per group and column of z ~ coef[group] * other, with each
    group's curvature floored at ``RANK1_FLOOR`` x the median group's. Without the floor, a
    group whose samples barely load on a column (curvature near 0, e.g. an individual
    sampled only in tissues a factor skips) gets num / den of any size: a factor SD of 60 on
    a 25-individual cohort whose PCA scores have SD 2. Groups above the floor keep their
    exact least-squares coefficient."""
    num, den = np.zeros((n, z.shape[1])), np.zeros((n, z.shape[1]))
    np.add.at(num, group, z * other)
    np.add.at(den, group, other**2)
    den = np.maximum(den, RANK1_FLOOR * np.median(den, axis=0))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def init_v(f: np.ndarray, w: np.ndarray, samples: TrainSamples, lam: float):
    """V (genes x factors) and d (genes): LASSO of each gene's residuals on the Hadamard
    design F[i] * W[k] of its samples."""
    design = f[samples.individual] * w[samples.tissue]
    # scikit-learn's Lasso takes no missing values: a missing cell is taken as 0 (the cis
    # prediction) in this starting point
    fit = Lasso(alpha=lam, max_iter=10_000).fit(design, np.nan_to_num(samples.residuals))
    return np.atleast_2d(fit.coef_), np.atleast_1d(fit.intercept_)


def candidate_snps(active_genes: np.ndarray, cis_windows: np.ndarray, n_snps: int,
                   candidates: str) -> np.ndarray:
    """SNP indices offered to one factor's alpha LASSO: none, all, or the union of the cis
    windows (rows of ``cis_windows``: start, stop) of the factor's active genes."""
    if candidates == "none":
        return np.zeros(0, dtype=int)
    if candidates == "all":
        return np.arange(n_snps)
    if candidates == "cis_of_active_genes":
        on = np.zeros(n_snps, dtype=bool)
        for start, stop in cis_windows[active_genes]:
            on[start:stop] = True
        return np.nonzero(on)[0]
    raise ValueError(f"candidates must be one of {CANDIDATES}, not {candidates!r}")


def init_alpha(data: TransData, target: np.ndarray, active: np.ndarray,
               cis_windows: np.ndarray, s: InitSettings):
    """alpha and a (factors): per factor, LASSO of its target values (one per training
    individual) on the candidate SNPs (standardised genotypes); with no candidates alpha is
    zero and a the target mean. Returns (the SNPs with a non-zero row of alpha, those rows,
    a): every SNP's rows would be 16 GB at GTEx v8 (400 factors), nearly all zero."""
    n_snps = data.genotypes.shape[1]
    a = target.mean(axis=0)
    chosen = {}                  # factor: (its SNPs with a non-zero coefficient, those)
    for t in range(target.shape[1]):
        cand = candidate_snps(np.nonzero(active[:, t])[0], cis_windows, n_snps, s.candidates)
        if len(cand):
            x = data.standardised(data.rows("train"), cand)
            fit = Lasso(alpha=s.alpha_lambda, max_iter=10_000).fit(x, target[:, t])
            kept = fit.coef_ != 0
            chosen[t], a[t] = (cand[kept], fit.coef_[kept]), fit.intercept_
    snps = np.unique(np.concatenate([np.zeros(0, dtype=int), *(c for c, _ in chosen.values())]))
    alpha = np.zeros((len(snps), target.shape[1]), dtype=np.float32)   # the network's type
    for t, (cand, coef) in chosen.items():
        alpha[np.searchsorted(snps, cand), t] = coef
    return snps, alpha, a


def _start(data: TransData, s: InitSettings):
    """What every model's initialisation starts from: the training samples, their PCA
    scores, and the numbers of training individuals and tissues."""
    samples = training_samples(data)
    n_train, n_tissues = len(data.rows("train")), data.sample_of.shape[1]
    most = min(n_train, samples.residuals.shape[1])
    if s.n_factors > most:
        raise MilageError(f"config trans.n_factors: {s.n_factors} factors from {n_train} "
                          f"training individuals and {samples.residuals.shape[1]} genes. Fix: "
                          f"set trans.n_factors to at most {most}")
    scores = pca_scores(samples, s.n_factors, s.seed)
    return samples, scores, n_train, n_tissues


def factor_params(data: TransData, cis_windows: np.ndarray, s: InitSettings, model: str,
                  target: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]):
    """Initial alpha, a, beta, b of a factor model (ML, NN), and the SNPs of alpha's rows
    (:func:`init_alpha`): PCA scores averaged per
    individual, mapped by ``target`` to the factors and alpha's LASSO target (the model's
    activation decides: standardised for linear factors, logit of [0.1, 0.9] for sigmoid
    ones); beta by the group-LASSO (``beta_lambda``, ``model``'s entry)."""
    samples, scores, n_train, n_tissues = _start(data, s)
    f, goal = target(individual_means(scores, samples.individual, n_train))
    beta, b = init_beta(f, samples, n_tissues,
                        per_model(s.beta_lambda, model, "trans.init.beta_lambda"))
    snps, alpha, a = init_alpha(data, goal, (beta != 0).any(axis=1).T, cis_windows, s)
    return {"alpha": alpha, "a": a, "beta": beta, "b": b}, snps


def tensor_params(data: TransData, cis_windows: np.ndarray, s: InitSettings):
    """Initial alpha, a, V, W, d of the tensor model (TM), and the SNPs of alpha's rows:
    masked rank-1 factorisations of
    the PCA scores for F and W, LASSO for V, then alpha as for the factor models."""
    samples, scores, n_train, n_tissues = _start(data, s)
    f, w = rank1_factors(scores, samples, n_train, n_tissues, s.als_iterations)
    v, d = init_v(f, w, samples, s.v_lambda)
    snps, alpha, a = init_alpha(data, f, v != 0, cis_windows, s)
    return {"alpha": alpha, "a": a, "V": v, "W": w, "d": d}, snps


def standardised(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear factors' start: standardised, and alpha's target is the same."""
    f = (f - f.mean(axis=0)) / np.where(f.std(axis=0) > 0, f.std(axis=0), 1.0)
    return f, f


def sigmoid_target(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid factors' start: into [0.1, 0.9] (away from saturation); alpha's target is
    their logit."""
    f = scale_unit(f)
    return f, logit(f)
