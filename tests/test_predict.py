"""Expression of new individuals from genotypes alone: `milage predict` and its library call
give the cis prediction plus the trans model's, per tissue, named as PredictDB's files."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, assert_predicted

from milage import cis, cli
from milage.predict import predict_expression
from milage.settings import CisSettings
from milage.trans_data import predict_samples
from milage.trans_models import MODELS, NN


@pytest.fixture(scope="module")
def finished_run(tiny_trans, tiny_prepared, tmp_path_factory):
    """A results folder as the workflow leaves it: cis weights and a trained (random) NN,
    non-zero alpha on every third SNP (saved: those rows only); the expected predictions,
    cis + trans and cis alone."""
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
    model.params["alpha"][np.arange(len(model.alpha)) % 3 > 0] = 0.0
    (results / "trans" / "nn").mkdir(parents=True)
    model.save(results / "trans" / "nn" / "params.npz", data)
    (results / "prepared").symlink_to(tiny_prepared)
    cis_only = cis.predict(ds, fit.weights, fit.intercepts)
    expected = cis_only + predict_samples(model.network(), data)
    return results, ds, expected, tiny_prepared.parent / "tiny.vcf.gz", cis_only


def test_predictions_are_cis_plus_trans_of_every_individual(finished_run, tmp_path):
    results, ds, expected, vcf, _ = finished_run
    paths = predict_expression(results / "prepared", results / "cis" / "weights.parquet",
                               results / "cis" / "intercepts.parquet",
                               results / "trans" / "nn" / "params.npz", vcf, tmp_path)
    assert len(paths) == len(ds.tissues)
    assert_predicted(tmp_path, ds, expected)


def predict(results, genotypes, out, model="nn") -> int:
    return cli.main(["predict", "--results", str(results), "--model", model, "--genotypes",
                     str(genotypes), "--out", str(out)])


def test_the_command_line_writes_the_same_under_the_predictdb_names(finished_run, tmp_path):
    results, ds, expected, vcf, _ = finished_run
    assert predict(results, vcf, tmp_path) == 0
    assert_predicted(tmp_path, ds, expected)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == len(ds.tissues) and all(  # "Adipose - Visceral (Omentum)" among them
        re.fullmatch(r"\w+\.predicted_expression\.tsv\.gz", n) for n in names)
    assert "Adipose_Visceral_Omentum.predicted_expression.tsv.gz" in names


def test_model_cis_predicts_cis_alone(finished_run, tmp_path):
    results, ds, _, vcf, cis_only = finished_run
    assert predict(results, vcf, tmp_path, model="cis") == 0
    assert_predicted(tmp_path, ds, cis_only)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("milage predict: ") and err.count("\n") == 1, err
    assert "config" not in err
    return err


def test_a_missing_results_folder_names_the_file_and_its_rule(finished_run, tmp_path, capsys):
    *_, vcf, _ = finished_run
    assert predict(tmp_path / "nowhere", vcf, tmp_path / "out") == 2
    err = one_line_error(capsys)
    assert "prepared/snps.tsv.gz" in err and "prepare_genotypes" in err and "--results" in err


def test_a_missing_trans_model_names_trans_train(finished_run, tmp_path, capsys):
    results, *_, vcf, _ = finished_run
    assert predict(results, vcf, tmp_path, model="tm") == 2
    err = one_line_error(capsys)
    assert "trans/tm/params.npz" in err and "trans_train" in err


def test_missing_genotypes_name_the_option(finished_run, tmp_path, capsys):
    results, *_ = finished_run
    assert predict(results, tmp_path / "missing.vcf.gz", tmp_path) == 2
    err = one_line_error(capsys)
    assert "missing.vcf.gz: the genotypes file does not exist" in err and "--genotypes" in err


@pytest.mark.parametrize("name", ["notes.txt", "notes.bed"])
def test_genotypes_that_are_not_vcf_or_plink_say_what_was_expected(finished_run, tmp_path,
                                                                    capsys, name):
    results, *_ = finished_run
    (tmp_path / name).write_text("not genotypes\n")
    assert predict(results, tmp_path / name, tmp_path / "out") == 2
    err = one_line_error(capsys)
    assert f"{name}: " in err and "a VCF/BCF with DS or GT, or a PLINK .bed with .bim/.fam " \
        "beside it" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert re.fullmatch(r"milage \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


def test_the_model_choices_are_the_registered_models():
    assert cli.TRANS_MODELS == MODELS


def test_help_runs_as_a_command_and_shows_the_example():
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "milage.cli", "predict", "--help"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0 and cli.EXAMPLE in done.stdout
