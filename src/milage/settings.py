"""Every stage's settings, built from the workflow's configuration by one function each.

config/config.yaml is the only source of defaults: each class's field names are the keys of
its config section (a key that is a Python keyword, ``lambda``, gets a trailing underscore),
and its defaults are config.yaml's values (tests/test_settings.py builds each from
config.yaml and compares). Settings given one per model are resolved for a model by
:func:`per_model`.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field, fields, replace

from milage.errors import MilageError

AUTO = "auto"   # a setting chosen on the validation split (working_set: by the SNP count)
WORKING_SET_SNPS = 2**16   # working_set auto: a working set for cohorts of more SNPs


def per_model(value, model: str, key: str) -> float | str:
    """A setting given as one value for every model or as a mapping {model: value}:
    ``model``'s value, a number or ``"auto"`` (``key`` names the setting in errors)."""
    if isinstance(value, dict):
        if model not in value:
            raise MilageError(f"{key} gives no value for model {model!r}. Fix: give one for "
                              "each model, or one value for all")
        value = value[model]
    return value if value == AUTO else float(value)


def _fields(cls, section: dict, **extra) -> dict:
    """A config section's entries as ``cls``'s keyword arguments (keywords get an
    underscore; lists become tuples, as the fields hold them)."""
    out = {(f"{key}_" if keyword.iskeyword(key) else key): value
           for key, value in {**section, **extra}.items()}
    tuples = {f.name for f in fields(cls) if str(f.type).startswith("tuple")}
    return {k: tuple(v) if k in tuples else v for k, v in out.items()}


@dataclass(frozen=True)
class SimulationSettings:
    """The demo cohort (config section ``simulate``; ``cis_window`` is ``cis.window``)."""

    n_individuals: int = 449        # genotyped individuals
    n_ungenotyped: int = 10         # RNA-seq donors without genotypes (dropped by ingest)
    n_tissues: int = 28
    n_genes: int = 2000             # autosomal genes, including the low-expressed ones
    n_low_genes: int = 100          # expressed below the threshold: the gene filter drops them
    n_chrx_genes: int = 20
    n_desert_genes: int = 5         # genes with no SNP in their cis window
    n_snps: int = 20_000
    genome_scale: float = 0.1       # chromosome lengths relative to GRCh38
    cis_window: int = 1_000_000
    missing_rate: float = 0.001     # dosages written as missing
    max_tissue_fraction: float = 0.8
    min_tissue_fraction: float = 0.25
    n_replicates: int = 5           # duplicate (individual, tissue) samples
    n_factors: int = 20
    activation: str = "sigmoid"     # "sigmoid" or "linear"
    sigmoid_gain: float = 2.0       # pre-activation standard deviation
    snps_per_factor: int = 3        # strong trans-eQTLs: learnable from ~340 individuals
    module_size: int = 60
    within_group_sd: float = 0.3    # tissue loadings around their group's centroid
    outlier_scale: float = 3.0      # loadings of the outlier tissue
    cis_share: float = 0.43
    trans_share: float = 0.17
    n_decoy_sets: int = 40
    seed: int = 1

    @classmethod
    def from_config(cls, config: dict) -> SimulationSettings:
        return cls(**_fields(cls, config["simulate"], cis_window=config["cis"]["window"],
                             seed=config["seed"]))


@dataclass(frozen=True)
class ExpressionSettings:
    """Filters, transform and Z-score scope of the expression stage (section
    ``expression``)."""

    tissues: tuple[str, ...] = ()       # empty: every tissue that passes min_samples
    min_samples: int = 100
    threshold: float = 0.1              # TPM
    min_expressed_fraction: float = 0.5
    transform: str = "log2"             # "log2" (log2(x + 1)) or "none"
    zscore_scope: str = "gene"          # "gene" or "gene_tissue"

    @classmethod
    def from_config(cls, config: dict) -> ExpressionSettings:
        return cls(**_fields(cls, config["expression"]))


@dataclass(frozen=True)
class CisSettings:
    """The cis fit (section ``cis``; ``lambda`` is ``lambda_``) and the run's ``seed``."""

    window: int = 1_000_000           # bp either side of the TSS
    max_window_snps: int = 10_000     # larger windows keep the SNPs nearest the TSS
    lambda_: float | str = "auto"     # a number, or "auto" (CV)
    impute: str = "none"              # "none" masks missing samples; "mean" fills them
    relax: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # relaxed-fit mixings, by CV
    relax_max_snps: int = 30          # relaxed fits are tried up to this many SNPs
    cv_folds: int = 5
    cv_patience: int = 3              # CV stops a fold's path after this many rises
    n_lambdas: int = 20
    lambda_min_ratio: float = 0.05
    tol: float = 1e-4                 # duality gap, relative to ||Y||^2
    cv_tol: float = 1e-4              # the same for the CV solves, which only rank penalties
    max_epochs: int = 10_000
    chunk_size: int = 500
    threads: int = 1
    baseline_l1_ratio: float = 0.5    # the per-tissue elastic-net baseline's mixing
    seed: int = 1

    def __post_init__(self) -> None:
        if not self.relax or not all(0.0 <= g <= 1.0 for g in self.relax):
            raise ValueError(f"cis relax must be one or more numbers in [0, 1], not "
                             f"{list(self.relax)}")

    @classmethod
    def from_config(cls, config: dict) -> CisSettings:
        return cls(**_fields(cls, config["cis"], seed=config["seed"]))


