"""What a job asks a scheduler for: memory (MB) and runtime (minutes) from the shapes and
sizes of its inputs (workflow/rules/common.smk passes them in).

Snakemake plans a job before its inputs exist and evaluates its resources again before it
runs; until then the functions here get no shape and return a planning value. The constants
come from the demo's benchmark files (results/demo/benchmarks/, 2 cores: seconds and peak
RSS per job) with the headroom noted at each; a cluster whose nodes are slower, or a data
shape far from the demo's, may need ``--set-resources RULE:runtime=MINUTES``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from milage.settings import TrainSettings
from milage.trans_memory import shape_bytes

MB = 10**6
BASE_MB = 1000        # Python, NumPy, pandas (the demo's smallest Python jobs: 300-500 MB)
PLANNED_MB = 4000     # memory shown before a job's inputs exist
MIN_MINUTES = 10      # shortest request: start-up and file systems on a busy cluster

# trans training, seconds per unit of individuals x (SNPs + tissues x genes) x factors x
# epochs: the demo's slowest job, ML (learning-rate search and refits), took 241 s for
# 449 x (19,072 + 28 x 1,900) x 20 x 300 = 1.9e11 units (1.2e-9 s each); with a 30-minute
# base for start-up, initialisation and refits, 1e-9 s a unit gives 5x the 10% shape's
# measured dense epochs (2.36 s, README)
TRAIN_BASE_MINUTES = 30
TRAIN_SECONDS_PER_UNIT = 1e-9
TRAIN_HEADROOM = 1.25  # over milage.trans_memory's estimate (the job stops above it)

# cis chunk, seconds per unit of genes x mean cis-window SNPs x individuals: the demo's
# slowest chunk took 69 s for 500 x 90 x 449 = 2.0e7 units (3.4e-6 s each; the others
# 1e-6); 1e-5 s is 3x the slowest
CIS_SECONDS_PER_UNIT = 1e-5
# and MB per window SNP x individual: float64 windows, their CV folds and relaxed refits
CIS_BYTES_PER_CELL = 80

# data rules read their inputs at about 3 MB/s (genotype ingest: 4.4 MB VCF.gz in 1.6 s;
# expression: 40 MB GCT.gz in 2.8 s); 1 MB a second is the request
MB_PER_MINUTE = 60


def npy_shape(path: str | Path) -> tuple[int, ...] | None:
    """The shape of an .npy file from its header, or None while it does not exist."""
    return np.load(path, mmap_mode="r").shape if Path(path).exists() else None


def files_mb(paths) -> float:
    """MB of the existing files among ``paths``."""
    return sum(Path(p).stat().st_size for p in paths if Path(p).exists()) / MB


def from_inputs_mb(input_mb: float, per_input_mb: float, attempt: int = 1) -> int:
    """BASE_MB plus ``per_input_mb`` MB per MB of input, times the attempt (a retry after
    running out of memory asks for more)."""
    return math.ceil((BASE_MB + per_input_mb * input_mb) * attempt)


def reading_minutes(input_mb: float) -> int:
    """Minutes to read ``input_mb`` MB at MB_PER_MINUTE."""
    return math.ceil(MIN_MINUTES + input_mb / MB_PER_MINUTE)


def trans_shape(prepared: str | Path, residuals: str | Path) -> dict | None:
    """What trans training's memory and time depend on, from the prepared dataset and the
    cis residuals; None while they do not exist."""
    dosages, cells = Path(prepared) / "dosages.npy", npy_shape(residuals)
    if not dosages.exists() or cells is None:
        return None
    itemsize = np.load(dosages, mmap_mode="r").itemsize
    split = pd.read_csv(Path(prepared) / "individuals.tsv", sep="\t", usecols=["split"])
    tissues = pd.read_csv(Path(prepared) / "samples.tsv", sep="\t", usecols=["tissue"])
    n_individuals, n_snps = len(split), npy_shape(dosages)[0]
    return dict(n_snps=n_snps, n_individuals=n_individuals,
                n_tissues=tissues["tissue"].nunique(), n_genes=cells[1],
                n_train=int((split["split"] == "train").sum()),
                data_bytes=itemsize * n_individuals * n_snps + 2 * 4 * math.prod(cells))


def trans_mem_mb(kind: str, shape: dict | None, n_factors: int, train: TrainSettings,
                 attempt: int = 1) -> int:
    """milage.trans_memory's estimate of training ``kind`` with TRAIN_HEADROOM, in MB."""
    if shape is None:
        return PLANNED_MB
    need = shape_bytes(kind, shape["n_snps"], shape["n_tissues"], shape["n_genes"],
                       shape["n_train"], shape["data_bytes"], n_factors, train)
    return math.ceil(need * TRAIN_HEADROOM * attempt / MB)


def trans_minutes(shape: dict | None, n_factors: int, max_epochs: int) -> int:
    """Minutes of training a trans model for at most ``max_epochs``."""
    if shape is None:
        return TRAIN_BASE_MINUTES
    units = (shape["n_individuals"] * (shape["n_snps"] + shape["n_tissues"] * shape["n_genes"])
             * n_factors * max_epochs)
    return math.ceil(TRAIN_BASE_MINUTES + units * TRAIN_SECONDS_PER_UNIT / 60)


def cis_shape(prepared: str | Path, max_window_snps: int) -> dict | None:
    """Genes, their mean cis-window SNPs (at most ``max_window_snps``) and the genotyped
    individuals; None while the windows do not exist."""
    windows, dosages = Path(prepared) / "cis_windows.tsv", npy_shape(
        Path(prepared) / "dosages.npy")
    if dosages is None or not windows.exists():
        return None
    w = pd.read_csv(windows, sep="\t", usecols=["cis_start", "cis_stop"])
    snps = (w["cis_stop"] - w["cis_start"]).clip(upper=max_window_snps)
    return dict(n_genes=len(w), window_snps=float(snps.mean()) if len(w) else 0.0,
                n_individuals=dosages[1])


def cis_mem_mb(shape: dict | None, expression_mb: float, attempt: int = 1) -> int:
    """A cis job: the expression matrix twice and one gene's windows with their copies."""
    if shape is None:
        return PLANNED_MB
    window = CIS_BYTES_PER_CELL * shape["window_snps"] * shape["n_individuals"] / MB
    return from_inputs_mb(2 * expression_mb + window, 1, attempt)


def cis_minutes(shape: dict | None, n_genes: int) -> int:
    """Minutes of fitting ``n_genes`` genes' cis models."""
    if shape is None:
        return MIN_MINUTES
    units = n_genes * shape["window_snps"] * shape["n_individuals"]
    return math.ceil(MIN_MINUTES + units * CIS_SECONDS_PER_UNIT / 60)
