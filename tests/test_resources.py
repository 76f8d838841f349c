"""milage.resources (what jobs ask a scheduler for) and milage.device (where Keras runs)."""

import math
import os

import numpy as np
import pandas as pd
import pytest

from milage import device, resources
from milage.errors import MilageError
from milage.settings import TrainSettings
from milage.trans_memory import PARAM_COPIES_SEARCH, parameter_bytes


def write_prepared(folder, n_snps=50, n_individuals=10, n_genes=6):
    np.save(folder / "dosages.npy", np.zeros((n_snps, n_individuals), dtype=np.uint8))
    np.save(folder / "residuals.npy", np.zeros((15, n_genes), dtype=np.float32))
    pd.DataFrame({"individual": range(n_individuals),
                  "split": ["train"] * 7 + ["test"] * 3}).to_csv(
        folder / "individuals.tsv", sep="\t", index=False)
    pd.DataFrame({"tissue": ["a", "b", "c"] * 5}).to_csv(folder / "samples.tsv", sep="\t",
                                                         index=False)
    pd.DataFrame({"cis_start": [0, 0, 10], "cis_stop": [4, 200, 30]}).to_csv(
        folder / "cis_windows.tsv", sep="\t", index=False)


def test_trans_request_covers_the_jobs_own_memory_estimate(tmp_path):
    assert resources.trans_shape(tmp_path, tmp_path / "residuals.npy") is None
    write_prepared(tmp_path)
    shape = resources.trans_shape(tmp_path, tmp_path / "residuals.npy")
    assert shape == dict(n_snps=50, n_individuals=10, n_tissues=3, n_genes=6, n_train=7,
                         data_bytes=10 * 50 + 2 * 4 * 15 * 6)
    train = TrainSettings()
    mb = resources.trans_mem_mb("nn", shape, 4, train)
    assert mb * resources.MB >= 1.2 * PARAM_COPIES_SEARCH * parameter_bytes("nn", 50, 3, 6, 4)
    assert resources.trans_mem_mb("nn", shape, 4, train, attempt=2) == pytest.approx(2 * mb, 1)
    assert resources.trans_mem_mb("nn", None, 4, train) == resources.PLANNED_MB


def test_runtime_grows_with_the_data(tmp_path):
    write_prepared(tmp_path)
    shape = resources.trans_shape(tmp_path, tmp_path / "residuals.npy")
    small = resources.trans_minutes(shape, 4, 10)
    units = 10 * (50 + 3 * 6) * 4 * 10           # individuals x (SNPs + cells) x T x epochs
    assert small == math.ceil(resources.TRAIN_BASE_MINUTES
                              + units * resources.TRAIN_SECONDS_PER_UNIT / 60)
    big = resources.trans_minutes({**shape, "n_snps": 10**7, "n_individuals": 1000}, 400, 300)
    assert big > 100 * small
    cis = resources.cis_shape(tmp_path, max_window_snps=100)
    assert cis == dict(n_genes=3, window_snps=(4 + 100 + 20) / 3, n_individuals=10)
    assert resources.cis_minutes(cis, 500) == math.ceil(
        resources.MIN_MINUTES + 500 * cis["window_snps"] * 10 * resources.CIS_SECONDS_PER_UNIT / 60)
    assert resources.reading_minutes(6000) == resources.MIN_MINUTES + 100


def test_cpu_hides_the_gpus_from_the_backend(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(device, "gpu_name", lambda: pytest.fail("cpu must not load Keras"))
    assert device.select("cpu") == "cpu"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


def test_gpu_without_one_stops_naming_the_key_and_auto_takes_one_when_visible(monkeypatch):
    monkeypatch.setattr(device, "gpu_name", lambda: None)
    with pytest.raises(MilageError, match=r"config trans.device asks for a GPU, but the Keras "
                                          r"backend '\w+' sees no GPU on .*\. Fix: run on a"):
        device.select("gpu")
    assert device.select("auto") == "cpu"
    monkeypatch.setattr(device, "gpu_name", lambda: "NVIDIA H200")
    assert device.select("auto") == device.select("gpu") == "gpu"
    with pytest.raises(MilageError, match="config trans.device: 'tpu' is not one of"):
        device.select("tpu")
