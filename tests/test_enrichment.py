"""Enrichment tables: GSEA's ES against gseapy, the permutation null against a per-permutation
loop, overlaps against SciPy, the .gmt reader's errors, and planted-module recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.stats import fisher_exact, hypergeom

from milage import enrichment as en
from milage.errors import InputError
from milage.trans_models import ML, TM


def synthetic(n_genes=400, n_decoys=12, planted=40, shift=1.5, seed=0):
    """Gene names, scores with a planted set at large positive scores, and the sets."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i:04d}" for i in range(n_genes)]
    scores = rng.standard_normal(n_genes)
    scores[:planted] += shift
    sets = {"PLANTED": genes[:planted]}
    for d in range(n_decoys):
        size = int(rng.integers(15, 120))
        sets[f"DECOY_{d}"] = list(rng.choice(genes, size, replace=False))
    return genes, scores, sets


def test_es_equals_gseapy_prerank_weight_1():
    gseapy = pytest.importorskip("gseapy")
    genes, scores, sets = synthetic()
    gene_sets = en.index_gene_sets(sets, genes)
    pos, neg = en.enrichment_scores(scores, gene_sets)
    result = gseapy.prerank(pd.Series(scores, index=genes), sets, permutation_num=10,
                            weight=1.0, min_size=15, max_size=500, seed=1, threads=1,
                            no_plot=True, outdir=None, verbose=False)
    reference = result.res2d.set_index("Term")["ES"].astype(float)[gene_sets.names]
    signed = np.where(np.abs(pos) >= np.abs(neg), pos, neg)   # GSEA's ES: larger deviation
    assert_allclose(signed, reference.to_numpy(), rtol=1e-10, atol=1e-12)
    assert signed[gene_sets.names.index("PLANTED")] > 0.5
    # the other direction is the ES of the reversed ranking
    rev_pos, _ = en.enrichment_scores(-scores, gene_sets)
    assert_allclose(rev_pos, -neg, atol=1e-12)


def reference_running_sum(scores, members, weight=1.0):
    """The running sum at every rank position, written out plainly (one set)."""
    order = np.argsort(-scores, kind="stable")
    hit = np.isin(order, members)
    w = np.abs(scores[order]) ** weight
    step = np.where(hit, w / w[hit].sum(), -1.0 / (~hit).sum())
    return np.cumsum(step)


def test_extremes_equal_the_plain_running_sum_with_ties_and_zero_weights():
    rng = np.random.default_rng(3)
    scores = np.round(rng.standard_normal(300), 1)       # ties
    scores[rng.choice(300, 100, replace=False)] = 0.0   # many zero loadings, as sparse beta
    genes = [f"g{i}" for i in range(300)]
    sets = {f"S{i}": list(rng.choice(genes, int(rng.integers(15, 80)), replace=False))
            for i in range(10)}
    gene_sets = en.index_gene_sets(sets, genes)
    pos, neg = en.enrichment_scores(scores, gene_sets)
    for s, members in enumerate(gene_sets.members):
        run = reference_running_sum(scores, members)
        assert_allclose([pos[s], neg[s]], [max(run.max(), 0), min(run.min(), 0)], atol=1e-12)


def test_a_set_without_weight_scores_zero():
    genes = [f"g{i}" for i in range(50)]
    scores = np.r_[np.linspace(2, 1, 30), np.zeros(20)]
    gene_sets = en.index_gene_sets({"ZERO": genes[30:], "TOP": genes[:15]}, genes)
    pos, neg = en.enrichment_scores(scores, gene_sets)
    assert_allclose(pos, [0, 1])
    assert_allclose(neg, [0, 0])


def test_vectorised_null_equals_a_loop_over_permutations():
    genes, scores, sets = synthetic(n_genes=200, n_decoys=6)
    gene_sets = en.index_gene_sets(sets, genes)
    rng = np.random.default_rng(5)
    positions = np.stack([rng.permutation(len(genes)) for _ in range(25)])
    high, low = en.set_extremes(scores, gene_sets, positions)
    ranked = np.sort(scores)[::-1]
    for p, position in enumerate(positions):
        pos, neg = en.enrichment_scores(ranked[position], gene_sets)   # gene g gets rank p[g]
        assert_allclose(high[p], pos, atol=1e-12)
        assert_allclose(low[p], neg, atol=1e-12)


def test_max_null_pvalue_counts_reaching_permutations():
    null = np.array([0.1, 0.2, 0.3, 0.4])
    assert_allclose(en.max_null_pvalue(np.array([0.35, 0.05, 0.5, 0.3]), null),
                    [2 / 5, 5 / 5, 1 / 5, 3 / 5])
    assert_allclose(en.max_null_pvalue(np.array([-0.35]), -null, sign=-1), [2 / 5])


