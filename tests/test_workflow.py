"""The Snakemake workflow: lint, format, data rules end to end, errors, reproducibility."""

import hashlib
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, TINY, assert_predicted
from metaxcan import read_covariance, read_model

from milage.dataset import load_dataset
from milage.eqtl_recovery import read_calls
from milage.files import file_names

pytestmark = pytest.mark.slow     # every test here runs Snakemake

SNAKEFILE = REPO / "workflow" / "Snakefile"
PREPARED = ("dosages.npy", "snps.tsv.gz", "genotyped.tsv", "individuals.tsv", "expression.npy",
            "samples.tsv", "genes.tsv", "moments.tsv", "cis_windows.tsv")


def tiny_config(directory, chunk_size=500, **inputs):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["dataset"] = "tiny"
    config["seed"] = TINY["seed"]
    keys = set(config["simulate"]) | {"min_tissue_fraction", "module_size", "snps_per_factor"}
    config["simulate"] = {k: v for k, v in TINY.items() if k in keys}
    config["cis"]["window"] = TINY["cis_window"]
    config["expression"]["min_samples"] = 10
    config["cis"]["chunk_size"] = chunk_size
    config["trans"].update(n_factors=4, sweep={"model": "nn", "alpha_lambdas": [0.1]})
    config["trans"]["train"].update(max_epochs=3, checkpoint_every=1)
    sim = config["simulation"]
    sim["fig2"].update(sizes=[80], replicates=1)
    sim["fig2"]["data"].update(n_snps=100, n_genes=6, n_tissues=2, n_factors=2)
    sim["fig2"]["train"].update(max_epochs=3)
    sim["timing"].update(gpu=False, grid=dict(scales=[0.0002], factors=[2], factor_scale=0.0002,
                                              size_factors=4, individuals=20, repeats=1))
    config["predict"]["genotypes"] = "results/tiny/raw/genotypes.vcf.gz"
    config["inputs"].update(inputs)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(directory, *args, snakefile=SNAKEFILE):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--cores", "2",
           "--show-failed-logs", "--directory", str(directory), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=directory)


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """The whole workflow run twice from scratch in two folders, with cis chunks of 500
    (one chunk) and of 7 genes."""
    runs = []
    for name, chunk_size in (("a", 500), ("b", 7)):
        d = tmp_path_factory.mktemp(name)
        result = snakemake(d, "--configfile", str(tiny_config(d, chunk_size)))
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append(d / "results" / "tiny")
    return runs


def test_data_rules_end_to_end(tiny_runs):
    ds = load_dataset(tiny_runs[0] / "prepared")
    n_snps, n_geno = ds.dosages.shape
    assert n_geno == TINY["n_individuals"] and n_snps == len(ds.snps)
    assert len(ds.individuals) == TINY["n_individuals"]
    assert (ds.individuals["geno_col"] >= 0).all()
    assert ds.expression.shape == (len(ds.samples), len(ds.genes))
    assert len(ds.genes) == TINY["n_genes"] - TINY["n_low_genes"]
    assert (ds.samples["ind_index"] >= 0).all() and len(ds.tissues) == TINY["n_tissues"]
    assert not ds.samples.duplicated(["individual", "tissue"]).any()
    train = (ds.samples["split"] == "train").to_numpy()
    np.testing.assert_allclose(ds.expression[train].mean(axis=0), 0, atol=1e-4)
    n_cis = ds.genes["cis_stop"] - ds.genes["cis_start"]
    assert (n_cis == 0).sum() == TINY["n_desert_genes"] and n_cis.median() > 5
    x = ds.genotypes()
    assert x.shape == (TINY["n_individuals"], n_snps) and x.flags.c_contiguous
    col = ds.individuals["geno_col"].to_numpy()[3]
    np.testing.assert_array_equal(x[3], ds.dosages[:, col])


def test_prepared_demo_is_bit_for_bit_reproducible(tiny_runs):
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    for name in PREPARED:
        a, b = (run / "prepared" / name for run in tiny_runs)
        assert digest(a) == digest(b), name


def test_cis_stage_outputs_do_not_depend_on_chunk_size(tiny_runs):
    a, b = tiny_runs
    assert len(list((b / "cis" / "chunks").glob("*.weights.parquet"))) > 1
    for name in ("weights.parquet", "intercepts.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / "cis" / name),
                                      pd.read_parquet(b / "cis" / name))
    np.testing.assert_array_equal(np.load(a / "cis" / "residuals.npy"),
                                  np.load(b / "cis" / "residuals.npy"))
    ve = pd.read_csv(a / "evaluation" / "variance_explained.tsv", sep="\t")
    assert set(ve["model"]) == {"cis", "elastic_net", "oracle_cis", "ml", "nn", "tm", "oracle"}
    assert set(ve["split"]) == {"train", "valid", "test"}
    comparison = pd.read_csv(a / "evaluation" / "cis_vs_elastic_net.tsv", sep="\t")
    assert comparison["model"].tolist() == ["cis", "elastic_net"]
    assert len(list((a / "predictdb").glob("*.db"))) == TINY["n_tissues"]


