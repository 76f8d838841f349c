"""The trans models' protocol: the registry, saving and loading, and a fourth model that
runs through training, evaluation, the trans-eQTL table and a figure by registering alone."""

from dataclasses import replace

import keras
import numpy as np
import pandas as pd
import pytest
from keras import ops

from milage import analysis, plots, trans_data
from milage.errors import MilageError
from milage.evaluate import flag_memory_limited
from milage.settings import InitSettings, TrainSettings
from milage.trans_data import network_ve, predict_samples, split_ve
from milage.trans_eqtls import trans_eqtls
from milage.trans_loadings import dense_loadings
from milage.trans_models import MODELS, REGISTRY, FactorModel, TransModel, model_class, register
from milage.trans_network import (
    ALIGN,
    NARROW_ROWS,
    aligned_empty,
    device_array,
    host_array,
    make_optimizer,
)
from milage.trans_train import fit_model


@pytest.mark.parametrize("kind", MODELS)
def test_a_saved_model_loads_as_its_class_with_its_extras(tiny_trans, tmp_path, kind):
    ds, data = tiny_trans
    rng = np.random.default_rng(0)
    zeros = model_class(kind).zeros(data.genotypes.shape[1], len(ds.tissues), len(ds.genes), 3)
    model = model_class(kind)({name: rng.standard_normal(v.shape).astype("float32")
                               for name, v in zeros.params.items()}, {"loadings": np.ones(3)})
    model.save(tmp_path / "m.npz", data)
    loaded = TransModel.load(tmp_path / "m.npz")
    assert type(loaded) is model_class(kind) and loaded.dims == model.dims
    for name, values in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], values)
    assert sorted(loaded.extras) == ["loadings", "snp_mean", "snp_sd"]
    np.testing.assert_array_equal(loaded.extras["snp_sd"], data.snp_sd)
    network = loaded.network()
    assert [v.name for v in network.weights] == list(model.axes)
    # every model's loadings reproduce its network's trans expression
    x = data.standardised(np.arange(5))
    f = ops.convert_to_numpy(network.factors(x))
    np.testing.assert_allclose(ops.convert_to_numpy(network(x)) - ops.convert_to_numpy(
        network(np.zeros_like(x))), np.einsum("it,tkj->ikj", f, loaded.loadings()) - np.einsum(
        "it,tkj->ikj", ops.convert_to_numpy(network.factors(np.zeros_like(x))),
        loaded.loadings()), rtol=1e-4, atol=1e-4)


def test_a_saved_model_keeps_the_nonzero_rows_of_alpha(tiny_trans, tmp_path):
    """alpha is saved as its non-zero rows and their SNPs (every SNP's rows are 16 GB at
    GTEx v8); loaded, its rows of every SNP are the model's, and its network over its own
    SNPs predicts as the one over every SNP. A file saved with every SNP's rows (before
    this) loads as it was."""
    ds, data = tiny_trans
    n_snps = data.genotypes.shape[1]
    model = model_class("nn").zeros(n_snps, len(ds.tissues), len(ds.genes), 3)
    model.params["alpha"][[9, 4], [1, 2]] = [0.5, -2.0]
    model.params["beta"][:] = 0.1
    model.save(tmp_path / "m.npz", data)
    with np.load(tmp_path / "m.npz") as saved:
        assert saved["alpha_snps"].tolist() == [4, 9] and saved["alpha"].shape == (2, 3)
    loaded = TransModel.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.rows(np.arange(n_snps)), model.alpha)
    np.testing.assert_array_equal(loaded.rows(np.array([9, -1, 0])),
                                  [[0, 0.5, 0], [0, 0, 0], [0, 0, 0]])
    x = data.standardised(np.arange(6))
    np.testing.assert_allclose(ops.convert_to_numpy(loaded.network()(x[:, [4, 9]])),
                               ops.convert_to_numpy(model.network()(x)), rtol=1e-6)
    np.savez(tmp_path / "old.npz", **model.params, kind=np.array("nn"),
             snp_mean=data.snp_mean, snp_sd=data.snp_sd)
    old = TransModel.load(tmp_path / "old.npz")
    assert old.snps.tolist() == list(range(n_snps)) and np.array_equal(old.alpha, model.alpha)


