"""The trans models ML, NN and TM as Keras 3 models (``keras.ops`` only, so any backend runs
them), and optimizers that apply the L1 penalties by an exact proximal step.

Every model maps standardised genotypes (batch x SNPs) to the trans part of expression
(batch x tissues x genes); the cis part is fitted before and frozen, so the models train on
cis residuals. Parameters are named as in the paper: alpha (SNPs x factors), a (factors),
beta (factors x tissues x genes) and b (tissues x genes) for ML/NN; V (genes x factors),
W (tissues x factors) and d (genes) for TM.
"""

from __future__ import annotations

import keras
from keras import ops

MODELS = ("ml", "nn", "tm")


class TransModel(keras.Model):
    """Genotypes -> factors F (T) -> trans expression; subclasses define ``expression``.

    ``compute_loss`` is half the squared error summed over genes and averaged over the
    observed (individual, tissue) samples of the batch: ``y`` is (residuals, mask) with
    residuals (batch x tissues x genes) and mask (batch x tissues), 1 where observed.
    """

    activation = "linear"
    penalised: tuple[str, ...] = ()

    def __init__(self, n_snps: int, n_tissues: int, n_genes: int, n_factors: int, **kwargs):
        super().__init__(**kwargs)
        self.shape_ = (n_snps, n_tissues, n_genes, n_factors)
        self.alpha = self.add_weight((n_snps, n_factors), initializer="zeros", name="alpha")
        self.a = self.add_weight((n_factors,), initializer="zeros", name="a")

    def factors(self, x):
        """Individual factors F (batch x factors)."""
        pre = ops.matmul(x, self.alpha) + self.a
        return ops.sigmoid(pre) if self.activation == "sigmoid" else pre

    def call(self, x):
        return self.expression(self.factors(x))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        residuals, mask = y
        err = ops.sum(ops.square(y_pred - residuals), axis=-1) * mask
        return 0.5 * ops.sum(err) / ops.maximum(ops.sum(mask), 1.0)


class FactorModel(TransModel):
    """ML (linear factors) and, with ``activation="sigmoid"``, NN:
    trans[i, k, j] = sum_t F[i, t] beta[t, k, j] + b[k, j]."""

    penalised = ("alpha", "beta")

    def __init__(self, n_snps, n_tissues, n_genes, n_factors, activation="linear", **kwargs):
        super().__init__(n_snps, n_tissues, n_genes, n_factors, **kwargs)
        self.activation = activation
        self.beta = self.add_weight((n_factors, n_tissues, n_genes), initializer="zeros",
                                    name="beta")
        self.b = self.add_weight((n_tissues, n_genes), initializer="zeros", name="b")

    def expression(self, f):
        _, n_tissues, n_genes, n_factors = self.shape_
        flat = ops.reshape(self.beta, (n_factors, n_tissues * n_genes))   # one GEMM
        return ops.reshape(ops.matmul(f, flat), (-1, n_tissues, n_genes)) + self.b


class TensorModel(TransModel):
    """TM: trans[i, k, j] = sum_t F[i, t] W[k, t] V[j, t] + d[j]."""

    penalised = ("alpha", "V", "W")

    def __init__(self, n_snps, n_tissues, n_genes, n_factors, **kwargs):
        super().__init__(n_snps, n_tissues, n_genes, n_factors, **kwargs)
        self.V = self.add_weight((n_genes, n_factors), initializer="zeros", name="V")
        self.W = self.add_weight((n_tissues, n_factors), initializer="zeros", name="W")
        self.d = self.add_weight((n_genes,), initializer="zeros", name="d")

    def expression(self, f):
        g = f[:, None, :] * self.W[None, :, :]                  # batch x tissues x factors
        return ops.matmul(g, ops.transpose(self.V)) + self.d


def build_model(kind: str, n_snps: int, n_tissues: int, n_genes: int,
                n_factors: int) -> TransModel:
    """A model of one kind: "ml", "nn" or "tm"."""
    if kind == "tm":
        return TensorModel(n_snps, n_tissues, n_genes, n_factors, name="tm")
    if kind in ("ml", "nn"):
        return FactorModel(n_snps, n_tissues, n_genes, n_factors, name=kind,
                           activation="sigmoid" if kind == "nn" else "linear")
    raise ValueError(f"model must be one of {MODELS}, not {kind!r}")


def soft_threshold(v, threshold):
    """The proximal operator of threshold * |v|: sign(v) max(|v| - threshold, 0), written
    as v - clip(v, -threshold, threshold), two elementwise passes instead of four."""
    return v - ops.clip(v, -threshold, threshold)


class _Proximal:
    """After the parent optimizer's update, soft-threshold each variable named in ``l1``
    (a proximal gradient step in the parent's metric), so penalised zeros are exact.
    ``_prox_step(variable, scale)`` is the per-coordinate step times ``scale`` (the
    learning rate times the penalty, a scalar: so it costs no extra pass over the variable)."""

    def __init__(self, *, l1: dict[str, float], **kwargs):
        super().__init__(**kwargs)
        self.l1 = dict(l1)

    def build(self, var_list):
        super().build(var_list)
        self._l1_of = [float(self.l1.get(v.name, 0.0)) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, learning_rate)
        lam = self._l1_of[self._get_variable_index(variable)]
        if lam:
            step = self._prox_step(variable, lam * ops.cast(learning_rate, variable.dtype))
            self.assign(variable, soft_threshold(variable, step))

    def get_config(self):
        return {**super().get_config(), "l1": self.l1}


class ProximalSGD(_Proximal, keras.optimizers.SGD):
    """Plain (full-batch when the batch is the cohort) proximal gradient descent."""

    def _prox_step(self, variable, learning_rate):
        return learning_rate


class ProximalAdam(_Proximal, keras.optimizers.Adam):
    """Adam with the L1 prox taken in Adam's diagonal metric: the threshold of a coordinate
    is its own step size, lr * sqrt(1 - beta_2^t) / (sqrt(v) + epsilon)."""

    def _prox_step(self, variable, learning_rate):
        step = ops.cast(self.iterations + 1, variable.dtype)
        v = self._velocities[self._get_variable_index(variable)]
        bias = ops.sqrt(1 - ops.power(ops.cast(self.beta_2, variable.dtype), step))
        return learning_rate * bias / (ops.sqrt(v) + self.epsilon)


def make_optimizer(name: str, learning_rate: float, l1: dict[str, float]):
    """``adam`` (default) or ``sgd`` (plain gradient descent, the paper's solver)."""
    if name == "adam":
        return ProximalAdam(l1=l1, learning_rate=learning_rate)
    if name == "sgd":
        return ProximalSGD(l1=l1, learning_rate=learning_rate)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', not {name!r}")
