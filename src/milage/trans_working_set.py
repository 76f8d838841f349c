"""Working-set training of alpha: the network holds the alpha rows of some SNPs only.

The L1 penalty keeps all but a few SNPs' rows of alpha at zero, and a zero row stays zero
while its gradient is within the penalty (the optimality condition of the L1 problem). So
training reads and updates the rows of a working set only: the SNPs whose row is not zero
plus those that broke the condition at the last full check (as glmnet's strong rules and
KKT checks). A full check (:func:`milage.trans_gradient.alpha_gradient_max`) streams every
SNP's genotypes; its violators join the set, strongest first, at most doubling it at a
time. Training ends only after a check finds none (:func:`milage.trans_train.train`).

The network's alpha has ``capacity`` rows: the set's SNPs, then free rows whose genotypes
are zero (so their gradient is zero and they stay zero). Slots are only ever appended, so
weights saved earlier (the best epoch's, a snapshot) stay valid: a SNP added since had a
zero row then. When the set outgrows the capacity, the network and the optimizer are
rebuilt at twice the size (at most every SNP), their values carried over
(:meth:`WorkingSet.resize`).
"""

from __future__ import annotations

import logging

import numpy as np
from keras import ops

from milage.spill import padded
from milage.trans_data import TransData
from milage.trans_gradient import alpha_gradient_max
from milage.trans_models import TransModel
from milage.trans_network import Network

log = logging.getLogger(__name__)

MIN_CAPACITY = 256   # alpha rows of the smallest working-set network
MIN_ADD = 256        # violators a check may add besides doubling the set


class WorkingSet:
    """The SNPs (indices into ``full``'s) whose alpha rows the network holds, in slot order,
    and ``view``: ``full`` restricted to them, padded with zero genotypes to ``capacity``."""

    def __init__(self, full: TransData, snps: np.ndarray, capacity: int = 0) -> None:
        self.full = full
        self.snps = np.asarray(snps, dtype=np.int64)
        self.capacity = min(max(capacity, 2 * len(self.snps), MIN_CAPACITY),
                            full.genotypes.shape[1])
        self.view = self._view()

    def _view(self, kept: int = 0) -> TransData:
        """``full`` restricted to the set; the first ``kept`` slots' genotypes are taken from
        the current view (which holds them), the others read from ``full``."""
        return self.full.over(self._slots(), self.view.genotypes[:, :kept] if kept else None)

    def _slots(self) -> np.ndarray:
        """The set's SNPs, then -1 for each free slot."""
        return np.concatenate([self.snps, np.full(self.capacity - len(self.snps), -1)])

    @classmethod
    def of(cls, model: TransModel, data: TransData) -> WorkingSet:
        """The set of an initialised model: the SNPs with a non-zero row of alpha."""
        return cls(data, model.snps[np.any(model.alpha != 0, axis=1)])

    def network(self, model: TransModel) -> Network:
        """``model``'s network with alpha's rows of this set (zero in the free slots)."""
        return model.network(self._slots())

    def trained(self, network: Network) -> Network:
        """The trained ``network`` over the set's SNPs only, ``snps`` naming them (the free
        slots dropped; no row of every SNP is built: 16 GB at GTEx v8)."""
        model = TransModel.from_network(network)
        out = type(model)({**model.params, "alpha": model.alpha[:len(self.snps)]}).network()
        out.snps, out.chosen = self.snps, getattr(network, "chosen", {})
        return out

    def violators(self, network: Network, batches: list[np.ndarray],
                  penalty: float) -> np.ndarray:
        """SNPs outside the set whose gradient breaks the optimality condition of the L1
        ``penalty`` (max over factors of |gradient| above it), strongest first."""
        gradient = alpha_gradient_max(network, self.view, batches, self.full)
        gradient[self.snps] = 0.0
        out = np.nonzero(gradient > penalty)[0]
        return out[np.argsort(-gradient[out], kind="stable")]

    def most_added(self) -> int:
        """The most SNPs one check adds: the set at most doubles (``MIN_ADD`` at least), so
        SNPs enter gradually, not all those the initialisation's gradient favours at once."""
        return max(len(self.snps), MIN_ADD)

    def needed(self, n_new: int) -> int:
        """The capacity for ``n_new`` more SNPs: the current one while it holds them, else
        double it (or what they need), at most every SNP."""
        n = len(self.snps) + n_new
        return self.capacity if n <= self.capacity else min(
            max(2 * self.capacity, n), self.full.genotypes.shape[1])

    def add(self, snps: np.ndarray) -> None:
        """Append ``snps`` to the set (the capacity must hold them)."""
        assert len(self.snps) + len(snps) <= self.capacity
        kept = len(self.snps)
        self.snps = np.concatenate([self.snps, snps])
        self.view = self._view(kept)

    def reset(self, snps: np.ndarray, capacity: int) -> None:
        """Go back to an earlier set (``snps``, a prefix of this one, and ``capacity``)."""
        self.snps, self.capacity = snps, capacity
        self.view = self._view(len(snps))

    def resize(self, network: Network, optimizer, capacity: int):
        """A network and optimizer of ``capacity`` alpha rows with the values of these
        (padded with zeros); returns (network, optimizer)."""
        self.capacity = capacity
        self.view = self._view(len(self.snps))
        _, n_tissues, n_genes, n_factors = network.shape_
        bigger = type(network)(capacity, n_tissues, n_genes, n_factors,
                               activation=network.activation, penalised=network.penalised,
                               name=network.name)
        for new, old in zip(bigger.weights, network.weights, strict=True):
            new.assign(padded(ops.convert_to_numpy(old), new.shape))
            new.trainable = old.trainable
        grown = type(optimizer).from_config(optimizer.get_config())
        bigger.compile(optimizer=grown)
        grown.build(bigger.trainable_variables)
        for new, old in zip(grown.variables, optimizer.variables, strict=True):
            new.assign(padded(ops.convert_to_numpy(old), new.shape))
        return bigger, grown