def test_the_ve_table_flags_models_whose_alpha_path_memory_moved(tiny_trans, tmp_path, caplog):
    """A model saved with memory_limited True (its alpha path moved or ended for lack of
    memory) is flagged True in the VE table, with a warning; False stays False; a model
    saved before the flag existed, and the cis rows, are empty (not False)."""
    ds, data = tiny_trans
    model = model_class("nn").zeros(data.genotypes.shape[1], len(ds.tissues), len(ds.genes), 3)
    params = {}
    for kind, extras in (("ml", {"memory_limited": True}), ("nn", {"memory_limited": False}),
                         ("tm", {})):
        params[kind] = str(tmp_path / f"{kind}.npz")
        model_class("nn")(model.params, extras).save(params[kind], data)
    table = pd.DataFrame({"model": ["cis", "ml", "nn", "tm"], "ve": [0.4, 0.5, 0.5, 0.5]})
    flagged = flag_memory_limited(table, params)
    assert flagged["memory_limited"].astype(object).where(
        flagged["memory_limited"].notna(), None).tolist() == [None, True, False, None]
    assert caplog.text.count("memory moved or ended alpha's penalty path") == 1
    assert "ml: memory moved or ended" in caplog.text


def test_host_array_reads_a_tensorflow_tensor_in_place():
    tensor = ops.convert_to_tensor(np.arange(6, dtype="float32"))
    first, second = host_array(tensor), host_array(tensor)
    assert first.tolist() == list(range(6))
    assert np.shares_memory(first, second) == (keras.backend.backend() == "tensorflow")


@pytest.mark.parametrize("shape", [(1,), (3, 7), (2, 5, 3)])
def test_an_aligned_array_is_shared_with_tensorflow_and_another_is_copied(shape):
    values = np.random.default_rng(0).standard_normal(shape).astype("float32")
    aligned = aligned_empty(shape)
    aligned[...] = values
    assert aligned.ctypes.data % ALIGN == 0 and aligned.flags.c_contiguous
    other = np.empty(values.size + 1, "float32")[1:].reshape(shape)   # 4 bytes off
    other[...] = values
    for array, shared in ((aligned, keras.backend.backend() == "tensorflow"), (other, False)):
        tensor = device_array(array)
        np.testing.assert_array_equal(ops.convert_to_numpy(tensor), values)
        assert np.shares_memory(host_array(tensor), array) == shared


@pytest.mark.parametrize("n_snps", [0, 6])
def test_the_traced_prediction_is_the_network_call(n_snps):
    """predict_batch (one graph on TensorFlow) gives what the eager call gives, also for a
    network with no SNP, whose factors are the activation of a alone."""
    rng = np.random.default_rng(5)
    zeros = model_class("nn").zeros(n_snps, 3, 4, 2)
    network = model_class("nn")({k: rng.standard_normal(v.shape).astype("float32")
                                 for k, v in zeros.params.items()}).network()
    x = rng.standard_normal((5, n_snps)).astype("float32")
    got = ops.convert_to_numpy(network.predict_batch(x))
    np.testing.assert_allclose(got, ops.convert_to_numpy(network(x)), rtol=1e-6, atol=1e-6)
    if n_snps == 0:
        f = 1 / (1 + np.exp(-ops.convert_to_numpy(network.a)))
        want = (np.einsum("t,tkj->kj", f, ops.convert_to_numpy(network.beta))
                + ops.convert_to_numpy(network.b))
        np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("kind", MODELS)
