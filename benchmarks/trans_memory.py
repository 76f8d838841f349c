"""Peak memory of training a trans model, measured, against the estimate that stops a run
too big for the machine (milage.trans_memory). Each case trains on synthetic data in its
own process (peak RSS of that process) for the epochs of both learning-rate searches plus
a few, at shapes where alpha (many SNPs) or beta (many genes x tissues) dominates.

    python benchmarks/trans_memory.py
"""

import json
import multiprocessing
import resource

import numpy as np

CASES = [
    dict(kind="nn", individuals=200, snps=150_000, tissues=4, genes=200, factors=60,
         rate="auto"),
    dict(kind="nn", individuals=200, snps=150_000, tissues=4, genes=200, factors=60,
         rate=0.002),
    dict(kind="ml", individuals=200, snps=2_000, tissues=20, genes=5_000, factors=40,
         rate="auto"),
    dict(kind="tm", individuals=200, snps=150_000, tissues=4, genes=200, factors=60,
         rate="auto"),
]


def synthetic(c):
    """TransData of random one-byte genotypes and Gaussian residuals, every sample observed."""
    from milage.evaluate import sst_by_split
    from milage.trans_data import TransData, genotype_moments

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 201, (c["individuals"], c["snps"]), dtype=np.uint8)
    split = np.array(["train", "valid", "test"])[rng.choice(3, c["individuals"],
                                                            p=[0.7, 0.15, 0.15])]
    mean, sd = genotype_moments(codes, split == "train", 100)
    sample_of = np.arange(c["individuals"] * c["tissues"]).reshape(c["individuals"], -1)
    individual, tissue = np.nonzero(sample_of >= 0)
    # a trans signal (three SNPs per factor) to learn, half the variance
    signal = (codes[:, :3 * c["factors"]].reshape(c["individuals"], c["factors"], 3)
              .sum(axis=2) / 100.0)
    signal = (signal - signal.mean(axis=0)) / signal.std(axis=0)
    loadings = rng.standard_normal((c["factors"], c["tissues"], c["genes"])) / np.sqrt(
        c["factors"])
    trans = np.einsum("it,tkj->ikj", signal, loadings)[individual, tissue]
    residuals = (trans + rng.standard_normal(trans.shape)).astype(np.float32)
    sst = sst_by_split(residuals, tissue, split[individual], c["tissues"])
    return TransData(codes, mean, sd, residuals, sample_of, split, sst, units=100)


def measure(c, out):
    from milage.settings import InitSettings, TrainSettings
    from milage.trans_memory import parameter_bytes, training_bytes
    from milage.trans_train import RATE_ROUNDS, fit_model

    data = synthetic(c)
    init = InitSettings(n_factors=c["factors"])
    # a fixed alpha penalty that admits few SNPs (the automatic path's first steps can
    # diverge on random genotypes with so many more SNPs than individuals)
    train = TrainSettings(learning_rate=c["rate"], max_epochs=2 * sum(RATE_ROUNDS) + 4,
                          patience=100, refit_lambdas=(),
                          l1={**TrainSettings().l1, "alpha": 0.01})
    estimate = training_bytes(c["kind"], data, c["factors"], train)
    windows = np.zeros((c["genes"], 2), dtype=int)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    fit_model(c["kind"], data, windows, init, train)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    params = parameter_bytes(c["kind"], c["snps"], c["tissues"], c["genes"], c["factors"])
    out.put({**c, "params_gb": round(params / 1e9, 3), "rss_before_gb": round(base / 1e9, 3),
             "peak_rss_gb": round(peak / 1e9, 3), "estimate_gb": round(estimate / 1e9, 3),
             "estimate_over_peak": round(estimate / peak, 2),
             "training_over_params": round((peak - base) / params, 1)})


def main() -> None:
    ctx = multiprocessing.get_context("spawn")
    for case in CASES:
        out = ctx.Queue()
        proc = ctx.Process(target=measure, args=(case, out))
        proc.start()
        print(json.dumps(out.get()), flush=True)
        proc.join()


if __name__ == "__main__":
    main()
