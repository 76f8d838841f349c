"""Trans-eQTL calls: the held-out factor score and joint test against references, lead
selection with clumping, bad input, and the calls' FDR and recall on planted cohorts."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import linregress

from milage import trans_eqtls as te
from milage.eqtl_recovery import planted_flags, recovery
from milage.errors import MilageError
from milage.trans_models import ML


def test_factor_scores_are_each_individuals_least_squares_over_its_samples():
    rng = np.random.default_rng(0)
    n_fac, n_tis, n_genes, n_ind = 3, 4, 12, 6
    loadings = rng.standard_normal((n_fac, n_tis, n_genes))
    loadings[2, :3] = 0                     # factor 3 only in tissue 4: unidentified without
    intercepts = rng.standard_normal((n_tis, n_genes))
    present = rng.random((n_ind, n_tis)) < 0.6
    present[0], present[1] = False, [True, True, True, False]
    sample_of = np.full(present.shape, -1)
    sample_of[present] = np.arange(present.sum())
    residuals = rng.standard_normal((present.sum(), n_genes))
    got = te.factor_scores(loadings, intercepts, residuals, sample_of)
    np.testing.assert_array_equal(got[0], 0)                  # no sample, no score
    for i in range(1, n_ind):
        tissues = np.nonzero(present[i])[0]
        design = np.concatenate([loadings[:, k].T for k in tissues])
        target = np.concatenate([residuals[sample_of[i, k]] - intercepts[k] for k in tissues])
        ref = np.linalg.lstsq(design, target, rcond=None)[0]
        np.testing.assert_allclose(got[i], ref, atol=1e-10)
    assert got[1, 2] == pytest.approx(0, abs=1e-12)           # minimum norm


def test_joint_test_is_ordinary_least_squares():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (80, 4)).astype(float)
    f = 0.5 * x[:, 0] - 0.3 * x[:, 2] + rng.standard_normal(80)
    one = te.joint_test(x[:, :1], f)
    ref = linregress(x[:, 0], f)
    assert one["effect"][0] == pytest.approx(ref.slope)
    assert one["p"][0] == pytest.approx(ref.pvalue)
    for sign, alternative in ((1, "greater"), (-1, "less")):      # one-sided replication
        got = te.joint_test(x[:, :1], f, np.array([sign]))["p"][0]
        assert got == pytest.approx(linregress(x[:, 0], f, alternative=alternative).pvalue)
    both = te.joint_test(x, f)
    design = np.column_stack([np.ones(80), x])
    coef, sse = np.linalg.lstsq(design, f, rcond=None)[:2]
    se = np.sqrt(sse[0] / (80 - 5) * np.diag(np.linalg.inv(design.T @ design)))[1:]
    np.testing.assert_allclose(both["effect"], coef[1:])
    np.testing.assert_allclose(both["statistic"], coef[1:] / se)
    # a constant column and a copy of another are not tested (p 1); the rest is unchanged
    extra = te.joint_test(np.column_stack([x, np.ones(80), 2 * x[:, 1]]), f)
    np.testing.assert_allclose(extra["p"][:4], both["p"])
    assert extra["p"][4:].tolist() == [1.0, 1.0] and extra["effect"][4:].tolist() == [0, 0]
    assert te.joint_test(x, np.ones(80))["p"].tolist() == [1.0] * 4   # a constant score


def test_leads_clump_their_proxies_and_stop_at_the_screen():
    rng = np.random.default_rng(2)
    n = 300
    causal = rng.standard_normal((n, 2))
    proxy = 0.7 * causal[:, 0] + 0.71 * rng.standard_normal(n)   # r^2 ~ 0.5 with SNP 0
    x = te.standardise(np.column_stack([causal, proxy, proxy, rng.standard_normal((n, 40))]))
    score = causal @ [1.0, 0.4] + rng.standard_normal(n)
    chrom = np.array(["1", "2", "1", "3"] + ["4"] * 40)
    pos = np.array([100, 100, 5000, 100] + list(range(40)))
    groups = te.select_leads(x, score, chrom, pos, max_leads=10)
    assert [g[0] for g in groups] == [0, 1]          # noise fails the Bonferroni screen
    assert groups[0][1].tolist() == [2]              # the proxy on another chromosome is not
    assert len(te.select_leads(x, score, chrom, pos, max_leads=1)) == 1


def _dataset(tmp_path, n=120, n_snps=6, seed=3, splits=None):
    """A Dataset-like namespace of one tissue: factor 1 driven by SNP 0."""
    from types import SimpleNamespace

    from milage.dosages import DosageMatrix, encode

    rng = np.random.default_rng(seed)
    dosages = rng.binomial(2, 0.4, (n_snps, n)).astype(float)
    f = dosages[0] - dosages[0].mean()
    genes = 10
    loading = rng.standard_normal(genes)
    expression = f[:, None] * loading + rng.standard_normal((n, genes))
    path = tmp_path / f"dosages_{n}.npy"
    np.save(path, encode(dosages))
    split = splits if splits is not None else np.where(np.arange(n) < 0.6 * n, "train", "test")
    ds = SimpleNamespace(
        dosages=DosageMatrix(path), tissues=["T0"],
        snps=pd.DataFrame({"snp_id": [f"rs{i}" for i in range(n_snps)], "chrom": "1",
                           "pos": 10_000_000 * np.arange(n_snps)}),
        individuals=pd.DataFrame({"split": split, "geno_col": np.arange(n)}),
        genes=pd.DataFrame({"gene_id": [f"g{j}" for j in range(genes)]}))
    ds.sample_of = lambda: np.arange(n)[:, None]
    model = ML({"alpha": np.zeros((n_snps, 2)), "a": np.zeros(2),
                "beta": np.stack([loading[None], 0 * loading[None]]),
                "b": np.zeros((1, genes))})
    return ds, model, expression


def test_calls_and_their_table(tmp_path):
    ds, model, expression = _dataset(tmp_path)
    model.params["alpha"][[0, 3], 0] = 1.0
    model.params["alpha"][1, 1] = 1.0                  # factor 2 has no loadings: not tested
    table = te.trans_eqtls(model, ds, expression, fdr=0.1, top=2)
    assert table.columns.tolist() == ["factor", "snp_id", "chrom", "pos", "effect",
                                      "statistic", "p", "q", "called", "proxies",
                                      "top_genes", "top_tissues"]
    assert table["snp_id"].tolist() == ["rs0"]       # rs3 fails the training screen
    assert table["called"].all() and table["effect"].item() == pytest.approx(1, abs=0.2)
    loading = np.abs(model.loadings()[0, 0])
    assert table["top_genes"].item() == ",".join(f"g{j}" for j in np.argsort(-loading)[:2])
    assert table["top_tissues"].item() == "T0"
    truth = {"snp_ids": np.array(["rs0", "rs5"]), "alpha": np.array([[1.0, 0.0]])}
    table["planted"] = planted_flags(table, ds, truth)
    row = recovery({"ml": table}, ds, truth, 0.1).iloc[0]
    assert (row["calls"], row["planted"], row["recall"], row["observed_fdr"]) == (1, 1, 1, 0)


def test_no_candidate_gives_an_empty_table(tmp_path):
    ds, model, expression = _dataset(tmp_path)
    table = te.trans_eqtls(model, ds, expression, fdr=0.1)
    assert table.empty and "q" in table.columns


def test_too_few_held_out_individuals_test_nothing_and_non_finite_residuals_stop(tmp_path,
                                                                                   caplog):
    ds, model, expression = _dataset(tmp_path, splits=np.array(["train"] * 105 + ["test"] * 15))
    model.params["alpha"][0, 0] = 1.0
    assert te.trans_eqtls(model, ds, expression, fdr=0.1).empty
    assert "15 held-out (valid+test) individuals have expression, fewer than the 20" in (
        caplog.text) and "Fix: raise split.test_fraction" in caplog.text
    ds, model, expression = _dataset(tmp_path)
    expression[4, 2] = np.nan
    with pytest.raises(MilageError, match="1 non-finite value.* cis residuals"):
        te.trans_eqtls(model, ds, expression, fdr=0.1)


def _recovery(ds, truth, residuals, models):
    tables = {}
    for kind, model in models.items():
        tables[kind] = te.trans_eqtls(model, ds, residuals, fdr=0.1)
        tables[kind]["planted"] = planted_flags(tables[kind], ds, truth)
    return recovery(tables, ds, truth, 0.1).set_index("model")


def test_calls_hold_their_fdr_and_find_the_planted_trans_eqtls(medium_trained):
    """449 individuals, 4 sigmoid factors of 3 trans-eQTLs (seed 7): every model's observed
    LD-aware FDR at most 0.1, the NN's recall at least 0.7 (measured: FDR 0 for ML, NN and
    TM; recall 0.92 for each)."""
    m = medium_trained
    table = _recovery(m.ds, m.truth, m.residuals, m.models)
    assert (table["observed_fdr"].fillna(0) <= 0.1).all(), table
    assert table.loc["nn", "recall"] >= 0.7, table


def test_calls_hold_on_a_second_planted_cohort(tmp_path):
    """300 individuals, 6 tissues, 3 sigmoid factors of 3 trans-eQTLs (seed 2), NN trained
    with the defaults: observed LD-aware FDR at most 0.1, recall at least 0.7 (measured:
    FDR 0, recall 0.78; seeds 3-6: FDR 0, recall 0.78-0.89)."""
    import yaml
    from conftest import REPO, prepare

    from milage import cis
    from milage.dataset import load_dataset
    from milage.settings import CisSettings, InitSettings, TrainSettings
    from milage.trans_data import trans_data
    from milage.trans_models import TransModel
    from milage.trans_train import fit_model

    ds = load_dataset(prepare(tmp_path, n_individuals=300, n_tissues=6, n_genes=200,
                              n_snps=2000, genome_scale=0.02, cis_window=200_000,
                              n_factors=3, module_size=40, snps_per_factor=3,
                              min_tissue_fraction=0.5, seed=2))
    truth = dict(np.load(tmp_path / "tiny.npz"))
    fit = cis.fit_genes(ds, np.arange(len(ds.genes)), CisSettings(lambda_=0.05, threads=2))
    residuals = ds.expression - cis.predict(ds, fit.weights, fit.intercepts)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["trans"]
    network, _ = fit_model("nn", trans_data(ds, residuals),
                           ds.genes[["cis_start", "cis_stop"]].to_numpy(),
                           InitSettings(**{**config["init"], "n_factors": 3}),
                           TrainSettings(**config["train"]))
    row = _recovery(ds, truth, residuals, {"nn": TransModel.from_network(network)}).loc["nn"]
    assert row["observed_fdr"] <= 0.1 and row["recall"] >= 0.7, row