def test_predictdb_export_predicts_as_milage_when_read_as_metaxcan_reads_it(tiny_runs):
    run = tiny_runs[0]
    ds = load_dataset(run / "prepared")
    pred = np.load(run / "cis" / "predictions.npy")
    intercepts = pd.read_parquet(run / "cis" / "intercepts.parquet")
    tq = pd.read_csv(run / "cis" / "weights.tsv.gz", sep="\t")
    snp_rows, gene_cols = pd.Index(ds.snps["snp_id"]), pd.Index(ds.genes["gene_id"])
    train = ds.individuals.loc[ds.individuals["split"] == "train", "geno_col"].to_numpy()
    n_genes = 0
    for tissue, name in file_names(ds.tissues).items():
        weights, extra = read_model(run / "predictdb" / f"{name}.db")
        cov = read_covariance(run / "predictdb" / f"{name}.txt.gz")
        assert extra["gene"].tolist() == list(cov) == list(weights["gene"].unique())
        assert (extra["pred.perf.pval"] <= 0.05).all() and (extra["pred.perf.R2"] >= 0.01).all()
        samples = ds.samples[ds.samples["tissue"] == tissue]
        cols = ds.individuals["geno_col"].to_numpy()[samples["ind_index"].to_numpy()]
        for gene, w in weights.groupby("gene", sort=False):
            rows = snp_rows.get_indexer(w["rsid"])
            assert (ds.snps["alt"].to_numpy()[rows] == w["eff_allele"].to_numpy()).all()
            from_db = w["weight"].to_numpy() @ ds.dosages.take(rows, cols)
            intercept = intercepts.query("gene_id == @gene and tissue == @tissue")["intercept"]
            np.testing.assert_allclose(
                from_db, pred[samples.index, gene_cols.get_loc(gene)] - intercept.item(),
                atol=1e-4)
            np.testing.assert_allclose(cov[gene].loc[w["rsid"], w["rsid"]],
                                       np.atleast_2d(np.cov(ds.dosages.take(rows, train))),
                                       rtol=1e-4, atol=1e-6)
            assert len(tq.query("phenotype_id == @gene and tissue == @tissue")) == len(w)
        n_genes += len(extra)
    assert n_genes > 0


def test_trans_stage_is_reproducible_and_predicts_from_genotypes_alone(tiny_runs, tmp_path):
    a, b = tiny_runs
    for model in ("ml", "nn", "tm"):
        pa, pb = np.load(a / "trans" / model / "params.npz"), np.load(b / "trans" / model /
                                                                        "params.npz")
        for name in pa.files:
            np.testing.assert_array_equal(pa[name], pb[name], err_msg=f"{model} {name}")
    history = pd.read_csv(a / "trans" / "nn" / "history.tsv", sep="\t")
    assert history["epoch"].tolist() == [0, 1, 2, 3]
    assert {"ve_train", "ve_valid"} <= set(history.columns)
    for model in ("ml", "nn", "tm"):
        table = read_calls(a / "trans" / model / "trans_eqtls.tsv")
        assert table.columns[-1] == "planted" and table["q"].between(0, 1).all()
        assert set(table["planted"]) <= {"true", "ld_proxy", "false"}
    recovery = pd.read_csv(a / "evaluation" / "trans_eqtl_recovery.tsv", sep="\t")
    assert recovery["model"].tolist() == ["ml", "nn", "tm"]
    assert recovery["planted"].nunique() == 1 and recovery["planted"].iat[0] > 0
    assert not (a / "trans" / "permutations").exists()
    assert (a / "trans" / "sweep" / "nn_0.1.history.tsv").exists()
    # `milage predict` and the predict rule give the evaluation's predictions of every sample
    subprocess.run(["milage", "predict", "--results", str(a), "--model", "nn", "--genotypes",
                    str(a / "raw" / "genotypes.vcf.gz"), "--out", str(tmp_path)], check=True)
    ds = load_dataset(a / "prepared")
    pred = np.load(a / "trans" / "nn" / "predictions.npy")
    for folder in (tmp_path, a / "predicted" / "nn"):
        assert_predicted(folder, ds, pred)


def test_lint_and_format():
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-s", str(SNAKEFILE)],
                          capture_output=True, text=True, cwd=REPO)
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout
    fmt = subprocess.run(["snakefmt", "--check", str(REPO / "workflow")], capture_output=True,
                         text=True)
    assert fmt.returncode == 0, fmt.stderr