def test_mtgsea_pair_finds_the_planted_set_and_is_seeded():
    genes, scores, sets = synthetic(n_decoys=20)
    gene_sets = en.index_gene_sets(sets, genes)
    table = en.mtgsea_pair(scores, gene_sets, 500, np.random.default_rng(2))
    assert set(table["direction"]) == {"positive", "negative", "absolute"}
    plus = table[table["direction"] == "positive"].set_index("gene_set")
    assert plus.loc["PLANTED", "p"] == pytest.approx(1 / 501)
    assert plus["p"].idxmin() == "PLANTED"
    assert plus.loc["PLANTED", "fdr"] < 0.1
    assert not (table.loc[table["gene_set"] != "PLANTED", "fdr"] < 0.1).any()
    minus = table[table["direction"] == "negative"]
    assert (minus["es"] <= 0).all()
    # BH within the direction
    p = plus["p"].to_numpy()
    order = np.argsort(p)
    bh = np.minimum.accumulate((p[order] * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
    assert_allclose(plus["fdr"].to_numpy()[order], np.minimum(bh, 1))
    again = en.mtgsea_pair(scores, gene_sets, 500, np.random.default_rng(2))
    pd.testing.assert_frame_equal(table, again)


def test_absolute_direction_finds_a_set_of_mixed_signs():
    """A set whose genes are half up, half down: weight-1 ES splits it between the signed
    directions; ranking by |loading| finds it (the demo's planted modules are like this)."""
    genes, scores, sets = synthetic(n_decoys=20, shift=0.0)
    scores[:40] = np.where(np.arange(40) % 2, 1, -1) * (2.5 + np.abs(scores[:40]))
    gene_sets = en.index_gene_sets(sets, genes)
    table = en.mtgsea_pair(scores, gene_sets, 300, np.random.default_rng(4)).set_index(
        ["direction", "gene_set"])
    assert table.loc[("absolute", "PLANTED"), "p"] == pytest.approx(1 / 301)
    assert table.loc[("positive", "PLANTED"), "es"] < 0.6


def test_null_pvalues_are_conservative_without_signal():
    rng = np.random.default_rng(11)
    genes = [f"g{i}" for i in range(300)]
    sets = {f"S{i}": list(rng.choice(genes, int(rng.integers(15, 60)), replace=False))
            for i in range(15)}
    gene_sets = en.index_gene_sets(sets, genes)
    best = [en.mtgsea_pair(rng.standard_normal(300), gene_sets, 200, rng)["p"].min()
            for _ in range(20)]
    # the smallest p over every set is itself (about) uniform: P[min p <= 0.1] ~ 0.1 per test
    assert np.mean(np.array(best) <= 0.1) <= 0.3


def test_overlap_test_is_the_hypergeometric_tail():
    genes, scores, sets = synthetic()
    gene_sets = en.index_gene_sets(sets, genes)
    chosen = en.top_genes(scores, 50)
    table = en.overlap_test(chosen, gene_sets, len(genes))
    for row, members in zip(table.itertuples(), gene_sets.members, strict=True):
        k = len(np.intersect1d(members, chosen))
        assert row.overlap == k
        assert row.p == pytest.approx(hypergeom.sf(k - 1, len(genes), len(members), 50))
        table_2x2 = [[k, len(members) - k], [50 - k, len(genes) - len(members) - 50 + k]]
        assert row.p == pytest.approx(fisher_exact(table_2x2, alternative="greater")[1])
    assert table.set_index("gene_set")["q"].idxmin() == "PLANTED"
    assert table.set_index("gene_set").loc["PLANTED", "q"] < 1e-4


def test_top_genes_by_magnitude_skip_zeros():
    assert list(en.top_genes(np.array([0.1, -3.0, 0.0, 2.0, 0.0]), 4)) == [1, 3, 0]


def _ml(beta):
    n_factors, n_tissues, n_genes = beta.shape
    return ML({"beta": beta, "alpha": np.zeros((10, n_factors)), "a": np.zeros(n_factors),
               "b": np.zeros((n_tissues, n_genes))})


def test_gene_scores_of_each_model():
    rng = np.random.default_rng(0)
    beta = rng.standard_normal((3, 2, 5))                 # factors x tissues x genes
    assert_allclose(_ml(beta).gene_scores(1, 2), beta[2, 1])
    v, w = rng.standard_normal((5, 3)), rng.standard_normal((2, 3))
    tm = TM({"V": v, "W": w, "alpha": np.zeros((4, 3)), "a": np.zeros(3), "d": np.zeros(5)})
    assert_allclose(tm.gene_scores(1, 2), v[:, 2] * w[1, 2])
    assert_allclose(tm.gene_scores(1, 2), tm.loadings()[2, 1])
    dense = rng.standard_normal((3, 2, 5))              # Table 2 ranks by saved loadings
    tm.extras["loadings"] = dense
    assert_allclose(en.ranking_scores(tm, 1, 2), dense[2, 1])
    assert_allclose(en.ranking_scores(_ml(beta), 1, 2), beta[2, 1])


def test_pairs_default_to_the_most_active_factor_and_are_checked():
    beta = np.zeros((3, 2, 4))
    beta[2, 0] = 1.0
    beta[0, 1] = -2.0
    model = _ml(beta)
    assert en.resolve_pairs([], model, ["A", "B"]) == [("A", 3), ("B", 1)]
    assert en.resolve_pairs([["B", 2]], model, ["A", "B"]) == [("B", 2)]
    with pytest.raises(InputError, match="factor 4 of 'A' is not in 1..3"):
        en.resolve_pairs([["A", 4]], model, ["A", "B"])
    with pytest.raises(InputError, match="tissue 'C' is not in the dataset"):
        en.resolve_pairs([["C", 1]], model, ["A", "B"])


def test_read_gmt(tmp_path):
    path = tmp_path / "sets.gmt"
    path.write_text("A\tdesc\tg1\tg2\tg1\n\nB\t\tg3\n")
    assert en.read_gmt(path) == {"A": ["g1", "g2"], "B": ["g3"]}


@pytest.mark.parametrize("text, problem", [
    ("A\tdesc\tg1\nB\tdesc\n", "line 2: set 'B' has no genes"),
    ("A\tdesc\tg1\n\tdesc\tg2\n", "line 2: no set name"),
    ("A\tdesc\tg1\nA\tdesc\tg2\n", "line 2: set 'A' is listed twice"),
])
def test_read_gmt_names_file_and_line(tmp_path, text, problem):
    path = tmp_path / "bad.gmt"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        en.read_gmt(path)
    assert str(err.value) == (f"{path}: {problem}. Fix: write one gene set per line: name, a "
                              "description (may be empty), then the genes, separated by tabs")


def test_index_gene_sets_filters_by_size_in_the_universe():
    genes = [f"g{i}" for i in range(30)]
    sets = {"SMALL": genes[:3] + ["x1", "x2"], "OK": genes[:10] + ["x"], "BIG": genes}
    gene_sets = en.index_gene_sets(sets, genes, min_size=4, max_size=20)
    assert gene_sets.names == ["OK"]
    assert_allclose(gene_sets.sizes, [10])
    assert en.index_gene_sets(sets, genes, min_size=4, max_size=100).names == ["OK"]  # not all
    with pytest.raises(InputError, match="no set has 40 to 50 genes"):
        en.index_gene_sets(sets, genes, min_size=40, max_size=50)


def test_strip_version():
    assert en.strip_version(["ENSG00000141510.16", "ENSG00000012048", "ENSG00000182378.14_PAR_Y",
                             "TP53"]) == ["ENSG00000141510", "ENSG00000012048",
                                          "ENSG00000182378.14_PAR_Y", "TP53"]


def dataset_genes(n=20):
    return pd.DataFrame({"gene_id": [f"ENSG{i:011d}.{i % 3 + 1}" for i in range(n)],
                         "gene_name": [f"SIM{i + 1:05d}" for i in range(n)]})


def test_match_gene_sets_by_id_strips_versions_on_both_sides():
    genes = dataset_genes()
    sets = {"UNVERSIONED": [f"ENSG{i:011d}" for i in range(10)],
            "VERSIONED": [f"ENSG{i:011d}.9" for i in range(5, 15)]}
    gene_sets = en.match_gene_sets(sets, genes, "gene_id", "sets.gmt", min_size=10)
    assert gene_sets.names == ["UNVERSIONED", "VERSIONED"]
    assert [m.tolist() for m in gene_sets.members] == [list(range(10)), list(range(5, 15))]


def test_match_gene_sets_by_symbol():
    genes = dataset_genes()
    sets = {"SYMBOLS": [f"SIM{i:05d}" for i in range(1, 11)] + ["TP53"]}
    gene_sets = en.match_gene_sets(sets, genes, "gene_name", "sets.gmt", min_size=10)
    assert [m.tolist() for m in gene_sets.members] == [list(range(10))]


def test_match_gene_sets_names_the_gmt_and_the_key_when_nothing_matches():
    genes = dataset_genes()
    ids = {"IDS": ["ENSG00000000001", "ENSG00000000002"]}
    with pytest.raises(InputError) as err:
        en.match_gene_sets(ids, genes, "gene_name", "h.all.gmt")
    assert str(err.value) == (
        "h.all.gmt: no gene of the .gmt matches a dataset gene by gene_name: dataset has e.g. "
        "'SIM00001', the .gmt e.g. 'ENSG00000000001'. Fix: set enrichment.gene_key to "
        "gene_id: the .gmt's genes match the dataset's gene_id")
    with pytest.raises(InputError) as err:
        en.match_gene_sets({"SYMBOLS": ["TP53"]}, genes, "gene_id", "h.all.gmt")
    assert str(err.value) == (
        "h.all.gmt: no gene of the .gmt matches a dataset gene by gene_id: dataset has e.g. "
        "'ENSG00000000000.1', the .gmt e.g. 'TP53'. Fix: give a .gmt of the dataset's gene_id "
        "values (genes.tsv), or set enrichment.gene_key to the column its genes are")
    with pytest.raises(InputError, match=r"^h.all.gmt: no set has 15 to 500 genes"):
        en.match_gene_sets(ids, genes, "gene_id", "h.all.gmt")


def test_a_shared_name_matches_no_gene(caplog):
    genes = ["A", "Y_RNA", "B", "Y_RNA", "C"]
    gene_sets = en.index_gene_sets({"S": ["A", "Y_RNA", "C"]}, genes, min_size=1)
    assert gene_sets.members[0].tolist() == [0, 4]
    assert "2 genes share their name with another and are in no gene set (e.g. 'Y_RNA')" in (
        caplog.text)


# ---------------------------------------------------------------- planted truth (medium cohort)

def carried_module(medium, model, tissue, factor):
    """The planted module that a learned factor carries in a tissue: the planted factor whose
    true loadings |beta| correlate best with the learned |loadings| (factors are unaligned),
    by a clear margin over every other planted factor."""
    truth, ds = medium.truth, medium.ds
    genes = pd.Index(truth["gene_ids"].astype(str)).get_indexer(ds.genes["gene_id"])
    k = ds.tissues.index(tissue)
    planted = truth["beta"][list(truth["tissues"].astype(str)).index(tissue)][genes]  # genes x T
    learned = np.abs(model.gene_scores(k, factor - 1))
    corr = [np.corrcoef(learned, np.abs(planted[:, t]))[0, 1] for t in range(planted.shape[1])]
    second, best = np.sort(corr)[-2:]
    assert best > 0.6 and best - second > 0.4, (tissue, factor, corr)
    return f"MODULE_F{int(np.argmax(corr)) + 1:02d}"


@pytest.fixture(scope="module")
def medium_sets(medium_trained):
    return en.index_gene_sets(en.read_gmt(medium_trained.gmt),
                              medium_trained.ds.genes["gene_name"])


@pytest.mark.parametrize("model", ["ml", "nn", "tm"])
def test_table2_finds_each_planted_module_and_no_decoy(medium_trained, medium_sets, model):
    """Genes ranked by the least-squares loadings saved with the model, GSEA's weight 1."""
    trained = medium_trained.models[model]
    table = en.mtgsea_table(trained, medium_trained.ds.tissues, medium_sets,
                            n_permutations=1000, seed=1, weight=1.0)
    assert len(table) == 8 * 3 * len(medium_sets.names)
    for (tissue, factor), rows in table.groupby(["tissue", "factor"], sort=False):
        top = rows.iloc[0]                                     # smallest p, then largest |ES|
        assert top["gene_set"] == carried_module(medium_trained, trained, tissue, factor)
        assert top["fdr"] < 0.1 and top["significant"]
    decoys = table[table["gene_set"].str.startswith("DECOY")]
    assert decoys["significant"].groupby(decoys["gene_set"]).mean().max() <= 0.1


def test_table1_overlaps_find_each_planted_module(medium_trained, medium_sets):
    nn = medium_trained.models["nn"]
    table = en.overlap_table(nn, medium_trained.ds.tissues, medium_sets,
                             len(medium_trained.ds.genes), top=200)
    for (tissue, factor), rows in table.groupby(["tissue", "factor"], sort=False):
        top = rows.iloc[0]
        assert top["gene_set"] == carried_module(medium_trained, nn, tissue, factor)
        assert top["q"] < 1e-6 and top["ratio"] > 0.8
    decoys = table[table["gene_set"].str.startswith("DECOY")]
    assert (decoys["q"] < 0.1).mean() <= 0.1
