"""The trans models' networks as Keras 3 models (``keras.ops`` only, so any backend runs
them), and optimizers that apply the L1 penalties by an exact proximal step.

Every network maps standardised genotypes (batch x SNPs) to the trans part of expression
(batch x tissues x genes); the cis part is fitted before and frozen, so the networks train
on cis residuals. A network is built by its model (:mod:`milage.trans_models`, which owns
the parameters' names and meaning) and its variables carry those names: alpha (SNPs x
factors), a (factors), beta (factors x tissues x genes) and b (tissues x genes) for the
factor networks (ML, NN); V (genes x factors), W (tissues x factors) and d (genes) for the
tensor network (TM).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _traced(kernel, xla: bool = False):
    """``kernel`` as one TensorFlow graph (compiled by XLA if ``xla``); as is on other
    backends (JAX compiles the whole step already)."""
    if keras.backend.backend() != "tensorflow":
        return kernel
    import tensorflow as tf
    return tf.function(kernel, jit_compile=xla, reduce_retracing=True)


def _fused(kernel):
    """``kernel`` compiled by XLA on TensorFlow, so its elementwise ops run as one pass over
    memory rather than one pass each. Why: at the paper's 10% shape the proximal Adam
    update of alpha (9.8 M entries) takes 10 ms fused instead of 46 ms. Only such kernels:
    XLA's CPU matmuls are slower than oneDNN's."""
    return _traced(kernel, xla=True)


def _in_place(kernel, variables: list):
    """``update(*args)``: assigns ``kernel(the variables' values, *args)`` (their new values)
    to ``variables``. On TensorFlow one XLA program of its own variables reads and writes
    them, so XLA updates their buffers in place. Why: a kernel that returns new values
    holds the old and the new of each at once, and TensorFlow's CPU allocator (oneDNN's
    pool) keeps what it once held: NN at GTEx v6p, beta and Adam's moments twice, 2.6 GB
    more for the whole run."""
    if keras.backend.backend() != "tensorflow":
        def update(*args):
            new = kernel(*map(_read, variables), *args)
            for var, value in zip(variables, new, strict=True):
                var.assign(value)
        return update
    import tensorflow as tf
    targets = [v.value if isinstance(v, keras.Variable) else v for v in variables]

    @tf.function(jit_compile=True)
    def compiled(*args):
        new = kernel(*map(_read, targets), *args)
        for var, value in zip(targets, new, strict=True):
            var.assign(value)
    return compiled


def _read(x):
    """``x`` as a tensor: a variable's current value (TensorFlow's custom gradients and
    compiled kernels take tensors, not variables)."""
    return ops.cast(x, x.dtype)


def host_array(x):
    """A backend tensor as a numpy array. On TensorFlow it reads the tensor's buffer in
    place (the array keeps the tensor alive), where ``ops.convert_to_numpy`` copies it. Why:
    predictions are converted a batch at a time (:func:`milage.trans_data.predict_samples`);
    at the paper's 10% shape a copy is 2.5 ms of each batch's 20 ms."""
    if keras.backend.backend() == "tensorflow":
        return np.asarray(x)
    return ops.convert_to_numpy(x)


def own_value(variable):
    """What to assign another variable so that it holds ``variable``'s value in a buffer of
    its own. Why: Keras' JAX step donates its variables' buffers, and a JAX variable
    assigned another's value shares its array, which that step would then delete; a
    TensorFlow ``assign`` copies already (no second copy: beta at GTEx v8 is 2 GB)."""
    if keras.backend.backend() == "tensorflow":
        return variable
    return ops.copy(variable)


ALIGN = 64    # bytes: TensorFlow's CPU kernels (Eigen) need buffers aligned to this


def aligned_empty(shape, dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose buffer starts at a multiple of
    :data:`ALIGN` bytes, so that :func:`device_array` shares it."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + size].view(dtype).reshape(shape)


def device_array(x: np.ndarray):
    """A numpy array as a backend tensor. On TensorFlow an :func:`aligned_empty` array is
    shared (DLPack), not copied; any other is copied. Why: ``convert_to_tensor`` copies a
    numpy array twice; at the paper's 10% shape a training batch's targets are 7 MB and
    sharing them saves 1 ms of each 10 ms step. Only aligned ones: TensorFlow aborts the
    process on a misaligned buffer."""
    if (keras.backend.backend() == "tensorflow" and x.flags.c_contiguous and x.size
            and x.ctypes.data % ALIGN == 0):
        import tensorflow as tf
        return tf.experimental.dlpack.from_dlpack(x.__dlpack__())
    return ops.convert_to_tensor(x)


class Network(keras.Model):
    """Genotypes -> factors F (T) = activation(X alpha + a) -> trans expression, a linear
    map of the factors that subclasses define by ``linear_parts`` (and, for some tissues
    only, ``group_parts``). ``activation`` is
    "linear" or the name of a ``keras.ops`` function ("sigmoid", "tanh"); ``penalised``
    names the variables the L1 penalties apply to (given by the model).

    ``compute_loss`` is half the squared error summed over genes and averaged over the
    observed (individual, tissue) samples of the batch: ``y`` is (residuals, mask) with
    residuals (batch x tissues x genes; NaN where one gene's value of a sample is missing,
    which adds nothing) and mask (batch x tissues), 1 where observed, 0 where missing.
    In training, ``call`` returns the factors and the loss forms the prediction itself
    (:func:`masked_loss`, which fuses the loss with its gradient).
    """

    def __init__(self, n_snps: int, n_tissues: int, n_genes: int, n_factors: int, *,
                 activation: str = "linear", penalised: tuple[str, ...] = (), **kwargs):
        super().__init__(**kwargs)
        self.activation, self.penalised = activation, tuple(penalised)
        self.shape_ = (n_snps, n_tissues, n_genes, n_factors)
        self.alpha = self.add_weight((n_snps, n_factors), initializer="zeros", name="alpha")
        self.a = self.add_weight((n_factors,), initializer="zeros", name="a")
        # why traced: the eager call dispatches each op from Python and Keras' __call__
        # checks its inputs; at the paper's 10% shape a prediction of 154 individuals
        # took 8 ms instead of 10
        self._predict = _traced(lambda x: self.expression(self.factors(x)))
        self._factors = _traced(self.factors)
        self._observed_sse = _traced(self._group_sse)
        self._step = None

    def factors(self, x):
        """Individual factors F (batch x factors)."""
        # no SNP (nothing active): x alpha is 0, and a traced graph's fused product
        # (oneDNN) aborts on an empty operand
        product = (ops.matmul(x, self.alpha) if self.shape_[0]
                   else ops.zeros((ops.shape(x)[0], self.shape_[3])))
        pre = product + self.a
        return pre if self.activation == "linear" else getattr(ops, self.activation)(pre)

    def expression(self, f):
        """Trans expression (batch x tissues x genes) of factors ``f``."""
        rows, loadings, bias = self.linear_parts(f)
        _, n_tissues, n_genes, _ = self.shape_
        return ops.reshape(ops.matmul(rows, loadings), (-1, n_tissues, n_genes)) + bias

    def call(self, x, training=False):
        f = self.factors(x)
        return f if training else self.expression(f)

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        self._step = None       # traced anew: the optimizer or the trainable set changed

    def train_batch(self, x, y) -> float:
        """One step of the compiled optimizer on a batch (``x``, ``y`` as in
        ``compute_loss``); returns the batch's loss. On TensorFlow a traced step of its own
        (:func:`_tape_step`); other backends: ``train_on_batch``."""
        if keras.backend.backend() != "tensorflow":
            return float(self.train_on_batch(x, y))
        if self._step is None:
            self._step = _tape_step(self)
        return float(self._step(x, y))

    def predict_batch(self, x):
        """Trans expression (batch x tissues x genes) of standardised genotypes ``x``:
        ``self(x)`` as one graph on TensorFlow."""
        return self._predict(x)

    def factors_of(self, x):
        """:meth:`factors` of standardised genotypes ``x``, as one graph on TensorFlow."""
        return self._factors(x)

    def observed_sse(self, f, bounds, where, residuals):
        """Sum of squared errors (float64, NaN residuals left out) of each of some samples
        of the tissues ``bounds`` = (first, count) (an int32 array): factors ``f`` (rows x
        factors) are predicted in those tissues, ``where`` picks the samples from the
        rows x tissues predictions (row-major), ``residuals`` are theirs (samples x
        genes). One graph on TensorFlow."""
        return self._observed_sse(f, bounds, where, residuals)

    def _group_sse(self, f, bounds, where, residuals):
        rows, loadings, bias = self.group_parts(f, bounds[0], bounds[1])
        prediction = ops.reshape(ops.matmul(rows, loadings), (-1, self.shape_[2]))
        return _gathered_sse(prediction, bias, where, bounds[1], residuals)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # y as tensors: Keras' PyTorch step passes numpy targets on as they are
        return masked_loss(*(_read(p) for p in self.linear_parts(y_pred)),
                           *map(ops.convert_to_tensor, y))


def _tape_step(model: Network):
    """``model``'s training step (forward, gradient of its loss, its optimizer's update of
    its trainable variables) as one TensorFlow graph: what ``train_on_batch`` runs, without
    its per-call bookkeeping (resetting the metrics, a data generator, the logs), and
    compiled by XLA where Keras' would be (``model.jit_compile``). Why: that bookkeeping
    takes 2-3 ms of each 9-11 ms step at the paper's 10% shape."""
    import tensorflow as tf
    variables = model.trainable_variables

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x, y, model(x, training=True))
        model.optimizer.apply(tape.gradient(loss, variables), variables)
        return loss
    return _traced(step, xla=bool(model.jit_compile))