def test_config_of_wrong_type_names_the_key(tmp_path):
    config = tiny_config(tmp_path)
    config.write_text(config.read_text().replace("min_samples: 10", "min_samples: ten"))
    result = snakemake(tmp_path, "--configfile", str(config), "-n")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert ("config expression.min_samples: 'ten' is not an integer >= 1. Fix: correct it in "
            "your config (config/README.md documents every key)") in out
    assert "additionalProperties" not in out and len(out.splitlines()) < 30


def test_bad_input_fails_the_rule_with_its_message_and_no_output(tmp_path):
    vcf = tmp_path / "ad.vcf"
    vcf.write_text('##fileformat=VCFv4.2\n##contig=<ID=1>\n'
                   '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depth">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
                   "1\t100\trs1\tA\tG\t.\tPASS\t.\tAD\t1,0\n")
    for name in ("e.gct", "a.tsv", "g.gtf"):
        (tmp_path / name).write_text("")
    config = tiny_config(tmp_path, genotypes=str(vcf), expression_gct=str(tmp_path / "e.gct"),
                         sample_attributes=str(tmp_path / "a.tsv"),
                         gene_annotation=str(tmp_path / "g.gtf"))
    result = snakemake(tmp_path, "--configfile", str(config))
    assert result.returncode != 0
    assert "the VCF declares neither a DS nor a GT FORMAT field" in result.stdout + result.stderr
    prepared = tmp_path / "results" / "tiny" / "prepared"
    assert not prepared.exists() or not any(prepared.iterdir())


def test_malformed_vcf_record_is_one_line_in_the_rule_log_beside_htslib(tmp_path):
    """htslib writes on file descriptor 2: the rule log keeps its message (which names the
    field) above milage's one line naming the file and the record."""
    vcf = tmp_path / "bad.vcf"
    vcf.write_text('##fileformat=VCFv4.2\n##contig=<ID=1>\n'
                   '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\n"
                   "1\t100\trs1\tA\tG\t.\tPASS\t.\tDS\t0\t1\n"
                   "1\t200\trs2\tA\tG\t.\tPASS\t.\tDS\t0\tzz\n")
    config = tiny_config(tmp_path, genotypes=str(vcf), expression_gct="e.gct",
                         sample_attributes="a.tsv", gene_annotation="g.gtf")
    result = snakemake(tmp_path, "results/tiny/prepared/snps.tsv.gz", "--configfile", str(config))
    assert result.returncode != 0
    log = (tmp_path / "results" / "tiny" / "logs" / "prepare_genotypes.log").read_text()
    assert "Invalid character 'z' in 'DS' FORMAT field at 1:200" in log
    assert (f"ERROR milage: {vcf}: record 2 (after 1:100) cannot be read: the file is "
            "truncated or the record malformed") in log
    assert not (tmp_path / "results" / "tiny" / "prepared" / "snps.tsv.gz").exists()


@pytest.mark.parametrize("case", ["gene_tissue_small", "one_tissue"])
def test_degenerate_cohorts_run_with_finite_numbers(tmp_path, case):
    """A 22-individual cohort Z-scored per gene and tissue (tissues of 5 to 18 samples: kept
    SNPs constant in a tissue's training samples gave cis weights of 5.6e292 before), and a
    cohort of one tissue (Figs 5-8 crashed): cis, PredictDB, evaluation and the figures."""
    config = tiny_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["predict"]["genotypes"] = None
    if case == "gene_tissue_small":
        data["seed"] = 5
        data["simulate"].update(n_individuals=22)
        data["expression"].update(zscore_scope="gene_tissue", min_samples=5)
        data["cis"]["cv_folds"] = 3
    else:
        data["simulate"].update(n_tissues=1, min_tissue_fraction=0.9)
    config.write_text(yaml.safe_dump(data))
    targets = ["results/tiny/predictdb", "results/tiny/evaluation/variance_explained.tsv",
               *(f"results/tiny/figures/{name}.png" for name in (
                   "fig5_wpgma_nn", "fig6_mds_nn", "fig7_tm_activation", "fig8_tm_tissues"))]
    result = snakemake(tmp_path, *targets, "--configfile", str(config))
    r = tmp_path / "results" / "tiny"
    assert result.returncode == 0, result.stderr[-3000:]
    weights = pd.read_parquet(r / "cis" / "weights.parquet")["weight"]
    assert len(weights) and np.isfinite(weights).all() and weights.abs().max() < 50
    ve = pd.read_csv(r / "evaluation" / "variance_explained.tsv", sep="\t")
    assert np.isfinite(ve["ve"]).all()
    assert (ve.set_index(["model", "split"])["ve"]["cis", "train"] > 0.2)
    figures = pd.read_csv(r / "figures" / "fig6_mds_nn.tsv", sep="\t")
    if case == "one_tissue":
        assert figures.columns.tolist() == ["note"]
        assert "Fig 6 compares tissues; this dataset has one" in (
            r / "logs" / "figures" / "fig6_mds_nn.log").read_text()
    else:
        assert len(figures) == TINY["n_tissues"]


