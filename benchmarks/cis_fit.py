"""The cis fit at GTEx density against a loop of scikit-learn MultiTaskLasso fits.

A cohort with 2,000 genes x about 2,800 cis SNPs, 336 training individuals, 28 tissues and
half the samples missing (LD-structured dosages, 1-4 causal cis SNPs per gene). At a fixed
penalty chosen so the median gene keeps 5 to 50 SNPs, milage (masked) fits every gene on
2 threads; scikit-learn (one core) fits a random 50 genes on mean-imputed data (scaled per
gene), and
milage with `impute: mean` solves the same problems for the objective comparison.
`lambda: auto` (5-fold CV along a 20-penalty path) is timed on 200 genes, plain and with the
default relaxation (CV over the penalty and relax's gammas). Prints one JSON
line; extrapolations are to the paper's 19,425 genes.

    python benchmarks/cis_fit.py [--genes 2000] [--sklearn-genes 50] [--auto-genes 200]
"""

import argparse
import json
import os
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import MultiTaskLasso

from milage import cis, cis_solver
from milage.cis import masked_objective
from milage.dataset import Dataset
from milage.settings import CisSettings
from milage.sim_cohort import simulate_dosages

GENOME_GENES = 19_425


def make_dataset(n_genes: int, n_train: int = 336, n_tissues: int = 28, per_window: int = 2800,
                 window: int = 1_000_000, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    density = per_window / (2 * window)                    # SNPs per bp
    length = int(n_genes * 40_000 + 2 * window)            # a gene every 40 kb
    n_snps = int(length * density)
    snps = pd.DataFrame({"chrom": "1", "pos": np.sort(rng.choice(length, n_snps, replace=False)),
                         "snp_id": [f"rs{i}" for i in range(n_snps)]})
    dos = simulate_dosages(snps, n_train, 0.0, rng)
    tss = window + np.arange(n_genes) * 40_000
    pos = snps["pos"].to_numpy()
    genes = pd.DataFrame({"gene_id": [f"G{j}" for j in range(n_genes)], "tss": tss,
                          "cis_start": np.searchsorted(pos, tss - window),
                          "cis_stop": np.searchsorted(pos, tss + window, side="right")})
    observed = rng.random((n_train, n_tissues)) < 0.5
    ind, tis = np.nonzero(observed)
    X = dos.T.astype(np.float64)
    expr = np.empty((len(ind), n_genes), dtype=np.float32)
    for j, (a, b) in enumerate(zip(genes["cis_start"], genes["cis_stop"], strict=True)):
        causal = rng.choice(np.arange(a, b), rng.integers(1, 5), replace=False)
        w = rng.normal(0, 0.5, (len(causal), 1)) * (1 + 0.2 * rng.normal(size=(1, n_tissues)))
        signal = X[:, causal] @ w
        expr[:, j] = signal[ind, tis] + rng.normal(0, signal.std() + 0.5, len(ind))
    individuals = pd.DataFrame({"individual": [f"I{i}" for i in range(n_train)],
                                "split": "train", "geno_col": np.arange(n_train)})
    samples = pd.DataFrame({"ind_index": ind, "tissue_index": tis, "split": "train"})
    return Dataset(dos, snps, individuals, samples, genes, [f"T{k}" for k in range(n_tissues)],
                   expr, pd.DataFrame())


def gene_problem(ds: Dataset, g: int):
    a, b = ds.genes["cis_start"].iat[g], ds.genes["cis_stop"].iat[g]
    Y = cis.expression_tensor(ds, np.array([g]), np.arange(len(ds.individuals)))[0]
    return ds.dosages[a:b].T.astype(np.float64), Y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--sklearn-genes", type=int, default=50)
    parser.add_argument("--auto-genes", type=int, default=200)
    args = parser.parse_args()
    ds = make_dataset(args.genes)

    def fixed(lam: float) -> CisSettings:                    # the plain fit at one penalty
        return CisSettings(lambda_=lam, relax=(1.0,), threads=2)

    rng = np.random.default_rng(1)
    cis.fit_genes(ds, np.arange(2), CisSettings())          # compile, or load numba's cache
    # the penalty: bisection (on a log scale) for a median of about 15 SNPs kept by 100 probe
    # genes (LASSO eQTL models keep 5 to 50)
    probe = np.sort(rng.choice(args.genes, min(100, args.genes), replace=False))
    lo, hi = 0.01, max(cis_solver.lambda_max(np.ascontiguousarray(X.T), np.nan_to_num(Y),
                                             (~np.isnan(Y)) * 1.0, 1.0)
                       for X, Y in (gene_problem(ds, g) for g in probe))
    for _ in range(12):
        lam = np.sqrt(lo * hi)
        kept = cis.fit_genes(ds, probe, fixed(lam)).genes["n_snps"]
        lo, hi = (lam, hi) if kept.median() > 15 else (lo, lam)
    start = time.perf_counter()
    fit = cis.fit_genes(ds, np.arange(args.genes), fixed(lam))
    milage_s = time.perf_counter() - start
    sample = rng.choice(args.genes, args.sklearn_genes, replace=False)
    sk_time, gaps = 0.0, []
    for g in sample:
        X, Y = gene_problem(ds, g)
        filled = np.where(np.isnan(Y), np.nanmean(Y, axis=0), Y)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = MultiTaskLasso(alpha=lam, max_iter=10_000).fit(X, filled)
        sk_time += time.perf_counter() - start
        ours = cis.MultiTissueGroupLasso(lam, impute="mean", tol=CisSettings().tol).fit(X, Y)
        f_ref = masked_objective(X, filled, ref.coef_, ref.intercept_, lam)
        f_ours = masked_objective(X, filled, ours.coef_, ours.intercept_, lam)
        gaps.append((f_ours - f_ref) / f_ref)
    sklearn_s = sk_time / args.sklearn_genes * args.genes
    auto_s = {}
    for name, relax in (("plain", (1.0,)), ("relaxed", CisSettings().relax)):
        start = time.perf_counter()
        cis.fit_genes(ds, np.arange(args.auto_genes), CisSettings(relax=relax, threads=2))
        auto_s[name] = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "cis_fit", "n_genes": args.genes,
        "mean_cis_snps": round(float((ds.genes["cis_stop"] - ds.genes["cis_start"]).mean())),
        "n_tissues": len(ds.tissues), "n_individuals": len(ds.individuals),
        "missing_fraction": round(1 - len(ds.samples) / (len(ds.individuals) * len(ds.tissues)),
                                  3),
        "lambda": round(float(lam), 5), "median_snps_kept": float(fit.genes["n_snps"].median()),
        "milage_s": round(milage_s, 2), "sklearn_s": round(sklearn_s, 1),
        "sklearn_genes_timed": args.sklearn_genes, "speedup": round(sklearn_s / milage_s, 1),
        "max_rel_objective_gap": float(max(gaps)),
        "genome_extrapolated_s": round(milage_s / args.genes * GENOME_GENES),
        "genome_auto_extrapolated_s": round(auto_s["plain"] / args.auto_genes * GENOME_GENES),
        "genome_auto_relaxed_extrapolated_s": round(auto_s["relaxed"] / args.auto_genes
                                                    * GENOME_GENES),
        "auto_genes_timed": args.auto_genes, "threads": 2, "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