@ops.custom_gradient
def masked_loss(rows, loadings, bias, residuals, mask):
    """The models' loss of the prediction reshape(rows @ loadings) + bias (residuals' shape,
    batch x tissues x genes; ``mask`` batch x tissues, 0/1), with its gradient in rows,
    loadings and bias written out. Why not autodiff: it passes over the batch x tissues x
    genes tensors about ten times; this makes one fused pass for the scaled error d(loss)/
    d(prediction), then one reduction each for the loss and the bias' gradient (at the
    paper's 10% shape 42 ms instead of 57 ms for this part of the step)."""
    n = ops.maximum(ops.sum(mask), 1.0)
    prediction = ops.reshape(ops.matmul(rows, loadings), ops.shape(residuals))
    d_pred = _scaled_error(prediction, bias, residuals, mask[:, :, None] / n)
    flat = ops.reshape(d_pred, (ops.shape(rows)[0], -1))

    def gradient(*args, upstream=None):
        g = args[0] if upstream is None else upstream
        leading = tuple(range(len(d_pred.shape) - len(bias.shape)))
        # g scales the small operand: g * (rows' @ flat) would be a second tensor of the
        # loadings' size (beta at GTEx v8: 2 GB more at the peak)
        return (_rows_gradient(flat, loadings) * g,
                ops.matmul(ops.transpose(rows) * g, flat),
                ops.sum(d_pred, axis=leading) * g, None, None)

    return 0.5 * n * ops.sum(ops.square(d_pred)), gradient     # mask is 0/1: m^2 = m