def test_real_inputs_need_genotypes(tmp_path):
    config = tiny_config(tmp_path, expression_gct="e.gct")
    result = snakemake(tmp_path, "--configfile", str(config), "-n")
    assert result.returncode != 0
    assert "['expression_gct'] given without inputs.genotypes" in result.stdout + result.stderr


def planned_rules(result):
    """{rule: jobs} of a dry run's job table."""
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout[result.stdout.index("Job stats:"):result.stdout.index("total ")]
    return {rule: int(n) for rule, n in (line.split() for line in table.splitlines()[3:])}


def test_real_data_targets_the_analysis_and_simulation_is_its_own_target(tmp_path):
    files = {key: tmp_path / name for key, name in (
        ("genotypes", "g.vcf.gz"), ("expression_gct", "e.gct"),
        ("sample_attributes", "a.tsv"), ("gene_annotation", "g.gtf"), ("gene_sets", "s.gmt"))}
    for path in files.values():
        path.write_text("")
    config = tiny_config(tmp_path, **{key: str(path) for key, path in files.items()})
    data = yaml.safe_load(config.read_text())
    data["predict"]["genotypes"] = str(files["genotypes"])
    config.write_text(yaml.safe_dump(data))
    analysis = planned_rules(snakemake(tmp_path, "--configfile", str(config), "-n"))
    assert not [rule for rule in analysis if rule.startswith(("sim_", "simulate_"))]
    assert {"prepare_genotypes", "trans_train", "trans_sweep", "evaluate", "fig9_factors",
            "enrichment_tables", "export_predictdb", "predict", "all"} <= set(analysis)
    assert analysis["trans_eqtls"] == 3 and "trans_eqtl_recovery" not in analysis
    simulation = planned_rules(snakemake(tmp_path, "--configfile", str(config), "-n",
                                         "simulation"))
    assert simulation == {"sim_recovery": 4, "sim_fig2": 1, "sim_timing": 1, "sim_fig3": 1,
                          "simulation": 1}


MODULE = """configfile: "config/config.yaml"


module milage:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from milage as milage_*
"""


def test_workflow_runs_as_a_module_from_another_folder(tmp_path):
    """Deployed as snakedeploy deploys it: config/ copied, and a Snakefile that uses the
    workflow as a module (by its path here, from GitHub there): the whole demo is planned,
    and the data rules run, finding milage, the schema and resources/ from the module."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    tiny_config(tmp_path / "config")
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(MODULE.format(snakefile=SNAKEFILE))
    planned = planned_rules(snakemake(tmp_path, "-n", snakefile=snakefile))
    assert planned["milage_sim_recovery"] == 4 and planned["milage_all"] == 1
    result = snakemake(tmp_path, *(f"results/tiny/prepared/{name}" for name in PREPARED),
                       snakefile=snakefile)
    assert result.returncode == 0, result.stderr[-3000:]
    ds = load_dataset(tmp_path / "results" / "tiny" / "prepared")
    assert len(ds.individuals) == TINY["n_individuals"] and len(ds.tissues) == TINY["n_tissues"]


def planned_resources(result):
    """[(rule, {resource: value})] of a dry run's jobs."""
    assert result.returncode == 0, result.stderr[-3000:]
    jobs, rule = [], None
    for line in result.stdout.splitlines():
        if line.startswith(("rule ", "checkpoint ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("resources:") and rule:
            items = line.split(":", 1)[1].split(", ")
            jobs.append((rule, dict(item.strip().split("=", 1) for item in items)))
            rule = None
    return jobs


def test_every_job_declares_memory_and_runtime_and_gpu_jobs_request_one(tmp_path):
    config = tiny_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["trans"].update(device="gpu", gpu_model="a100")
    data["simulation"]["timing"]["gpu"] = "auto"
    config.write_text(yaml.safe_dump(data))
    jobs = planned_resources(snakemake(tmp_path, "--configfile", str(config), "-n",
                                       "--forceall"))
    assert {"trans_train", "trans_sweep", "trans_eqtl_recovery", "sim_timing"} <= {
        rule for rule, _ in jobs}
    for rule, resources in jobs:
        if rule != "all":
            assert int(resources["runtime"]) >= 10 and int(resources["mem_mb"]) >= 500, rule
        if rule in ("trans_train", "trans_sweep"):
            assert resources["gpu"] == "1" and resources["gpu_model"] == "a100", rule
        elif rule != "sim_timing":
            assert "gpu" not in resources, rule
    timing = [r.get("gpu") for rule, r in jobs if rule == "sim_timing"]
    assert sorted(timing, key=str) == ["1", None]   # the CPU job requests none
