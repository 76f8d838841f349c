"""Expression of new individuals from genotypes alone: `milage predict` and its library call
give the cis prediction plus the trans model's, per tissue, named as PredictDB's files."""

import numpy as np
import pytest
from conftest import assert_predicted

from milage import cis, cli
from milage.predict import predict_expression
from milage.settings import CisSettings
from milage.trans_data import predict_samples
from milage.trans_models import NN


@pytest.fixture(scope="module")
def finished_run(tiny_trans, tiny_prepared, tmp_path_factory):
    """A results folder as the workflow leaves it: cis weights and a trained (random) NN."""
    ds, data = tiny_trans
    results = tmp_path_factory.mktemp("results")
    fit = cis.fit_genes(ds, np.arange(len(ds.genes)), CisSettings(lambda_=0.05, threads=2))
    (results / "cis").mkdir()
    fit.weights.to_parquet(results / "cis" / "weights.parquet")
    fit.intercepts.to_parquet(results / "cis" / "intercepts.parquet")
    rng = np.random.default_rng(0)
    model = NN({name: 0.05 * rng.standard_normal(v.shape) for name, v in
                NN.zeros(data.genotypes.shape[1], len(ds.tissues), len(ds.genes), 3)
                .params.items()})
    (results / "trans" / "nn").mkdir(parents=True)
    model.save(results / "trans" / "nn" / "params.npz", data)
    (results / "prepared").symlink_to(tiny_prepared)
    expected = cis.predict(ds, fit.weights, fit.intercepts) + predict_samples(
        model.network(), data)
    return results, ds, expected, tiny_prepared.parent / "tiny.vcf.gz"


def test_predictions_are_cis_plus_trans_of_every_individual(finished_run, tmp_path):
    results, ds, expected, vcf = finished_run
    paths = predict_expression(results / "prepared", results / "cis" / "weights.parquet",
                               results / "cis" / "intercepts.parquet",
                               results / "trans" / "nn" / "params.npz", vcf, tmp_path)
    assert len(paths) == len(ds.tissues)
    assert_predicted(tmp_path, ds, expected)


def test_the_command_line_writes_the_same(finished_run, tmp_path):
    results, ds, expected, vcf = finished_run
    assert cli.main(["predict", "--results", str(results), "--model", "nn", "--genotypes",
                     str(vcf), "--out", str(tmp_path)]) == 0
    assert_predicted(tmp_path, ds, expected)


def test_the_command_line_reports_bad_input_in_one_line(finished_run, tmp_path, capsys):
    results, *_ = finished_run
    assert cli.main(["predict", "--results", str(results), "--model", "nn", "--genotypes",
                     str(tmp_path / "missing.vcf.gz"), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("milage predict: ") and "the genotype VCF file does not exist" in err