NARROW_ROWS = 32   # rows up to which _rows_gradient takes the transposed form


def _rows_gradient(flat, loadings):
    """flat @ loadings' (rows x factors), the loss gradient in the rows. Why two forms:
    oneDNN's product of a few rows by the long transposed loadings is slow, and the same
    product as (loadings @ flat')' is faster (batch 32: 1.7 ms instead of 2.6 at the paper's
    10% shape, 59 ms instead of 131 at GTEx v6p); with many rows (TM's rows are batch x
    tissues, or a batch of 128) the direct form is the faster."""
    return ops.cond(ops.shape(flat)[0] <= NARROW_ROWS,
                    lambda: ops.transpose(ops.matmul(loadings, ops.transpose(flat))),
                    lambda: ops.matmul(flat, ops.transpose(loadings)))


@_fused
def _scaled_error(prediction, bias, residuals, weight):
    """(prediction + bias - residuals) x weight, 0 where a residual is missing (NaN)."""
    error = (prediction + bias - residuals) * weight
    return ops.where(ops.isnan(residuals), ops.zeros_like(error), error)


@_fused
def _gathered_sse(prediction, bias, where, count, residuals):
    """Per sample, the sum over genes of (prediction[where] + bias[where % count] -
    residuals)^2 in float64, 0 where a residual is missing (NaN): one pass that reads the
    picked rows of the (rows x tissues) x genes prediction, and the residuals, once."""
    error = ops.take(prediction, where, axis=0) + ops.take(bias, where % count, axis=0)
    error = ops.cast(error - residuals, "float64")
    error = ops.where(ops.isnan(residuals), ops.zeros_like(error), error)
    return ops.sum(ops.square(error), axis=1)


