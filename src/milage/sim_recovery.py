"""The linear-versus-nonlinear simulation study of the paper's section 3.1.2 (Fig 2).

The trans part alone is simulated with the ML generative model (linear factors) or the NN
generative model (sigmoid factors), unlike the reference simulator with noise and with LD
genotypes (:func:`milage.sim_cohort.simulate_dosages`), and about half of the
(individual, tissue) samples missing, as in GTEx. Each dataset is solved by the ML and by
the NN model with the same initialisation procedure (:mod:`milage.trans_init`), the same
training settings and the same epochs budget; both are scored by the test VE at their
best-validation epoch, beside the oracle VE of the planted signal.

A dataset is a function of (seed, generator, individuals, replicate) alone, so the two
solvers of one dataset see the same numbers without the dataset being stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milage.evaluate import SPLITS, sst_by_split
from milage.prepare import split_individuals
from milage.settings import InitSettings, StudySettings, TrainSettings
from milage.sim_cohort import centred_variance, factor_effects, factors, simulate_dosages
from milage.trans_data import TransData, genotype_moments, split_ve
from milage.trans_train import fit_model

GENERATORS = ("ml", "nn")
SOLVERS = ("ml", "nn")
MIN_CAUSAL_MAF = 0.05


@dataclass
class SimulatedTrans:
    """A simulated dataset, its planted parameters and its planted signal."""

    data: TransData
    signal: np.ndarray              # samples x genes: the trans signal (residuals - noise)
    alpha: np.ndarray               # factors x SNPs (on dosages)
    a: np.ndarray                   # factors
    beta: np.ndarray                # factors x tissues x genes
    noise_share: float              # measured share of the noise in the residual variance


def dataset_rng(s: StudySettings, generator: str, n_individuals: int,
                replicate: int) -> np.random.Generator:
    """The generator of one dataset: the same for both solvers, distinct across datasets."""
    return np.random.default_rng([s.seed, GENERATORS.index(generator), n_individuals,
                                  replicate])


def observed_samples(n_individuals: int, n_tissues: int, fraction: float,
                     rng: np.random.Generator) -> np.ndarray:
    """sample_of (individuals x tissues): each sample present with probability
    ``fraction`` (an individual left with none gets one at random); present samples
    numbered row-wise."""
    present = rng.random((n_individuals, n_tissues)) < fraction
    one = rng.integers(0, n_tissues, n_individuals)
    present[np.arange(n_individuals), one] |= ~present.any(axis=1)
    sample_of = np.full(present.shape, -1)
    sample_of[present] = np.arange(present.sum())
    return sample_of


def trans_signal(f: np.ndarray, beta: np.ndarray, sample_of: np.ndarray) -> np.ndarray:
    """sum_t F[i, t] beta[t, k, j] for every present sample (samples x genes), tissue by
    tissue (no individuals x tissues x genes tensor)."""
    out = np.zeros((int(sample_of.max()) + 1, beta.shape[2]))
    for k in range(sample_of.shape[1]):
        ind = np.nonzero(sample_of[:, k] >= 0)[0]
        out[sample_of[ind, k]] = f[ind] @ beta[:, k, :]
    return out


def simulate_trans(generator: str, n_individuals: int, replicate: int,
                   s: StudySettings) -> SimulatedTrans:
    """Simulate one dataset: LD genotypes, factors of the ``generator`` model ("ml" linear,
    "nn" sigmoid), Gaussian loadings, noise making up ``1 - trans_share`` of the variance."""
    if generator not in GENERATORS:
        raise ValueError(f"generator must be one of {GENERATORS}, not {generator!r}")
    rng = dataset_rng(s, generator, n_individuals, replicate)
    snps = pd.DataFrame({"chrom": np.repeat("1", s.n_snps)})
    dosages = simulate_dosages(snps, n_individuals, 0.0, rng).T        # individuals x SNPs
    af = dosages.mean(axis=0) / 2
    common = np.minimum(af, 1 - af) >= MIN_CAUSAL_MAF
    activation = "sigmoid" if generator == "nn" else "linear"
    gain = s.gain if generator == "nn" else 1.0
    alpha, a = factor_effects(dosages, common, s.n_factors, s.snps_per_factor, gain, rng)
    f = factors(dosages, alpha, a, activation)                          # individuals x T
    beta = rng.standard_normal((s.n_factors, s.n_tissues, s.n_genes))
    sample_of = observed_samples(n_individuals, s.n_tissues, s.observed_fraction, rng)
    individual, tissue = np.nonzero(sample_of >= 0)                     # row-wise order
    signal = trans_signal(f, beta, sample_of)
    genes = np.arange(s.n_genes)
    scale = np.sqrt(s.trans_share / centred_variance(signal, tissue, genes))
    signal, beta = signal * scale, beta * scale
    noise = np.sqrt(1 - s.trans_share) * rng.standard_normal(signal.shape)
    residuals = (signal + noise).astype(np.float32)
    noise_share = centred_variance(noise, tissue, genes) / centred_variance(residuals, tissue,
                                                                            genes)
    ids = [f"{i:09d}" for i in range(n_individuals)]             # sorted as numbered
    split = split_individuals(ids, s.test_fraction, s.valid_fraction,
                              int(rng.integers(2**32)))["split"].to_numpy()
    mean, sd = genotype_moments(dosages, split == "train")
    data = TransData(dosages.astype(np.float32), mean, sd, residuals, sample_of, split,
                     sst_by_split(residuals, tissue, split[individual], s.n_tissues))
    return SimulatedTrans(data, signal, alpha, a, beta, float(noise_share))


def solve(solver: str, sim: SimulatedTrans, init: InitSettings,
          settings: TrainSettings) -> tuple[pd.DataFrame, dict]:
    """Initialise and train ``solver`` on a simulated dataset.

    Returns
    -------
    history : per epoch: epoch, loss, ve_train, ve_valid, ve_test (epoch 0: the init).
    result : seconds, epochs, best_epoch and the VE per split at the best-validation
        epoch (the weights training keeps), with the oracle VE of the planted signal.
    """
    start = time.perf_counter()
    windows = np.zeros((sim.data.residuals.shape[1], 2), dtype=int)     # no cis windows
    _, history = fit_model(solver, sim.data, windows, init, settings, splits=SPLITS)
    best = history.loc[history["ve_valid"].idxmax()]
    oracle = split_ve(sim.data, sim.signal)
    result = {"seconds": round(time.perf_counter() - start, 2),
              "epochs": int(history["epoch"].max()), "best_epoch": int(best["epoch"]),
              **{f"ve_{sp}": float(best[f"ve_{sp}"]) for sp in SPLITS},
              **{f"oracle_ve_{sp}": oracle[sp] for sp in SPLITS},
              "noise_share": sim.noise_share}
    return history, result


def finding(runs: pd.DataFrame) -> pd.DataFrame:
    """The paper's finding checked per generator and sample size: the solver of the
    generator's own kind ("matched") against the other, paired over replicates.

    ``runs`` has one row per (generator, solver, n_individuals, replicate) with ve_train
    and ve_test. Returns per (generator, n_individuals): each solver's mean test VE, the
    mean and standard error of the paired test-VE difference matched - other, in how many
    replicates the matched solver won (test and train), and ``holds`` (mean difference > 0).
    """
    rows = []
    for (gen, n), grp in runs.groupby(["generator", "n_individuals"], sort=True):
        wide = grp.pivot(index="replicate", columns="solver", values=["ve_test", "ve_train"])
        other = next(s for s in SOLVERS if s != gen)
        diff = wide[("ve_test", gen)] - wide[("ve_test", other)]
        diff_train = wide[("ve_train", gen)] - wide[("ve_train", other)]
        rows.append({"generator": gen, "n_individuals": n, "matched_solver": gen,
                     "n_replicates": len(diff),
                     **{f"ve_test_{s}": wide[("ve_test", s)].mean() for s in SOLVERS},
                     "diff_test": diff.mean(),
                     "diff_test_se": diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1
                     else np.nan,
                     "wins_test": int((diff > 0).sum()), "wins_train": int((diff_train > 0).sum()),
                     "oracle_ve_test": grp["oracle_ve_test"].mean(),
                     "holds": bool(diff.mean() > 0)})
    return pd.DataFrame(rows)


def run_one(generator: str, solver: str, n_individuals: int, replicate: int, s: StudySettings,
            init: InitSettings, settings: TrainSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one dataset and solve it: (history, one-row result), each tagged with
    generator, solver, n_individuals and replicate."""
    history, result = solve(solver, simulate_trans(generator, n_individuals, replicate, s),
                            init, settings)
    keys = {"generator": generator, "solver": solver, "n_individuals": n_individuals,
            "replicate": replicate}
    return history.assign(**keys), pd.DataFrame([{**keys, **result}])