@dataclass(frozen=True)
class InitSettings:
    """Initialisation of the trans models (section ``trans.init``, with ``trans.n_factors``
    and ``seed``); the simulation study's from ``simulation.fig2``."""

    n_factors: int = 20
    candidates: str = "none"        # SNPs offered to the alpha LASSO of each factor
    alpha_lambda: float = 0.05      # LASSO penalty of alpha
    beta_lambda: float | dict[str, float] = field(    # group-LASSO of beta; per_model
        default_factory=lambda: {"ml": 0.0035, "nn": 0.0025})
    v_lambda: float = 0.005         # LASSO penalty of V (TM)
    als_iterations: int = 50        # rank-1 factorisation sweeps (TM)
    seed: int = 1

    @classmethod
    def from_config(cls, config: dict) -> InitSettings:
        return cls(**_fields(cls, config["trans"]["init"],
                             n_factors=config["trans"]["n_factors"], seed=config["seed"]))

    @classmethod
    def for_study(cls, config: dict) -> InitSettings:
        study = config["simulation"]["fig2"]
        return cls(**_fields(cls, study["init"], n_factors=study["data"]["n_factors"],
                             seed=config["seed"]))


@dataclass(frozen=True)
class TrainSettings:
    """Training of the trans models (section ``trans.train`` and ``seed``); the simulation
    study's from ``simulation.fig2.train``. ``learning_rate`` and each entry of ``l1``
    (variable name -> L1 penalty) are one number or one per model: :meth:`for_model`
    resolves them."""

    optimizer: str = "adam"         # adam, or sgd (plain gradient descent, the paper's)
    learning_rate: float | str | dict = AUTO   # Adam's rate, or auto (successive halving)
    batch_size: int = 32            # individuals per update; 0: the whole training set
    max_epochs: int = 300
    patience: int = 30              # epochs without a better validation VE before stopping
    checkpoint_every: int = 10      # epochs
    refit_lambdas: tuple[float, ...] = (0.035, 0.07, 0.14)  # relaxed group-LASSO refits of beta
    l1: dict[str, float | str | dict] = field(default_factory=lambda: {   # per unit of MSE
        "alpha": AUTO, "beta": 0.01, "V": 0.0001, "W": 0.000002})
    working_set: bool | str = AUTO  # alpha on a working set of SNPs: true, false or auto
    seed: int = 1

    @classmethod
    def from_config(cls, config: dict) -> TrainSettings:
        return cls(**_fields(cls, config["trans"]["train"], seed=config["seed"]))

    @classmethod
    def for_study(cls, config: dict) -> TrainSettings:
        return cls(**_fields(cls, config["simulation"]["fig2"]["train"], seed=config["seed"]))

    def uses_working_set(self, n_snps: int) -> bool:
        """Whether alpha trains on a working set in a cohort of ``n_snps`` SNPs: as set, or
        with auto, above :data:`WORKING_SET_SNPS`. Why that bound: below it the set holds
        most SNPs before training ends, and the dense epoch costs little more (the paper's
        10% shape at 32,768 SNPs, NN: 0.20 s against 0.15 s and a 0.29 s check every 10
        epochs; TM slower with the set), while at 65,536 the set trains 1.5x faster and
        above it more (benchmarks/gtex_scale.py); and the dense trainer's first steps move
        every SNP's row at once (a 90,000-SNP cohort's NN diverged at every rate dense, and
        trained on the set; at 40,000 and 62,000 SNPs it trained dense)."""
        return n_snps > WORKING_SET_SNPS if self.working_set == AUTO else bool(self.working_set)

    def for_model(self, model: str) -> TrainSettings:
        """These settings with the learning rate and the L1 penalties of ``model``."""
        return replace(self, learning_rate=per_model(self.learning_rate, model,
                                                     "trans.train.learning_rate"),
                       l1={name: per_model(value, model, f"trans.train.l1.{name}")
                           for name, value in self.l1.items()})


@dataclass(frozen=True)
class StudySettings:
    """The simulated data of the Fig 2 study (section ``simulation.fig2.data``, with the
    ``split`` fractions and ``seed``)."""

    n_snps: int = 500
    n_genes: int = 40
    n_tissues: int = 4
    n_factors: int = 4              # planted factors (the solvers fit as many)
    snps_per_factor: int = 5
    trans_share: float = 0.5        # variance share of the trans signal; the rest is noise
    gain: float = 3.0               # sd of the NN generator's pre-activation (ML: 1)
    observed_fraction: float = 0.5  # (individual, tissue) samples present
    test_fraction: float = 0.25
    valid_fraction: float = 0.1     # of the non-test individuals
    seed: int = 1

    @classmethod
    def from_config(cls, config: dict) -> StudySettings:
        return cls(**_fields(cls, config["simulation"]["fig2"]["data"],
                             test_fraction=config["split"]["test_fraction"],
                             valid_fraction=config["split"]["valid_fraction"],
                             seed=config["seed"]))