class FactorNetwork(Network):
    """ML and NN (and any model of loadings per tissue):
    trans[i, k, j] = sum_t F[i, t] beta[t, k, j] + b[k, j]."""

    def __init__(self, n_snps, n_tissues, n_genes, n_factors, **kwargs):
        super().__init__(n_snps, n_tissues, n_genes, n_factors, **kwargs)
        self.beta = self.add_weight((n_factors, n_tissues, n_genes), initializer="zeros",
                                    name="beta")
        self.b = self.add_weight((n_tissues, n_genes), initializer="zeros", name="b")

    def linear_parts(self, f):
        """(F, beta as factors x (tissues x genes), b): one GEMM for every tissue."""
        _, n_tissues, n_genes, n_factors = self.shape_
        return f, ops.reshape(self.beta, (n_factors, n_tissues * n_genes)), self.b

    def group_parts(self, f, first, count):
        """(F, beta of tissues first..first + count - 1 as factors x (tissues x genes),
        their b): :meth:`linear_parts` for those tissues only."""
        beta = self.beta[:, first:first + count]
        return f, ops.reshape(beta, (self.shape_[3], -1)), self.b[first:first + count]


class TensorNetwork(Network):
    """TM: trans[i, k, j] = sum_t F[i, t] W[k, t] V[j, t] + d[j]."""

    def __init__(self, n_snps, n_tissues, n_genes, n_factors, **kwargs):
        super().__init__(n_snps, n_tissues, n_genes, n_factors, **kwargs)
        self.V = self.add_weight((n_genes, n_factors), initializer="zeros", name="V")
        self.W = self.add_weight((n_tissues, n_factors), initializer="zeros", name="W")
        self.d = self.add_weight((n_genes,), initializer="zeros", name="d")

    def linear_parts(self, f):
        """(F[i, t] W[k, t] as (batch x tissues) x factors, V transposed, d)."""
        rows = ops.reshape(f[:, None, :] * self.W[None, :, :], (-1, self.shape_[3]))
        return rows, ops.transpose(self.V), self.d

    def group_parts(self, f, first, count):
        """:meth:`linear_parts` for tissues first..first + count - 1 (d once per tissue)."""
        w = self.W[first:first + count]
        rows = ops.reshape(f[:, None, :] * w[None, :, :], (-1, self.shape_[3]))
        bias = ops.broadcast_to(self.d, (ops.shape(w)[0], self.shape_[2]))
        return rows, ops.transpose(self.V), bias


def soft_threshold(v, threshold):
    """The proximal operator of threshold * |v|: sign(v) max(|v| - threshold, 0), written
    as v - clip(v, -threshold, threshold), two elementwise passes instead of four."""
    return v - ops.clip(v, -threshold, threshold)


