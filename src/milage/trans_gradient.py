"""The loss's gradient in alpha at every SNP, a block of SNPs at a time: what the start of
alpha's penalty path and the L1 optimality check need, with neither a SNPs x factors
gradient nor a batch of every SNP's genotypes in memory.

The gradient in alpha[j, t] is sum_i x[i, j] D[i, t], with D the gradient in the factors'
pre-activations X alpha + a (individuals x factors), the same for every SNP. D comes from
backpropagation on a probe: a network of the model's class, fed the identity, whose alpha
holds a batch's pre-activations, so that its gradient in alpha is D (Keras 3 has no
backend-neutral gradient call; :class:`GradientSum` gives the probe's on any backend).
Then the genotypes stream through, ``CHECK_SNPS`` SNPs at a time.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from milage.dosages import release
from milage.trans_data import TransData
from milage.trans_network import GradientSum, Network, own_value

CHECK_SNPS = 2**15   # SNPs standardised at a time: training individuals x this, float32


def factor_gradient(model: Network, data: TransData, batches: list[np.ndarray]) -> np.ndarray:
    """D, the gradient of training's objective (each batch's loss, averaged over
    ``batches``) in the pre-activations of the individuals of ``batches``, stacked in their
    order: individuals x factors, float32."""
    size = max(len(rows) for rows in batches)
    _, n_tissues, n_genes, n_factors = model.shape_
    probe = type(model)(size, n_tissues, n_genes, n_factors, activation=model.activation)
    mine = {v.name: v for v in model.weights}
    for v in probe.weights:
        if v.name != "alpha":
            v.assign(own_value(mine[v.name]))
            v.trainable = False     # no gradient nor sum of beta's size: alpha's is D
    sums = GradientSum()
    probe.compile(optimizer=sums)
    sums.build(probe.trainable_variables)
    eye = np.eye(size, dtype=np.float32)
    out = []
    for rows in batches:
        pre = np.zeros((size, n_factors), dtype=np.float32)
        pre[:len(rows)] = ops.convert_to_numpy(ops.matmul(data.standardised(rows), model.alpha))
        probe.alpha.assign(pre)
        for v in sums.sums:
            v.assign(ops.zeros(v.shape, v.dtype))
        probe.train_batch(eye[:len(rows)], data.targets(rows))
        out.append(ops.convert_to_numpy(sums.sums[0])[:len(rows)])
    return np.concatenate(out) / len(batches)


def alpha_gradient_max(model: Network, data: TransData, batches: list[np.ndarray],
                       full: TransData | None = None) -> np.ndarray:
    """max over factors of |d objective / d alpha[j, t]| for every SNP j of ``full``
    (default ``data``), float32; ``model`` is fed ``data`` (the same individuals, perhaps
    fewer SNPs) and the objective is as in :func:`factor_gradient`."""
    full = full or data
    d = factor_gradient(model, data, batches)
    rows = np.concatenate(batches)
    n_snps = full.genotypes.shape[1]
    out = np.empty(n_snps, dtype=np.float32)
    for lo in range(0, n_snps, CHECK_SNPS):
        block = slice(lo, min(lo + CHECK_SNPS, n_snps))
        out[block] = np.abs(full.standardised(rows, block).T @ d).max(axis=1)
        release(full.genotypes)
    return out
