"""Trans-eQTL calls whose q-value holds: selection on training individuals, inference on
held-out ones.

Per factor of a trained model:

1. candidates: the SNPs with non-zero alpha (the model's selection, fitted on training
   individuals);
2. factor scores from expression alone: each individual's cis residuals, less the model's
   intercepts, regressed by least squares on the model's loadings over its sampled tissues
   (:func:`factor_scores`); no genotype enters a score;
3. leads, on training individuals: forward selection of candidates against the training
   score, each lead taking the candidates within ``CLUMP_WINDOW`` bp with r^2 >
   ``CLUMP_R2`` as its proxies, while the next lead passes a Bonferroni screen
   (:func:`select_leads`);
4. inference on held-out individuals (``HELD_OUT`` splits, not used to fit alpha): the
   factor's leads regressed jointly on its held-out score, a one-sided t-test per lead in
   the direction of its joint effect on the training score (:func:`joint_test`: a
   replication), and Benjamini-Hochberg over all the model's tested pairs.

A lead in LD with no causal SNP has a genotype independent of the held-out expression,
hence of the score, whatever the selection did: its p-value is uniform. Testing the leads
jointly keeps a weak proxy of another lead from being called on its lead's signal.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control
from scipy.stats import t as student_t

from milage.dataset import Dataset
from milage.errors import MilageError
from milage.trans_models import TransModel

log = logging.getLogger(__name__)

HELD_OUT = ("valid", "test")   # splits the calls are tested on (alpha never saw them)
MIN_HELD_OUT = 20              # held-out individuals with expression needed to test
CLUMP_R2 = 0.1                 # a candidate with r^2 above this with a lead is its proxy
CLUMP_WINDOW = 1_000_000       # bp either side of a lead within which proxies are sought
HELD_OUT_PER_LEAD = 5          # a factor's leads tested jointly: at most held-out / this
SCREEN = 0.01                  # training screen of leads: Bonferroni level over candidates
SPLIT_FIX = "raise split.test_fraction or split.valid_fraction (config/config.yaml)"


def factor_scores(loadings: np.ndarray, intercepts: np.ndarray, residuals: np.ndarray,
                  sample_of: np.ndarray) -> np.ndarray:
    """Each individual's factor scores from its expression alone (individuals x factors):
    the least-squares (minimum-norm) solution of residuals[i, k, :] - intercepts[k] =
    sum_t F[i, t] loadings[t, k, :] over the tissues k it was sampled in; zero for an
    individual without samples.

    loadings: factors x tissues x genes; intercepts: tissues x genes; residuals: samples x
    genes; sample_of: individuals x tissues, the row of residuals or -1.
    """
    loadings = np.asarray(loadings, dtype=np.float64)
    n_ind, n_tis = sample_of.shape
    gram = np.einsum("tkj,ukj->ktu", loadings, loadings)               # tissues x T x T
    rhs = np.zeros((n_ind, len(loadings)))
    for k in range(n_tis):
        ind = np.nonzero(sample_of[:, k] >= 0)[0]
        y = np.asarray(residuals[sample_of[ind, k]], dtype=np.float64) - intercepts[k]
        rhs[ind] += y @ loadings[:, k].T
    gram_i = np.einsum("ik,ktu->itu", (sample_of >= 0).astype(float), gram)
    return np.einsum("itu,iu->it", np.linalg.pinv(gram_i, hermitian=True), rhs)


def joint_test(x: np.ndarray, f: np.ndarray,
               direction: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Ordinary least squares of the score ``f`` on an intercept and every column of ``x``
    (individuals x SNPs, dosages) jointly: each SNP's effect (per allele, given the
    others), its t statistic and p (n - 1 - SNPs degrees of freedom): two-sided, or
    one-sided towards the sign of ``direction`` (per SNP; 0 gives p = 1). A column without
    variance, or one the others determine, gets effect 0, p = 1."""
    n, m = x.shape
    xc = x - x.mean(axis=0)
    keep = np.zeros(m, dtype=bool)
    for j in np.nonzero(xc.std(axis=0) > 0)[0]:              # greedy full-rank subset
        keep[j] = True
        if np.linalg.matrix_rank(xc[:, keep]) < keep.sum():
            keep[j] = False
    effect, statistic, p = np.zeros(m), np.zeros(m), np.ones(m)
    df = n - 1 - keep.sum()
    fc = f - f.mean()
    if not (keep.any() and df > 0 and fc @ fc > 0):     # nothing to test, or a constant score
        return {"effect": effect, "statistic": statistic, "p": p}
    design = xc[:, keep]
    inverse = np.linalg.inv(design.T @ design)
    coef = inverse @ design.T @ fc
    sigma2 = max(np.sum((fc - design @ coef) ** 2) / df, np.finfo(float).tiny)
    effect[keep] = coef
    statistic[keep] = t = coef / np.sqrt(sigma2 * np.diag(inverse))
    p[keep] = (2 * student_t.sf(np.abs(t), df) if direction is None
               else np.where(direction[keep] == 0, 1.0, student_t.sf(t * direction[keep], df)))
    return {"effect": effect, "statistic": statistic, "p": p}


