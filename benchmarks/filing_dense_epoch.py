"""The dense trainer's epoch at the paper's 10% shape as it was when issue 17 asked for a
working-set epoch 10x faster than it: the release the issue was filed against (c06425e,
before compact genotypes and working sets), run from a temporary git worktree on the same
synthetic data as ``gtex_scale.py`` (its codes, standardised to float32 in memory as that
release's ``trans_data`` did). Prints one JSON line: epoch_s, the median of ``--epochs``
but the first. ``--snps 1`` keeps one SNP: what that release's epoch costs besides alpha,
which bounds what any working set could have gained over it.

    python benchmarks/filing_dense_epoch.py [--commit c06425e] [--model nn] [--snps 1]
        [--epochs 11] [--dir /tmp/gtex_scale]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from gtex_scale import (
    SHAPES,
    median_epoch,
    synthetic_codes,
    synthetic_params,
    synthetic_samples,
    training,
)

REPO = Path(__file__).resolve().parent.parent
SHAPE = "10pct"


def run(commit: str, model: str, n_snps: int, epochs: int, directory: Path) -> dict:
    """Time ``epochs`` epochs of the release's dense trainer (this process imports it)."""
    import milage
    from milage.trans_data import TransData, standardise

    assert milage.__file__.startswith(os.environ["PYTHONPATH"]), milage.__file__  # the release
    shape = SHAPES[SHAPE]
    codes = np.load(directory / f"genotypes_{shape['I']}x{shape['S']}.u1", mmap_mode="r")
    split, sample_of, residuals, sst = synthetic_samples(shape)
    dosages = codes[:, :n_snps].astype(np.float32) / 100
    x, mean, sd = standardise(dosages, split == "train")
    del dosages
    data = TransData(x, mean, sd, residuals, sample_of, split, sst,
                     {"SNP": np.arange(n_snps).astype(str)})
    rng = np.random.default_rng(1)      # the parameters gtex_scale.py draws
    chosen = np.sort(rng.choice(n_snps, min(2000, n_snps), replace=False))
    network, optimizer, s, state = training(model, synthetic_params(model, shape, n_snps,
                                                                    chosen, rng))
    return {"shape": SHAPE, **shape, "model": model, "trainer": "dense", "commit": commit,
            "snps": n_snps, "epochs": epochs,
            "epoch_s": round(median_epoch(network, optimizer, data, s, state, epochs), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="c06425e")
    ap.add_argument("--model", default="nn")
    ap.add_argument("--snps", type=int, default=SHAPES[SHAPE]["S"])
    ap.add_argument("--epochs", type=int, default=11)
    ap.add_argument("--dir", default="/tmp/gtex_scale")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    directory = Path(args.dir)
    if args.inner:
        print(json.dumps(run(args.commit, args.model, args.snps, args.epochs, directory)),
              flush=True)
        return
    directory.mkdir(parents=True, exist_ok=True)
    synthetic_codes(SHAPES[SHAPE], directory)        # written by this release's code
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "release"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet",
                        str(tree), args.commit], check=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree / "src")}
            subprocess.run([sys.executable, __file__, "--inner", "--commit", args.commit,
                            "--model", args.model, "--snps", str(args.snps), "--epochs",
                            str(args.epochs), "--dir", str(directory)], env=env, check=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(tree)], check=True)


if __name__ == "__main__":
    main()
