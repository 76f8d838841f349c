"""Shared fixtures: a tiny simulated cohort written in the real formats."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest

from milage.settings import SimulationSettings
from milage.sim_cohort import simulate_cohort, write_cohort

REPO = Path(__file__).resolve().parents[1]

# a test whose reference is TensorFlow's autodiff of the network: on another Keras backend
# (tests/test_trans.py runs some tests under JAX) the network's tensors are not TensorFlow's
tensorflow_autodiff = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                         reason="the reference is TensorFlow's autodiff")

TINY = dict(n_individuals=60, n_ungenotyped=3, n_tissues=8, n_genes=120, n_low_genes=10,
            n_chrx_genes=4, n_desert_genes=2, n_snps=1500, genome_scale=0.01,
            cis_window=100_000, n_factors=4, module_size=10, snps_per_factor=5,
            min_tissue_fraction=0.4, n_replicates=2, n_decoy_sets=5, seed=7)


def assert_predicted(folder: Path, ds, expected: np.ndarray) -> None:
    """``milage predict``'s files in ``folder`` hold ``expected`` (samples x genes) for every
    sample of the dataset ``ds``."""
    from milage.files import file_names

    for k, name in enumerate(file_names(ds.tissues).values()):
        table = pd.read_csv(folder / f"{name}.predicted_expression.tsv.gz", sep="\t",
                            index_col="individual")
        rows = np.nonzero(ds.samples["tissue_index"].to_numpy() == k)[0]
        got = table.loc[ds.samples["individual"].to_numpy()[rows], ds.genes["gene_id"]]
        np.testing.assert_allclose(got.to_numpy(), expected[rows], atol=1e-4)


def tissue_table() -> pd.DataFrame:
    return pd.read_csv(REPO / "resources" / "tissues.tsv", sep="\t")


def write_tiny(directory: Path, **overrides) -> dict[str, Path]:
    """Simulate and write the tiny cohort; return the file paths by kind."""
    cohort = simulate_cohort(SimulationSettings(**{**TINY, **overrides}), tissue_table())
    paths = {k: directory / f"tiny.{ext}" for k, ext in [
        ("vcf", "vcf.gz"), ("gct", "gct.gz"), ("attributes", "attributes.tsv"),
        ("gtf", "gtf"), ("gmt", "gmt"), ("truth", "npz")]}
    write_cohort(cohort, paths)
    return paths


@pytest.fixture(scope="session")
def tiny_cohort():
    return simulate_cohort(SimulationSettings(**TINY), tissue_table())


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


def prepare(directory: Path, edit=None, scope: str = "gene", **overrides) -> Path:
    """Simulate a cohort and run the data stages in-process; return the prepared folder.
    ``edit(files)`` may change the written files first; ``scope`` is the Z-score scope."""
    from milage.cohort_check import prepare_cohort

    return prepare_cohort(directory, SimulationSettings(**{**TINY, **overrides}),
                          tissue_table(), 10, scope, edit, stem="tiny")


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("tiny_prepared"))


@pytest.fixture(scope="session")
def tiny_trans(tiny_prepared):
    """Trans data of the tiny cohort with cis residuals from the oracle-free cis fit."""
    from milage import cis
    from milage.dataset import load_dataset
    from milage.settings import CisSettings
    from milage.trans_data import trans_data

    ds = load_dataset(tiny_prepared)
    fit = cis.fit_genes(ds, np.arange(len(ds.genes)), CisSettings(lambda_=0.05, threads=2))
    residuals = ds.expression - cis.predict(ds, fit.weights, fit.intercepts)
    return ds, trans_data(ds, residuals)


@pytest.fixture(scope="session")
def medium_trained(tmp_path_factory):
    """449 individuals, 8 tissues (4 planted groups, Testis the outlier), 400 genes, 4 planted
    factors of 3 trans-eQTLs each; cis fitted, then ML, NN and TM trained with the demo's
    settings. Returns ds, truth, residuals (of the cis fit), models (TransModel by name, as
    saved), test_ve (cis, oracle, models) and gmt (the cohort's gene sets: planted modules
    MODULE_Fxx and DECOY_xxx sets).
    """
    import yaml

    from milage import cis
    from milage.dataset import load_dataset
    from milage.evaluate import oracle_prediction, variance_explained
    from milage.settings import CisSettings, InitSettings, TrainSettings
    from milage.trans_data import network_ve, trans_data
    from milage.trans_loadings import dense_loadings
    from milage.trans_models import MODELS, TransModel
    from milage.trans_train import fit_model

    d = tmp_path_factory.mktemp("medium_trained")
    prepared = prepare(d, n_individuals=449, n_tissues=8, n_genes=400, n_snps=4000,
                       genome_scale=0.03, cis_window=200_000, n_factors=4, module_size=60,
                       snps_per_factor=3, min_tissue_fraction=0.4)
    ds = load_dataset(prepared)
    truth = dict(np.load(d / "tiny.npz"))
    fit = cis.fit_genes(ds, np.arange(len(ds.genes)), CisSettings(threads=2))
    cis_pred = cis.predict(ds, fit.weights, fit.intercepts)
    test_ve = {"cis": variance_explained(ds, cis_pred, "cis").set_index("split")["ve"]["test"],
               "oracle": variance_explained(ds, oracle_prediction(ds, truth), "oracle")
               .set_index("split")["ve"]["test"]}
    data = trans_data(ds, ds.expression - cis_pred)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["trans"]
    models = {}
    for kind in MODELS:
        network, _ = fit_model(kind, data, ds.genes[["cis_start", "cis_stop"]].to_numpy(),
                               InitSettings(**{**config["init"], "n_factors": 4}),
                               TrainSettings(**config["train"]))
        fed = data.over(network.snps)
        test_ve[kind] = network_ve(network, fed, ("test",))["test"]
        TransModel.from_network(network, loadings=dense_loadings(network, fed)).save(
            d / f"{kind}.npz", data)
        models[kind] = TransModel.load(d / f"{kind}.npz")
    return SimpleNamespace(ds=ds, truth=truth, residuals=data.residuals, models=models,
                           test_ve=test_ve, gmt=d / "tiny.gmt")
