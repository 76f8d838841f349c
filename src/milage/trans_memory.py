"""What training a trans model needs in memory, estimated before it starts, and the stop
when the machine cannot hold it.

The estimate is the data already in memory (one-byte genotypes, cis residuals), the
parameters times the copies training keeps of them (the network's, Adam's two moments,
the gradients) and the backend's buffers, and the largest temporaries (a batch's
standardised genotypes and its batch x tissues x genes tensors, a prediction block).
With a working set (``trans.train.working_set``) the network holds some SNPs' rows of
alpha only (``alpha_rows``; :data:`WORKING_ROWS` are planned for before training, and each
growth of the set is checked again: it stops training, or ends alpha's penalty path past
its first point, :func:`milage.trans_train.train`); no array of every SNP's rows of alpha
exists before, during or after it (the initialisation and the saved model hold the
non-zero rows). The copies are measured, not guessed: ``benchmarks/trans_memory.py`` trains
at shapes where alpha, beta or the backend's buffers dominate and compares its
peak RSS with this estimate.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

import numpy as np

from milage.errors import MemoryLimitError
from milage.settings import AUTO, WORKING_SET_SNPS, TrainSettings
from milage.trans_models import model_class

if TYPE_CHECKING:  # trans_data loads Keras; the workflow's resource estimate must not
    from milage.trans_data import TransData

ROW_BLOCK = 64              # individuals standardised at a time outside training

# parameter bytes training adds to the peak: the network's, Adam's two moments, the
# gradients, the full check's probe, and the backend's buffers that grow with them, more
# of them while learning_rate auto searches (the values training returns to are spilled
# to files, milage.spill, not held). Fitted to the largest measured shapes, with the
# buffers that do not grow with the parameters in OVERHEAD; estimate / measured peak:
# GTEx v8 1.25 (NN, working set, fixed rate, 2 GB of parameters: 17.3 GB measured by
# benchmarks/gtex_scale.py), 400 factors on 200,000 SNPs 1.18 (auto) and 1.19 (fixed;
# 0.33 GB of parameters, where the backend's buffers weigh more) and 1.5-2.3 at smaller
# shapes (benchmarks/trans_memory.py). 12 and 17 copies with 1.5 GB of overhead, fitted to
# the small shapes, counted v8 at 42 GB
PARAM_COPIES = 7            # fixed learning rate
PARAM_COPIES_SEARCH = 11    # while learning_rate auto tries its rates
BATCH_TENSORS = 8           # batch x tissues x genes float32 tensors alive in one step
OVERHEAD = 2.5e9            # Python, TensorFlow, the libraries (measured 1.0-1.7 GB) and the
                            # backend's buffers that do not grow with the parameters
WORKING_ROWS = WORKING_SET_SNPS   # alpha rows a working set is planned for before training
                                  # (working_set auto's bound: fewer SNPs train dense)


def parameter_bytes(kind: str, n_snps: int, n_tissues: int, n_genes: int,
                    n_factors: int) -> int:
    """float32 bytes of all parameters of a model of ``kind``."""
    size = {"SNP": n_snps, "tissue": n_tissues, "gene": n_genes, "factor": n_factors}
    return 4 * sum(math.prod(size[a] for a in axes)
                   for axes in model_class(kind).axes.values())


def training_bytes(kind: str, data: TransData, n_factors: int, s: TrainSettings,
                   alpha_rows: int | None = None) -> int:
    """Estimated peak bytes of training ``kind`` on ``data`` (``alpha_rows``: see
    :func:`shape_bytes`)."""
    mapped = isinstance(data.genotypes, np.memmap)   # pages the kernel reclaims as it needs
    return shape_bytes(kind, n_snps=data.genotypes.shape[1], n_tissues=data.sample_of.shape[1],
                       n_genes=data.residuals.shape[1], n_train=len(data.rows("train")),
                       data_bytes=(0 if mapped else data.genotypes.nbytes)
                       + 2 * data.residuals.nbytes,
                       n_factors=n_factors, s=s, alpha_rows=alpha_rows)


def network_rows(n_snps: int, s: TrainSettings, alpha_rows: int | None = None) -> int:
    """Rows of alpha the network holds: every SNP's, or with a working set ``alpha_rows``
    (default :data:`WORKING_ROWS`), at most every SNP's."""
    return min(n_snps, alpha_rows or WORKING_ROWS) if s.uses_working_set(n_snps) else n_snps


def shape_bytes(kind: str, n_snps: int, n_tissues: int, n_genes: int, n_train: int,
                data_bytes: int, n_factors: int, s: TrainSettings,
                alpha_rows: int | None = None) -> int:
    """Estimated peak bytes of training ``kind`` at a shape, with ``data_bytes`` the
    genotypes' bytes held in memory plus twice the residuals' (what :func:`training_bytes`
    counts) and, with a working set, ``alpha_rows`` rows of alpha in the network
    (:func:`network_rows`), which is fed those SNPs' genotypes only."""
    rows = network_rows(n_snps, s, alpha_rows)
    params = parameter_bytes(kind, rows, n_tissues, n_genes, n_factors)
    copies = PARAM_COPIES_SEARCH if s.for_model(kind).learning_rate == AUTO else PARAM_COPIES
    batch = s.batch_size or n_train
    cells = n_tissues * n_genes
    temporaries = 4 * max(batch * (rows + BATCH_TENSORS * cells), ROW_BLOCK * (rows + cells))
    return int(data_bytes + copies * params + temporaries + OVERHEAD)


def machine_bytes() -> int:
    """Physical memory of this machine (the smaller cgroup limit where one is set)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        return min(total, int(limit)) if limit.isdigit() else total
    except OSError:
        return total


def check_memory(kind: str, data: TransData, n_factors: int, s: TrainSettings,
                 available: int | None = None, alpha_rows: int | None = None) -> int:
    """Stop before training (or before a working set of ``alpha_rows`` rows grows to
    them) when the estimate exceeds the machine's memory (or ``available`` bytes), naming
    the keys that reduce it; return the estimate."""
    need = training_bytes(kind, data, n_factors, s, alpha_rows)
    have = machine_bytes() if available is None else available
    if need > have:
        n_individuals, n_snps = data.genotypes.shape
        working = s.uses_working_set(n_snps)
        rows = (f"a working set of {network_rows(n_snps, s, alpha_rows)} of {n_snps} SNPs"
                if working else f"{n_snps} SNPs")
        raise MemoryLimitError(
            f"training the {kind} model needs about {need / 1e9:.1f} GB ({rows} x "
            f"{n_factors} factors, {data.sample_of.shape[1]} tissues x "
            f"{data.residuals.shape[1]} genes, {n_individuals} individuals); this machine "
            f"has {have / 1e9:.1f} GB. Fix: lower trans.n_factors, raise genotypes.min_maf "
            "or give a candidate SNP list (inputs.candidate_snps), "
            + ("raise trans.train.l1's alpha (fewer SNPs join the set), "
               if working else "set trans.train.working_set: true, ")
            + "set trans.train.learning_rate to a number (its search keeps a copy per "
            "rate), or run on a larger machine")
    return need