def standardise(x: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit variance (a constant column stays zero)."""
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def proxies_of(x: np.ndarray, lead: int, free: np.ndarray, chrom: np.ndarray,
               pos: np.ndarray, r2: float = CLUMP_R2,
               window: int = CLUMP_WINDOW) -> np.ndarray:
    """Columns of ``x`` (individuals x candidates, standardised) still ``free``, on the
    lead's chromosome within ``window`` bp, with r^2 > ``r2`` with it."""
    near = np.nonzero(free & (chrom == chrom[lead]) & (np.abs(pos - pos[lead]) <= window))[0]
    corr = x[:, near].T @ x[:, lead] / len(x)
    return near[corr**2 > r2]


def select_leads(x: np.ndarray, score: np.ndarray, chrom: np.ndarray, pos: np.ndarray,
                 max_leads: int) -> list[tuple[int, np.ndarray]]:
    """Forward selection with LD clumping on training individuals: (lead, proxies) pairs
    of columns of ``x`` (individuals x candidates, standardised). Each step takes the free
    candidate most correlated with the score's residual given the leads so far, while its
    t-test p is below ``SCREEN`` / candidates (Bonferroni) and fewer than ``max_leads``
    are taken; its proxies (:func:`proxies_of`) are no longer free."""
    n, m = x.shape
    free = np.ones(m, dtype=bool)
    groups: list[tuple[int, np.ndarray]] = []
    resid = standardise(score)
    while len(groups) < max_leads and free.any() and resid.std() > 0:
        idx = np.nonzero(free)[0]
        r = np.abs(x[:, idx].T @ resid) / (n * resid.std())
        best = int(np.argmax(r))
        if r[best] < screen_r(n - len(groups), m):
            break
        lead = int(idx[best])
        free[lead] = False
        proxies = proxies_of(x, lead, free, chrom, pos)
        free[proxies] = False
        groups.append((lead, proxies))
        design = x[:, [g[0] for g in groups]]
        resid = resid - design @ np.linalg.lstsq(design, resid, rcond=None)[0]
    return groups


def screen_r(n: int, n_candidates: int) -> float:
    """The |r| a lead needs on ``n`` training individuals: the correlation whose t-test p
    is ``SCREEN`` / ``n_candidates`` (Bonferroni over the factor's candidates)."""
    t = student_t.isf(SCREEN / n_candidates / 2, n - 2)
    return float(t / np.sqrt(n - 2 + t**2))


def held_out_rows(ds: Dataset, sampled: np.ndarray) -> np.ndarray:
    """Indices of the held-out individuals with expression; none, with a warning, when
    fewer than ``MIN_HELD_OUT``."""
    rows = np.nonzero(ds.individuals["split"].isin(HELD_OUT).to_numpy() & sampled)[0]
    if len(rows) < MIN_HELD_OUT:
        log.warning("trans-eQTL calls: %d held-out (%s) individuals have expression, fewer "
                    "than the %d a test needs: nothing is tested (an empty table). Fix: %s",
                    len(rows), "+".join(HELD_OUT), MIN_HELD_OUT, SPLIT_FIX)
        return rows[:0]
    return rows


def check_finite(values: np.ndarray, what: str, fix: str) -> None:
    """Stop on a non-finite value of ``values``, naming ``what``."""
    bad = ~np.isfinite(values)
    if bad.any():
        raise MilageError(f"trans-eQTL calls: {int(bad.sum())} non-finite value(s) in {what}. "
                          f"Fix: {fix}")


def tested_pairs(model: TransModel, ds: Dataset, residuals: np.ndarray) -> pd.DataFrame:
    """Every (factor, lead) the model's candidates clump to, tested on held-out
    individuals: factor (from 1), snp (row of ds.snps), proxies (rows), effect, statistic,
    p."""
    loadings, intercepts = model.loadings(), model.intercepts()
    check_finite(loadings, f"the {model.name} model's loadings", "retrain the model")
    sample_of = ds.sample_of()
    used = np.unique(sample_of[sample_of >= 0])
    check_finite(residuals[used], "the cis residuals", "rerun the cis rules")
    scores = factor_scores(loadings, intercepts, residuals, sample_of)
    sampled = (sample_of >= 0).any(axis=1)
    test = held_out_rows(ds, sampled)
    train = np.nonzero((ds.individuals["split"] == "train").to_numpy() & sampled)[0]
    active = np.abs(loadings).sum(axis=(1, 2)) > 0
    geno_col = ds.individuals["geno_col"].to_numpy()
    chrom, pos = ds.snps["chrom"].to_numpy(), ds.snps["pos"].to_numpy()
    rows = []
    for t in range(model.n_factors if len(test) else 0):
        cand = model.snps[np.nonzero(model.alpha[:, t])[0]]
        if len(cand) and not active[t]:
            log.info("%s factor %d: all loadings zero, its %d SNPs are not tested",
                     model.name, t + 1, len(cand))
            continue
        if not len(cand):
            continue
        log.info("%s factor %d: %d candidate SNPs (%.0f MB of genotypes)", model.name, t + 1,
                 len(cand), len(cand) * len(geno_col) * 8 / 1e6)
        x = ds.dosages.take(cand, geno_col).T.astype(np.float64)      # individuals x cand
        x_train = standardise(x[train])
        groups = select_leads(x_train, scores[train, t], chrom[cand], pos[cand],
                              len(test) // HELD_OUT_PER_LEAD)
        if not groups:
            continue
        leads = np.array([g[0] for g in groups])
        direction = np.sign(joint_test(x[np.ix_(train, leads)], scores[train, t])["effect"])
        stats = joint_test(x[np.ix_(test, leads)], scores[test, t], direction)
        rows.append(pd.DataFrame({
            "factor": t + 1, "snp": cand[leads],
            "proxies": [cand[p] for _, p in groups],
            **{k: stats[k] for k in ("effect", "statistic", "p")}}))
    if not rows:
        log.info("%s: no (factor, SNP) tested", model.name)
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in
                             (("factor", int), ("snp", int), ("proxies", object),
                              ("effect", float), ("statistic", float), ("p", float))})
    return pd.concat(rows, ignore_index=True)