class _Proximal:
    """Holds the L1 penalty of each variable (by name, ``l1``) for a proximal optimizer,
    which soft-thresholds the penalised variables after each update so their zeros are
    exact. The penalties are optimizer variables: training changes them between epochs
    (:meth:`set_l1`, the alpha penalty path) and checkpoints save them with the moments."""

    def __init__(self, *, l1: dict[str, float], **kwargs):
        super().__init__(**kwargs)
        self.l1 = dict(l1)

    def build(self, var_list):
        super().build(var_list)
        self._l1_of = [self.add_variable((), initializer=keras.initializers.Constant(
            float(self.l1.get(v.name, 0.0))), name=f"l1_{v.name}") for v in var_list]

    def _l1_variable(self, name: str):
        return next(lam for v, lam in zip(self._trainable_variables, self._l1_of, strict=True)
                    if v.name == name)

    def penalty(self, name: str) -> float:
        """The current L1 penalty of the variable ``name``."""
        return float(ops.convert_to_numpy(self._l1_variable(name)))

    def set_l1(self, name: str, value: float) -> None:
        """Set the L1 penalty of the variable ``name``."""
        self._l1_variable(name).assign(float(value))

    def get_config(self):
        return {**super().get_config(), "l1": self.l1}


class ProximalSGD(_Proximal, keras.optimizers.SGD):
    """Plain (full-batch when the batch is the cohort) proximal gradient descent."""

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(gradient, variable, learning_rate)
        lam = ops.cast(self._l1_of[self._get_variable_index(variable)], variable.dtype)
        self.assign(variable, soft_threshold(variable, lam * ops.cast(learning_rate,
                                                                       variable.dtype)))


class ProximalAdam(_Proximal, keras.optimizers.Adam):
    """Adam with the L1 prox taken in Adam's diagonal metric: the threshold of a coordinate
    is its own step size, lr * sqrt(1 - beta_2^t) / (sqrt(v) + epsilon). The moments, the
    step and the prox are one kernel (:func:`_adam_prox`) rather than the parent's update
    followed by a prox, and it updates them in place (:func:`_in_place`)."""

    def build(self, var_list):
        super().build(var_list)
        self._updates = [_in_place(_adam_prox, list(state)) for state in
                         zip(var_list, self._momentums, self._velocities, strict=True)]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        t = ops.cast(self.iterations + 1, dtype)
        lr = ops.cast(learning_rate, dtype) * ops.sqrt(1 - ops.power(self.beta_2, t))
        hyper = ops.cast([self.beta_1, self.beta_2, self.epsilon], dtype)
        step = lr / (1 - ops.power(hyper[0], t))
        threshold = lr * ops.cast(self._l1_of[index], dtype)
        self._updates[index](ops.cast(gradient, dtype), step, threshold, hyper)


def _adam_prox(variable, m, v, gradient, step, threshold, hyper):
    """One Adam update of ``variable`` then its soft-thresholding at ``threshold`` / (sqrt(v)
    + epsilon); returns the new (variable, m, v). ``hyper`` is (beta_1, beta_2, epsilon)."""
    m = m + (1 - hyper[0]) * (gradient - m)
    v = v + (1 - hyper[1]) * (ops.square(gradient) - v)
    scale = 1 / (ops.sqrt(v) + hyper[2])
    return soft_threshold(variable - step * m * scale, threshold * scale), m, v


def make_optimizer(name: str, learning_rate: float, l1: dict[str, float]):
    """``adam`` (default) or ``sgd`` (plain gradient descent, the paper's solver)."""
    if name == "adam":
        return ProximalAdam(l1=l1, learning_rate=learning_rate)
    if name == "sgd":
        return ProximalSGD(l1=l1, learning_rate=learning_rate)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', not {name!r}")


class GradientSum(keras.optimizers.Optimizer):
    """Not an optimizer: adds each batch's gradient into ``sums`` and leaves the variables
    unchanged, so one pass of ``train_batch`` over the batches gives the gradient of
    the loss at the current weights on any backend (Keras 3 has no backend-neutral
    gradient call)."""

    def __init__(self, **kwargs):
        super().__init__(learning_rate=0.0, **kwargs)

    def build(self, var_list):
        super().build(var_list)
        self.sums = [self.add_variable_from_reference(v, "sum") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        self.assign_add(self.sums[self._get_variable_index(variable)], gradient)
