"""Loadings given a model's factors: the relaxed refit of beta after training (ML, NN) and
the dense least-squares loadings of every gene on every factor that Table 2 ranks genes by.

Given the factors, the loadings are a convex problem per gene, solved here exactly (a
group-LASSO to select each gene's factors, then least squares on them) rather than by
gradient steps.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from milage.guards import check_array
from milage.spill import Spill
from milage.trans_data import TransData, validation_score
from milage.trans_init import TrainSamples, init_beta, training_samples
from milage.trans_memory import ROW_BLOCK
from milage.trans_models import PARAMS_FIX
from milage.trans_network import Network

log = logging.getLogger(__name__)


def relaxed_beta(f: np.ndarray, samples: TrainSamples, n_tissues: int, lam: float):
    """Relaxed group-LASSO of beta: the group-LASSO of :func:`init_beta` (penalty on the
    standardised factors) selects each gene's factors, then :func:`least_squares_beta` on
    them removes the LASSO's shrinkage. Returns beta (factors x tissues x genes) and b
    (tissues x genes)."""
    live = live_factors(f)
    sd = f.std(axis=0)
    support = np.zeros((f.shape[1], n_tissues, samples.residuals.shape[1]), dtype=bool)
    if live.any():
        support[live] = init_beta(f[:, live] / sd[live], samples, n_tissues, lam)[0] != 0
    return least_squares_beta(f, samples, n_tissues, support.any(axis=1))


def live_factors(f: np.ndarray) -> np.ndarray:
    """Factors that vary. One that barely does (alpha all zero, or a saturated sigmoid) is
    left to the intercept: unshrunk least squares would give it huge, noisy loadings."""
    sd = f.std(axis=0)
    return sd > max(0.01 * sd.max(), 1e-6 * np.abs(f).max())


def least_squares_beta(f: np.ndarray, samples: TrainSamples, n_tissues: int,
                       support: np.ndarray):
    """Unpenalised least-squares loadings given the factors f (individuals x factors): per
    (gene, tissue), the residuals regressed on an intercept and the gene's factors
    (``support``: factors x genes, True where a factor is used), over the gene's observed
    samples. Returns beta (factors x tissues x genes, zero off the support) and b (tissues x
    genes)."""
    design = np.column_stack([np.ones(len(f)), f])                     # individuals x (1 + T)
    d = design[samples.individual]                                      # samples x (1 + T)
    missing = np.isnan(samples.residuals)
    y = np.where(missing, 0.0, samples.residuals)
    gram = np.zeros((n_tissues, d.shape[1], d.shape[1]))                # per tissue
    rhs = np.zeros((n_tissues, d.shape[1], y.shape[1]))
    for k in range(n_tissues):
        rows = samples.tissue == k
        gram[k], rhs[k] = d[rows].T @ d[rows], d[rows].T @ y[rows]
    beta = np.zeros((f.shape[1], n_tissues, support.shape[1]))
    b = np.zeros((n_tissues, support.shape[1]))
    # one batched solve per distinct support (all genes at once for dense loadings)
    patterns, group = np.unique(support.T, axis=0, return_inverse=True)
    for g, pattern in enumerate(patterns):
        genes = np.nonzero(group.ravel() == g)[0]
        keep = np.concatenate([[0], 1 + np.nonzero(pattern)[0]])
        sub = gram[:, keep[:, None], keep] + 1e-8 * np.eye(len(keep))
        coef = np.linalg.solve(sub, rhs[:, keep][:, :, genes])         # tissues x keep x genes
        b[:, genes] = coef[:, 0]
        beta[np.ix_(keep[1:] - 1, np.arange(n_tissues), genes)] = coef[:, 1:].transpose(1, 0, 2)
    for j in np.nonzero(missing.any(axis=0))[0]:     # genes with missing cells: their own Gram
        keep = np.concatenate([[0], 1 + np.nonzero(support[:, j])[0]])
        for k in range(n_tissues):
            rows = (samples.tissue == k) & ~missing[:, j]
            dk = d[rows][:, keep]
            coef = np.linalg.solve(dk.T @ dk + 1e-8 * np.eye(len(keep)), dk.T @ y[rows, j])
            b[k, j], beta[keep[1:] - 1, k, j] = coef[0], coef[1:]
    return beta, b


def refit_beta(model: Network, data: TransData, lambdas) -> None:
    """Refit beta and b of a trained ML/NN model given its factors: the relaxed group-LASSO
    (:func:`relaxed_beta`) at each penalty; keep whichever of these and the
    trained loadings has the best validation VE. Gradient training with a small L1 leaves
    beta dense and shrunk; given the factors, beta is a convex problem solved exactly here."""
    f = training_factors(model, data)
    samples = training_samples(data)
    best = (validation_score(model, data), "trained", Spill(model.weights))
    for lam in lambdas:
        beta, b = relaxed_beta(f, samples, data.sample_of.shape[1], lam)
        model.beta.assign(beta.astype("float32"))
        model.b.assign(b.astype("float32"))
        ve = validation_score(model, data)
        log.info("refit of beta at lambda %g: valid VE %.4f", lam, ve)
        if ve > best[0]:
            best = (ve, f"lambda {lam:g}", Spill(model.weights))
    best[2].assign_to(model.weights)
    log.info("beta kept: %s (valid VE %.4f)", best[1], best[0])


def training_factors(model: Network, data: TransData) -> np.ndarray:
    """The model's factors of the training individuals (individuals x factors), float64."""
    rows = data.rows("train")
    return np.concatenate([keras.ops.convert_to_numpy(model.factors(data.standardised(block)))
                           for block in np.array_split(rows, -(-len(rows) // ROW_BLOCK))]
                          ).astype(np.float64)


def dense_loadings(model: Network, data: TransData) -> np.ndarray:
    """Every gene's least-squares loading on every live factor given the trained factors,
    factors x tissues x genes (float32; TM too, where it estimates V[j, t] * W[k, t]).
    Table 2 ranks all genes by these: the model's own loadings are sparse, and a GSEA
    running sum weighted by them (weight 1) is degenerate when most genes score zero."""
    f = training_factors(model, data)
    support = np.repeat(live_factors(f)[:, None], data.residuals.shape[1], axis=1)
    beta, _ = least_squares_beta(f, training_samples(data), data.sample_of.shape[1], support)
    check_array(beta, f"{model.name} least-squares loadings", ("factor", "tissue", "gene"),
                data.labels, PARAMS_FIX)
    return beta.astype(np.float32)
