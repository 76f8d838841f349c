"""The trans models ML, NN and TM (paper section 2.2): one class per model, each owning its
parameters, and one registry of them.

A model is its parameters by name (NumPy arrays; ``axes`` names each one's axes) and what
the rest of milage asks of it: how it initialises itself on cis residuals, its Keras
network (:mod:`milage.trans_network`, built on demand, so reading a saved model needs no
Keras), its dense loadings and the summaries the figures and tables draw, its trans-eQTL
weights, and saving and loading itself. Code downstream asks the model and never inspects
parameter names; a new model is a subclass registered with :func:`register`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from milage.errors import MilageError
from milage.files import atomic_output
from milage.guards import check_array

REGISTRY: dict[str, type[TransModel]] = {}
PARAMS_FIX = ("lower trans.train.learning_rate or raise the L1 penalties (trans.train.l1); "
              "check the cohort's size and the tissues' sample counts")


def register(cls: type[TransModel]) -> type[TransModel]:
    """Add a model class to the registry under its ``name`` (a class decorator)."""
    REGISTRY[cls.name] = cls
    return cls


def model_class(name: str) -> type[TransModel]:
    """The registered model class of this name."""
    if name not in REGISTRY:
        raise MilageError(f"trans model {name!r} is unknown. Fix: use one of "
                          f"{', '.join(REGISTRY)}")
    return REGISTRY[name]


class TransModel:
    """A trans model: genotypes -> factors F = activation(X alpha + a) -> trans expression,
    a linear map of F. Subclasses set ``name``, ``axes`` (every parameter's axes, in the
    order of the network's variables), ``penalised``, ``network_class`` and
    :meth:`initialise`, and say what their loadings are.

    ``extras`` holds the arrays saved beside the parameters (the SNP moments of the
    training genotypes, the dense least-squares loadings). ``snps`` are the SNPs (indices
    into the training genotypes) whose rows alpha holds, default every SNP: a saved model
    keeps the non-zero rows only (GTEx v8: 10 M SNPs x 400 factors would be 16 GB, all but
    a few hundred rows zero).
    """

    name = ""
    activation = "linear"
    axes: dict[str, tuple[str, ...]] = {"alpha": ("SNP", "factor"), "a": ("factor",)}
    penalised: tuple[str, ...] = ("alpha",)
    network_class = ""              # a class of milage.trans_network
    refits_loadings = False         # loadings refitted given the factors after training
    alpha_path_start = 4.0**-2      # alpha's auto penalty path starts at this x lambda_max

    def __init__(self, params: dict[str, np.ndarray],
                 extras: dict[str, np.ndarray] | None = None,
                 snps: np.ndarray | None = None) -> None:
        missing = [name for name in self.axes if name not in params]
        if missing:
            raise MilageError(f"{self.name} model: parameter(s) {missing} missing. Fix: "
                              "rerun the trans_train rule that wrote it")
        self.params = {name: np.asarray(params[name]) for name in self.axes}
        self.extras = dict(extras or {})
        rows = len(self.params["alpha"])
        self.snps = np.arange(rows) if snps is None else np.asarray(snps, dtype=np.int64)
        if len(self.snps) != rows:
            raise MilageError(f"{self.name} model: {len(self.snps)} SNPs for {rows} rows of "
                              "alpha. Fix: rerun the trans_train rule that wrote it")

    # ---------------------------------------------------------------- shape and parts
    @property
    def dims(self) -> dict[str, int]:
        """Size of each axis: SNP, factor, tissue, gene."""
        out: dict[str, int] = {}
        for name, axes in self.axes.items():
            out.update(zip(axes, self.params[name].shape, strict=True))
        return out

    @property
    def n_factors(self) -> int:
        return self.dims["factor"]

    @property
    def alpha(self) -> np.ndarray:
        """The weights of the model's SNPs (``snps``) on the factors (SNPs x factors):
        non-zero rows are the model's trans-eQTLs."""
        return self.params["alpha"]

    def rows(self, snps: np.ndarray) -> np.ndarray:
        """alpha's rows of ``snps`` (indices into the training genotypes; zero for a SNP the
        model holds no row of, and for -1)."""
        where = pd.Index(self.snps).get_indexer(snps)
        out = np.zeros((len(where), self.n_factors), dtype=self.alpha.dtype)
        out[where >= 0] = self.alpha[where[where >= 0]]
        return out

    @classmethod
    def zeros(cls, n_snps: int, n_tissues: int, n_genes: int, n_factors: int) -> TransModel:
        """A model of this class with every parameter zero (float32)."""
        size = {"SNP": n_snps, "tissue": n_tissues, "gene": n_genes, "factor": n_factors}
        return cls({name: np.zeros([size[a] for a in axes], dtype=np.float32)
                    for name, axes in cls.axes.items()})

    @classmethod
    def initialise(cls, data, cis_windows: np.ndarray, settings) -> TransModel:
        """The paper's initialisation on the cis residuals of ``data``
        (:mod:`milage.trans_init`)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- network
    def network(self, snps: np.ndarray | None = None):
        """The Keras network of this model, its variables set to the parameters; its input
        is the genotypes of ``snps`` (default: the model's own, ``snps``; see :meth:`rows`)."""
        from milage import trans_network

        params = self.params if snps is None else {**self.params, "alpha": self.rows(snps)}
        d = self.dims
        net = getattr(trans_network, self.network_class)(
            len(params["alpha"]), d["tissue"], d["gene"], d["factor"],
            activation=self.activation, penalised=self.penalised, name=self.name)
        for v in net.weights:
            v.assign(np.asarray(params[v.name], dtype="float32"))
        return net

    @staticmethod
    def from_network(network, **extras) -> TransModel:
        """The model of a (trained) network, with ``extras`` to save beside it; its SNPs are
        the network's ``snps`` (:func:`milage.trans_train.fit_model`), or every SNP."""
        from keras import ops

        return model_class(network.name)({v.name: ops.convert_to_numpy(v)
                                          for v in network.weights}, extras,
                                         getattr(network, "snps", None))

    # ---------------------------------------------------------------- on disk
    def save(self, path: str | os.PathLike, data) -> None:
        """The parameters by name, the model's name, the SNP moments of ``data`` (a
        :class:`milage.trans_data.TransData`) and the extras, as .npz. Stops
        (:mod:`milage.guards`) before writing a parameter that is non-finite or absurd."""
        labels = {**data.labels, "SNP": np.asarray(data.labels["SNP"])[self.snps]} \
            if "SNP" in data.labels else data.labels
        for name, values in self.params.items():
            check_array(values, f"{self.name} parameter {name}", self.axes[name],
                        labels, PARAMS_FIX)
        kept = np.any(self.alpha != 0, axis=1)
        arrays = {**self.params, "alpha": self.alpha[kept], "alpha_snps": self.snps[kept],
                  "kind": np.array(self.name), "snp_mean": data.snp_mean,
                  "snp_sd": data.snp_sd, **{k: np.asarray(v) for k, v in self.extras.items()}}
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @staticmethod
    def load(path: str | os.PathLike) -> TransModel:
        """The model :meth:`save` wrote (of the class its name is registered as); one saved
        before alpha's zero rows were dropped holds every SNP's."""
        with np.load(path, allow_pickle=False) as saved:
            arrays = dict(saved)
        cls = model_class(str(arrays.pop("kind")))
        snps = arrays.pop("alpha_snps", None)
        return cls({name: arrays.pop(name) for name in cls.axes if name in arrays}, arrays,
                   snps)

    # ---------------------------------------------------------------- what is asked of it
    def loadings(self) -> np.ndarray:
        """Every gene's loading on every factor in every tissue (factors x tissues x genes):
        its trans expression is sum_t F[i, t] loadings[t, k, j] plus an intercept."""
        raise NotImplementedError

    def intercepts(self) -> np.ndarray:
        """Every gene's trans intercept in every tissue (tissues x genes)."""
        raise NotImplementedError

    def factor_activity(self) -> np.ndarray:
        """How active each factor is in each tissue (tissues x factors): mean |loading|."""
        return np.abs(self.loadings()).mean(axis=2).T

    def mean_loading(self) -> np.ndarray:
        """The paper's mean loading per tissue and factor (tissues x factors)."""
        return self.loadings().mean(axis=2).T

    def tissue_representation(self) -> np.ndarray:
        """Each tissue as one vector (tissues x features), the input of Figs 5, 6 and 8:
        its loadings (factors x genes) flattened."""
        beta = np.asarray(self.loadings(), dtype=float)
        return beta.transpose(1, 0, 2).reshape(beta.shape[1], -1)

    def gene_scores(self, tissue: int, factor: int) -> np.ndarray:
        """Every gene's loading on ``factor`` in ``tissue`` (0-based)."""
        return self.loadings()[factor, tissue]

    def eqtl_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """How much each gene (factors x genes) and each tissue (factors x tissues) carries
        a factor: the trans-eQTL table lists each factor's top ones."""
        size = np.abs(self.loadings())
        return size.sum(axis=1), size.sum(axis=2)

    def tissue_activation(self) -> np.ndarray:
        """Tissues x factors activation of a model that has one (Fig 7)."""
        raise MilageError(f"the {self.name} model has no tissue activation. Fix: draw Fig 7 "
                          "for TM")


class FactorModel(TransModel):
    """trans[i, k, j] = sum_t F[i, t] beta[t, k, j] + b[k, j]: loadings of their own in every
    tissue. ``start`` names the function of :mod:`milage.trans_init` that turns the PCA's
    per-individual scores into the initial factors and alpha's LASSO target."""

    axes = {**TransModel.axes, "beta": ("factor", "tissue", "gene"), "b": ("tissue", "gene")}
    penalised = ("alpha", "beta")
    network_class = "FactorNetwork"
    refits_loadings = True
    start = "standardised"

    @classmethod
    def initialise(cls, data, cis_windows, settings) -> TransModel:
        from milage import trans_init

        params, snps = trans_init.factor_params(data, cis_windows, settings, cls.name,
                                                getattr(trans_init, cls.start))
        return cls(params, snps=snps)

    def loadings(self) -> np.ndarray:
        return self.params["beta"]

    def intercepts(self) -> np.ndarray:
        return self.params["b"]


@register
class ML(FactorModel):
    """ML: linear factors, F = X alpha + a. Unbounded factors make its gradient in alpha at
    zero, lambda_max, large next to the penalty it ends up needing (the demo's tuned penalty
    was about lambda_max / 60, NN's lambda_max / 30): its alpha path starts 4x lower. A
    start 2x higher suits 170 training individuals (cohort genes_per_tissue, seed 2: 71% ->
    79% of the planted trans share) but not the demo, whose path then ends elsewhere
    (test VE .516 -> .500)."""

    name = "ml"
    alpha_path_start = 4.0**-3


@register
class NN(FactorModel):
    """NN: a one-hidden-layer network, F = sigmoid(X alpha + a)."""

    name = "nn"
    activation = "sigmoid"
    start = "sigmoid_target"


@register
class TM(TransModel):
    """TM, the tensor model: trans[i, k, j] = sum_t F[i, t] W[k, t] V[j, t] + d[j], linear
    factors with one gene loading V and one tissue activation W each. Its alpha path starts
    4x higher than NN's: on 170 training individuals (genes_per_tissue, seed 2) the best
    penalty was lambda_max / 4 to / 8, above a path from / 16 (72% of the planted trans
    share; 77% from / 4); on the demo its path goes on to / 16, its choice before
    (test VE .521 -> .517)."""

    name = "tm"
    axes = {**TransModel.axes, "V": ("gene", "factor"), "W": ("tissue", "factor"),
            "d": ("gene",)}
    penalised = ("alpha", "V", "W")
    network_class = "TensorNetwork"
    alpha_path_start = 4.0**-1

    @classmethod
    def initialise(cls, data, cis_windows, settings) -> TransModel:
        from milage import trans_init

        params, snps = trans_init.tensor_params(data, cis_windows, settings)
        return cls(params, snps=snps)

    def loadings(self) -> np.ndarray:
        return np.einsum("jt,kt->tkj", self.params["V"], self.params["W"])

    def intercepts(self) -> np.ndarray:
        return np.broadcast_to(self.params["d"], (self.dims["tissue"], self.dims["gene"]))

    def factor_activity(self) -> np.ndarray:
        """|W| times the mean |V| over genes."""
        return np.abs(self.params["W"]) * np.abs(self.params["V"]).mean(axis=0)

    def mean_loading(self) -> np.ndarray:
        """W times the mean of V over genes."""
        return self.params["W"] * self.params["V"].mean(axis=0)

    def tissue_representation(self) -> np.ndarray:
        """Each tissue's row of W."""
        return np.asarray(self.params["W"], dtype=float)

    def gene_scores(self, tissue: int, factor: int) -> np.ndarray:
        return self.params["V"][:, factor] * self.params["W"][tissue, factor]

    def eqtl_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """|V| and |W|."""
        return np.abs(self.params["V"]).T, np.abs(self.params["W"]).T

    def tissue_activation(self) -> np.ndarray:
        return self.params["W"]


MODELS = tuple(REGISTRY)
