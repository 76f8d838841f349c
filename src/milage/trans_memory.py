"""What training a trans model needs in memory, estimated before it starts, and the stop
when the machine cannot hold it.

The estimate is the data already in memory (one-byte genotypes, cis residuals), the
parameters times the copies training keeps of them (the network's, Adam's two moments,
the best epoch's, the snapshot an undone epoch returns to, and while ``learning_rate:
auto`` searches, a snapshot and a best copy per rate tried) and the backend's buffers, and
the largest temporaries (a batch's standardised genotypes and its batch x tissues x genes
tensors, a prediction block). The copies are measured, not guessed:
``benchmarks/trans_memory.py`` trains at shapes where the parameters dominate and compares
its peak RSS with this estimate.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from milage.errors import MilageError
from milage.settings import AUTO, TrainSettings
from milage.trans_models import model_class

if TYPE_CHECKING:  # trans_data loads Keras; the workflow's resource estimate must not
    from milage.trans_data import TransData

ROW_BLOCK = 64              # individuals standardised at a time outside training

# parameter bytes training adds to the peak, measured by benchmarks/trans_memory.py (peak
# RSS during training over the RSS before it, per parameter byte: NN 22 with a fixed rate,
# NN 39 and TM 38 with the rate search, ML 32 where beta dominates): the copies training
# keeps, and the backend's buffers that grow with them
PARAM_COPIES = 22           # fixed learning rate
PARAM_COPIES_SEARCH = 39    # while learning_rate auto tries its rates
BATCH_TENSORS = 8           # batch x tissues x genes float32 tensors alive in one step
OVERHEAD = 1.5e9            # Python, TensorFlow and the libraries (bytes; measured 1.0-1.7)


def parameter_bytes(kind: str, n_snps: int, n_tissues: int, n_genes: int,
                    n_factors: int) -> int:
    """float32 bytes of all parameters of a model of ``kind``."""
    size = {"SNP": n_snps, "tissue": n_tissues, "gene": n_genes, "factor": n_factors}
    return 4 * sum(math.prod(size[a] for a in axes)
                   for axes in model_class(kind).axes.values())


def training_bytes(kind: str, data: TransData, n_factors: int, s: TrainSettings) -> int:
    """Estimated peak bytes of training ``kind`` on ``data``."""
    return shape_bytes(kind, n_snps=data.genotypes.shape[1], n_tissues=data.sample_of.shape[1],
                       n_genes=data.residuals.shape[1], n_train=len(data.rows("train")),
                       data_bytes=data.genotypes.nbytes + 2 * data.residuals.nbytes,
                       n_factors=n_factors, s=s)


def shape_bytes(kind: str, n_snps: int, n_tissues: int, n_genes: int, n_train: int,
                data_bytes: int, n_factors: int, s: TrainSettings) -> int:
    """Estimated peak bytes of training ``kind`` at a shape, with ``data_bytes`` the
    genotypes' bytes plus twice the residuals' (what :func:`training_bytes` counts)."""
    params = parameter_bytes(kind, n_snps, n_tissues, n_genes, n_factors)
    copies = PARAM_COPIES_SEARCH if s.for_model(kind).learning_rate == AUTO else PARAM_COPIES
    batch = s.batch_size or n_train
    cells = n_tissues * n_genes
    temporaries = 4 * max(batch * (n_snps + BATCH_TENSORS * cells),
                          ROW_BLOCK * (n_snps + cells))
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
                 available: int | None = None) -> int:
    """Stop before training when the estimate exceeds the machine's memory (or
    ``available`` bytes), naming the keys that reduce it; return the estimate."""
    need = training_bytes(kind, data, n_factors, s)
    have = machine_bytes() if available is None else available
    if need > have:
        n_individuals, n_snps = data.genotypes.shape
        raise MilageError(
            f"training the {kind} model needs about {need / 1e9:.1f} GB ({n_snps} SNPs x "
            f"{n_factors} factors, {data.sample_of.shape[1]} tissues x "
            f"{data.residuals.shape[1]} genes, {n_individuals} individuals); this machine "
            f"has {have / 1e9:.1f} GB. Fix: lower trans.n_factors, raise genotypes.min_maf "
            "or give a candidate SNP list (inputs.candidate_snps), set "
            "trans.train.learning_rate to a number (its search keeps a copy per rate), or "
            "run on a larger machine")
    return need
