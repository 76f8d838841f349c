"""Peak memory of training a trans model, measured, against the estimate that stops a run
too big for the machine (milage.trans_memory). Each case trains on synthetic data in its
own process (its peak RSS from the start of training: the making of the synthetic data is
left out) for the epochs of both learning-rate searches plus a few, at shapes where alpha
(many SNPs), beta (many genes x tissues) or the backend's own buffers dominate, densely
and on working sets.

    python benchmarks/trans_memory.py [CASE_INDEX ...]
"""

import gc
import json
import multiprocessing
import sys

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
    # working sets: alpha-dominated, then beta-dominated with many SNPs
    dict(kind="nn", individuals=200, snps=150_000, tissues=4, genes=200, factors=60,
         rate="auto", working_set=True),
    dict(kind="ml", individuals=200, snps=150_000, tissues=20, genes=5_000, factors=40,
         rate="auto", working_set=True),
    # the parameters (0.2-0.5 GB) above the backend's own buffers: GTEx's 400 factors and
    # 28 tissues, from a zero start (the initialisation's group-LASSO of 400 factors per
    # gene would take the most time and none of the memory)
    *[dict(kind="nn", individuals=449, snps=200_000, tissues=28, genes=5_000, factors=400,
           rate=rate, working_set=ws, init=False)
      for rate, ws in (("auto", True), (0.002, True), (0.002, False))],
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
    return TransData(codes, mean, sd, residuals, sample_of, split, sst,
                     {"SNP": np.arange(c["snps"]).astype(str)}, units=100)


def start_peak() -> int:
    """Reset the process's peak RSS to its current RSS (Linux: clear_refs 5), so the
    synthetic data's making is not in the peak; return the current RSS."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return status_bytes("VmRSS")


def status_bytes(key: str) -> int:
    """A memory figure of /proc/self/status (VmRSS, VmHWM: peak RSS), in bytes."""
    with open("/proc/self/status") as fh:
        line = next(line for line in fh if line.startswith(key + ":"))
    return int(line.split()[1]) * 1024


def zero_start(c, data, train):
    """Train a model whose parameters start at zero, on a working set of none or densely."""
    from milage.trans_models import model_class
    from milage.trans_train import train as train_network
    from milage.trans_working_set import WorkingSet

    working = WorkingSet(data, np.zeros(0, dtype=int)) if train.working_set else None
    rows = working.capacity if working else c["snps"]
    network = model_class(c["kind"]).zeros(rows, c["tissues"], c["genes"], c["factors"]).network()
    train_network(network, data, train, working=working)


def measure(c, out):
    from milage.settings import InitSettings, TrainSettings
    from milage.trans_memory import network_rows, parameter_bytes, training_bytes
    from milage.trans_train import RATE_ROUNDS, fit_model

    data = synthetic(c)
    init = InitSettings(n_factors=c["factors"])
    # a fixed alpha penalty that admits few SNPs (the automatic path's first steps can
    # diverge on random genotypes with so many more SNPs than individuals)
    train = TrainSettings(learning_rate=c["rate"], max_epochs=2 * sum(RATE_ROUNDS) + 4,
                          patience=100, refit_lambdas=(),
                          l1={**TrainSettings().l1, "alpha": 0.01},
                          working_set=c.get("working_set", False))
    estimate = training_bytes(c["kind"], data, c["factors"], train)
    windows = np.zeros((c["genes"], 2), dtype=int)
    base = start_peak()
    if c.get("init", True):
        fit_model(c["kind"], data, windows, init, train)
    else:
        zero_start(c, data, train)
    peak = status_bytes("VmHWM")
    rows = network_rows(c["snps"], train)
    params = parameter_bytes(c["kind"], rows, c["tissues"], c["genes"], c["factors"])
    out.put({**c, "params_gb": round(params / 1e9, 3), "rss_before_gb": round(base / 1e9, 3),
             "peak_rss_gb": round(peak / 1e9, 3), "estimate_gb": round(estimate / 1e9, 3),
             "estimate_over_peak": round(estimate / peak, 2),
             "training_over_params": round((peak - base) / params, 1)})


def main() -> None:
    """Every case, or those whose indices (from 0) the command line gives."""
    ctx = multiprocessing.get_context("spawn")
    for case in [CASES[int(i)] for i in sys.argv[1:]] or CASES:
        out = ctx.Queue()
        proc = ctx.Process(target=measure, args=(case, out))
        proc.start()
        proc.join()
        if proc.exitcode:
            sys.exit(f"case {case} failed (exit code {proc.exitcode})")
        print(json.dumps(out.get()), flush=True)


if __name__ == "__main__":
    main()