def test_the_traced_step_is_train_on_batch(kind, jit):
    """train_batch (one graph of its own on TensorFlow) takes Keras' train_on_batch's steps,
    with XLA compilation (as on a GPU) or without: the same losses, weights and Adam
    moments, over batches of both gradient forms, and after a recompile it leaves frozen
    variables as they are."""
    rng = np.random.default_rng(7)
    params = {k: rng.standard_normal(v.shape).astype("float32")
              for k, v in model_class(kind).zeros(9, 3, 5, 2).params.items()}
    batches = [(rng.standard_normal((n, 9)).astype("float32"),
                (rng.standard_normal((n, 3, 5)).astype("float32"),
                 (rng.random((n, 3)) < 0.6).astype("float32")))
               for n in (6, NARROW_ROWS + 8, 6)]
    runs = []
    for train in ("train_on_batch", "train_batch"):
        network = model_class(kind)(params).network()
        optimizer = make_optimizer("adam", 0.05, {network.penalised[0]: 0.1})
        network.compile(optimizer=optimizer, jit_compile=jit)
        losses = [float(getattr(network, train)(x, y)) for x, y in batches]
        runs.append((losses, [ops.convert_to_numpy(v) for v in
                              [*network.weights, *optimizer.variables]]))
    assert runs[1][0] == pytest.approx(runs[0][0], rel=1e-6)
    for got, want in zip(runs[1][1], runs[0][1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    trained = dict(zip([v.name for v in network.weights], runs[1][1], strict=False))
    frozen = network.trainable_variables[-1]
    before = ops.convert_to_numpy(frozen)
    frozen.trainable = False
    network.compile(optimizer=make_optimizer("adam", 0.05, {}))
    network.train_batch(*batches[0])
    np.testing.assert_array_equal(ops.convert_to_numpy(frozen), before)
    assert not np.array_equal(ops.convert_to_numpy(network.a), trained["a"])  # a trains on


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("block", [None, 1, 10_000])
def test_network_ve_is_split_ve_of_the_predictions(tiny_trans, monkeypatch, kind, block):
    """The VE that training records every epoch, predicted for the observed samples a group
    of tissues at a time (NaN residuals left out), equals the VE of the whole prediction
    array: with all tissues in one block (default), one tissue and one individual a block
    (1), or a few tissues and individuals (10,000 values); a non-finite weight makes it
    NaN, not a number."""
    if block:
        monkeypatch.setattr(trans_data, "PREDICT_BATCH_VALUES", block)
    ds, data = tiny_trans
    rng = np.random.default_rng(3)
    zeros = model_class(kind).zeros(data.genotypes.shape[1], len(ds.tissues), len(ds.genes), 3)
    network = model_class(kind)({k: rng.standard_normal(v.shape).astype("float32") * 0.1
                                 for k, v in zeros.params.items()}).network()
    residuals = data.residuals.copy()
    residuals[2, :3] = np.nan
    data = replace(data, residuals=residuals)
    expected = split_ve(data, predict_samples(network, data))
    got = network_ve(network, data)
    assert list(got) == ["train", "valid", "test"] and np.isfinite(list(got.values())).all()
    nothing = split_ve(data, None)            # the prediction matters: a wrong one shows
    assert all(abs(expected[s] - nothing[s]) > 0.01 for s in expected)
    for split, value in expected.items():
        assert got[split] == pytest.approx(value, rel=1e-7)   # float32 round-off
    assert network_ve(network, data, ("valid",)) == {"valid": pytest.approx(got["valid"],
                                                                             rel=1e-7)}
    assert network_ve(network, replace(data, sst={}), ("valid",)) == {}
    loadings = next(w for w in network.weights if w.name in ("beta", "W"))
    value = ops.convert_to_numpy(loadings)
    value[(0,) * value.ndim] = np.nan
    loadings.assign(value)
    assert np.isnan(network_ve(network, data)["train"])


def test_an_unknown_model_is_named():
    with pytest.raises(MilageError, match=r"^trans model 'xx' is unknown\. Fix: use one of "
                                          r"ml, nn, tm"):
        model_class("xx")


def test_a_fourth_model_needs_only_its_class(tiny_trans, tmp_path):
    """ML with tanh factors, registered by a class of four lines: trained, saved, loaded,
    evaluated, its trans-eQTLs listed and Fig 5 drawn by the unchanged modules."""

    @register
    class Tanh(FactorModel):
        name = "ml_tanh"
        activation = "tanh"

    ds, data = tiny_trans
    try:
        network, history = fit_model("ml_tanh", data, ds.genes[["cis_start", "cis_stop"]]
                                     .to_numpy(), InitSettings(n_factors=3, beta_lambda=0.01),
                                     TrainSettings(max_epochs=4, learning_rate=0.003,
                                                   refit_lambdas=(), l1={"alpha": 0.02}))
        x = data.standardised(np.arange(4))
        np.testing.assert_allclose(ops.convert_to_numpy(network.factors(x)), np.tanh(
            x @ ops.convert_to_numpy(network.alpha) + ops.convert_to_numpy(network.a)),
            rtol=1e-5, atol=1e-6)
        TransModel.from_network(network, loadings=dense_loadings(network, data)).save(
            tmp_path / "tanh.npz", data)
        model = TransModel.load(tmp_path / "tanh.npz")
        assert isinstance(model, Tanh)
        ve = split_ve(data, predict_samples(model.network(), data.over(model.snps)))
        kept = history.loc[history["ve_valid"].idxmax()]          # early stopping's epoch
        assert ve["train"] == pytest.approx(kept["ve_train"], rel=1e-6)
        assert ve["valid"] == pytest.approx(kept["ve_valid"], rel=1e-6)
        table = trans_eqtls(model, ds, data.residuals, fdr=0.1)
        assert np.isin(table["snp_id"], ds.snps["snp_id"].iloc[model.snps]).all()
        similarity = analysis.tissue_similarity(model, ds.tissues, 3.5, seed=1)
        plots.save(plots.fig5_dendrogram(similarity, ["#000000"] * len(ds.tissues),
                                         "ml_tanh"), tmp_path / "fig5.png")
        assert (tmp_path / "fig5.png").stat().st_size > 10_000
    finally:
        REGISTRY.pop("ml_tanh")
