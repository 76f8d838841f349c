"""One training epoch and one full optimality check of a trans model at GTEx shapes, on
synthetic arrays of the full size: what working-set training (``trans.train.working_set``)
costs, measured, beside the dense trainer where that fits.

Each shape runs in its own process (its peak RSS is its own). Genotypes are one byte per
dosage in a memory-mapped file (as the prepare rule writes them), half of the (individual,
tissue) samples are missing, the working set holds ``--snps`` SNPs. Prints one JSON line
per shape and trainer: shape, trainer, peak_rss_gb, epoch_s (the median of ``--epochs``
but the first, which also compiles the training step and the prediction; 2 by default;
before 2026-12-03 the last epoch's), full_check_s, working_set_snps.
peak_rss_gb is the process's peak resident memory (ru_maxrss, in GB of 10^9 bytes; before
2026-12-02 this printed GiB, 7% less): anonymous memory plus the
pages of the genotype file mapped at the time (milage unmaps those after each block it
reads, :func:`milage.dosages.release`); the epoch's way back and the best weights are in
a temporary file's page cache, not in it (:mod:`milage.spill`). estimate_gb is what the
stop before training (:func:`milage.trans_memory.training_bytes`) counts for it.

    python benchmarks/gtex_scale.py [--shapes 10pct,v6p] [--model nn] [--snps 2000]
        [--dense 10pct] [--epochs 2] [--dir /tmp/gtex_scale]
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

SHAPES = {"demo": dict(I=449, S=19_072, J=1_900, K=28, T=20),
          "10pct": dict(I=449, S=244_519, J=1_942, K=28, T=40),
          "v6p": dict(I=449, S=2_445_192, J=19_425, K=28, T=400),
          "v8": dict(I=838, S=10_000_000, J=25_000, K=49, T=400)}
SNP_BLOCK = 2**18   # SNPs of synthetic genotypes written at a time


def synthetic_codes(shape: dict, directory: Path, seed: int = 0) -> np.ndarray:
    """Binomial dosage codes (MAF 0.05-0.5; individuals x SNPs, one byte each) memory-mapped
    from ``directory``, written there the first time."""
    from milage.dosages import UNITS
    n_ind, n_snps = shape["I"], shape["S"]
    path = directory / f"genotypes_{n_ind}x{n_snps}.u1"
    if not path.exists():
        rng = np.random.default_rng([seed, 1])
        codes = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), "w+", np.uint8,
                                          (n_ind, n_snps))
        for lo in range(0, n_snps, SNP_BLOCK):
            hi = min(lo + SNP_BLOCK, n_snps)
            maf = rng.uniform(0.05, 0.5, hi - lo)
            codes[:, lo:hi] = rng.binomial(2, maf, (n_ind, hi - lo)) * UNITS
        codes.flush()
        del codes
        path.with_suffix(".tmp.npy").rename(path)
    return np.load(path, mmap_mode="r")


def synthetic_samples(shape: dict, seed: int = 0):
    """(split, sample_of, residuals, sst): a 75% / 10% / 15% split, half of the
    (individual, tissue) samples observed, N(0, 1) residuals. Numpy only, so that
    ``filing_dense_epoch.py`` draws the same under an old release."""
    rng = np.random.default_rng(seed)
    n_ind, n_genes, n_tissues = shape["I"], shape["J"], shape["K"]
    split = rng.choice(np.array(["train", "valid", "test"]), n_ind, p=[0.75, 0.1, 0.15])
    sample_of = np.full((n_ind, n_tissues), -1)
    observed = rng.random((n_ind, n_tissues)) < 0.5
    sample_of[observed] = np.arange(observed.sum())
    residuals = rng.standard_normal((observed.sum(), n_genes), dtype=np.float32)
    sst = {s: float(np.square(residuals[sample_of[split == s][sample_of[split == s] >= 0]],
                              dtype=np.float64).sum()) for s in ("train", "valid", "test")}
    return split, sample_of, residuals, sst


def synthetic_data(shape: dict, directory: Path, seed: int = 0):
    """TransData of the shape: :func:`synthetic_codes` and :func:`synthetic_samples`."""
    from milage.dosages import UNITS
    from milage.trans_data import TransData, genotype_moments

    codes = synthetic_codes(shape, directory, seed)
    split, sample_of, residuals, sst = synthetic_samples(shape, seed)
    mean, sd = genotype_moments(codes, split == "train", UNITS)
    return TransData(codes, mean, sd, residuals, sample_of, split, sst,
                     {"SNP": np.arange(shape["S"]).astype(str)}, UNITS)


def synthetic_params(model: str, shape: dict, n_rows: int, rows: np.ndarray,
                     rng: np.random.Generator) -> dict:
    """Parameters of ``model`` with ``n_rows`` rows of alpha, non-zero at ``rows``:
    N(0, 0.01^2) entries. Uses only what every release since issue 17's filing has, as do
    :func:`training` and :func:`median_epoch` (``filing_dense_epoch.py`` runs them there)."""
    from milage.trans_models import model_class

    params = {k: np.zeros(v.shape, np.float32) for k, v in model_class(model).zeros(
        n_rows, shape["K"], shape["J"], shape["T"]).params.items()}
    for k in params:
        if k != "alpha":
            params[k] = (0.01 * rng.standard_normal(params[k].shape)).astype(np.float32)
    params["alpha"][rows] = 0.01 * rng.standard_normal((len(rows), shape["T"]))
    return params


def training(model: str, params: dict):
    """(network, optimizer, settings, state) of an epoch's timing: Adam at a fixed rate 1e-3
    and fixed penalties."""
    from milage import trans_train
    from milage.settings import TrainSettings
    from milage.trans_models import model_class
    from milage.trans_network import make_optimizer

    s = TrainSettings(learning_rate=1e-3, l1={"alpha": 1e-4, "beta": 0.01, "V": 1e-4,
                                              "W": 2e-6}).for_model(model)
    network = model_class(model)(params).network()
    optimizer = make_optimizer("adam", s.learning_rate, trans_train.model_l1(s.l1, network))
    network.compile(optimizer=optimizer)
    optimizer.build(network.trainable_variables)
    state = trans_train._State(network)
    state.history.append({"ve_train": -np.inf})
    return network, optimizer, s, state


def median_epoch(network, optimizer, fed, s, state, epochs: int) -> float:
    """Seconds of an epoch: the median of ``epochs`` but the first, which also compiles
    the step and the prediction."""
    from milage import trans_train

    times = []
    for _ in range(epochs):
        t = time.perf_counter()
        trans_train._epoch(network, optimizer, fed, s, state)
        times.append(time.perf_counter() - t)
    return float(np.median(times[1:] or times))


def run(name: str, trainer: str, model: str, n_snps: int, epochs: int,
        directory: Path) -> dict:
    """Time ``epochs`` epochs (the median of all but the first) and one full check of
    ``model`` at shape ``name``;
    ``trainer`` dense (alpha over every SNP) or working_set (``n_snps`` SNPs)."""
    from milage import trans_train
    from milage.trans_gradient import alpha_gradient_max
    from milage.trans_memory import training_bytes
    from milage.trans_working_set import WorkingSet

    shape = SHAPES[name]
    data = synthetic_data(shape, directory)
    rng = np.random.default_rng(1)
    chosen = np.sort(rng.choice(shape["S"], n_snps, replace=False))
    if trainer == "dense":
        working, fed = None, data
        params = synthetic_params(model, shape, shape["S"], chosen, rng)
    else:
        working = WorkingSet(data, chosen)
        fed = working.view
        params = synthetic_params(model, shape, working.capacity, np.arange(n_snps), rng)
    network, optimizer, s, state = training(model, params)
    del params      # the network holds them
    batches = trans_train._batches(fed.rows("train"), s.batch_size, s.seed, 0)
    epoch_s = median_epoch(network, optimizer, fed, s, state, epochs)
    t = time.perf_counter()
    if working:
        working.violators(network, batches, optimizer.penalty("alpha"))
    else:
        alpha_gradient_max(network, data, batches)
    check_s = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    estimate = training_bytes(model, data, shape["T"], replace(s, working_set=bool(working)),
                              working.capacity if working else None)
    return {"shape": name, **shape, "model": model, "trainer": trainer, "epochs": epochs,
            "working_set_snps": n_snps if working else shape["S"],
            "epoch_s": round(epoch_s, 3), "full_check_s": round(check_s, 2),
            "peak_rss_gb": round(peak / 1e9, 2), "estimate_gb": round(estimate / 1e9, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="10pct,v6p")
    ap.add_argument("--dense", default="10pct", help="shapes also run with the dense trainer")
    ap.add_argument("--model", default="nn")
    ap.add_argument("--snps", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=2,
                    help="epochs trained; the median of all but the first is printed")
    ap.add_argument("--dir", default="/tmp/gtex_scale")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)   # shape trainer: this process
    args = ap.parse_args()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(run(*args.one, args.model, args.snps, args.epochs, Path(args.dir))),
              flush=True)
        return
    for name in args.shapes.split(","):
        trainers = (["dense"] if name in args.dense.split(",") else []) + ["working_set"]
        for trainer in trainers:
            subprocess.run([sys.executable, __file__, "--one", name, trainer, "--model",
                            args.model, "--snps", str(args.snps), "--epochs",
                            str(args.epochs), "--dir", args.dir],
                           check=True)


if __name__ == "__main__":
    main()