def factor_tops(model: TransModel, genes: pd.DataFrame, tissues: list[str],
                top: int) -> tuple[list[str], list[str]]:
    """Per factor, its ``top`` genes and tissues by the model's trans-eQTL weights
    (:meth:`TransModel.eqtl_weights`), comma-separated."""
    gene_w, tissue_w = model.eqtl_weights()                    # factors x genes, x tissues

    def tops(w, labels):
        best = np.argsort(-w, axis=1, kind="stable")[:, :top]
        return [",".join(labels[b[w[t, b] > 0]]) for t, b in enumerate(best)]

    return tops(gene_w, np.asarray(genes["gene_id"])), tops(tissue_w, np.asarray(tissues))


def trans_eqtls(model: TransModel, ds: Dataset, residuals: np.ndarray, fdr: float,
                top: int = 5) -> pd.DataFrame:
    """The trans-eQTL table: every tested (factor, lead SNP) with factor, snp_id, chrom,
    pos, effect (held-out factor score per allele), statistic (t), p, q
    (Benjamini-Hochberg over the model's tested pairs), called (q <= fdr), proxies (the
    lead's clumped candidates), top_genes, top_tissues; by q, then factor."""
    pairs = tested_pairs(model, ds, residuals)
    table = ds.snps.iloc[pairs["snp"]][["snp_id", "chrom", "pos"]].reset_index(drop=True)
    table.insert(0, "factor", pairs["factor"].to_numpy())
    for col in ("effect", "statistic", "p"):
        table[col] = pairs[col].to_numpy()
    table["q"] = false_discovery_control(table["p"], method="bh") if len(table) else []
    table["called"] = table["q"] <= fdr
    ids = ds.snps["snp_id"].to_numpy()
    table["proxies"] = [",".join(ids[p]) for p in pairs["proxies"]]
    genes, tissues = factor_tops(model, ds.genes, ds.tissues, top)
    table["top_genes"] = [genes[t - 1] for t in table["factor"]]
    table["top_tissues"] = [tissues[t - 1] for t in table["factor"]]
    order = np.lexsort((table["factor"].to_numpy(), table["q"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)
