"""Figures 4-10: their numbers against constructed inputs and the planted truth of the
medium cohort, and the figures themselves (drawn, saved, labels not overlapping)."""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, tissue_table
from docutils.core import publish_parts
from jinja2 import Environment, StrictUndefined
from scipy.spatial.distance import pdist, squareform

from milage import analysis, plots
from milage.trans_models import ML, NN, TM


def _planted_model(n_tissues=28, n_factors=6, n_genes=50, noise=0.05, seed=0, kind="nn"):
    """An NN model whose tissues follow the planted groups of resources/tissues.tsv (Testis
    an outlier at 6x the scale); with ``kind='tm'``, a TM model whose W carries the same
    pattern."""
    rng = np.random.default_rng(seed)
    table = tissue_table().iloc[:n_tissues]
    groups = table["group"].to_numpy()
    centroid = {g: rng.standard_normal(n_factors) for g in dict.fromkeys(groups)}
    activation = np.stack([centroid[g] for g in groups])
    activation += noise * rng.standard_normal(activation.shape)
    activation[table["tissue"] == "Testis"] *= 6
    loading = rng.standard_normal((n_genes, n_factors))
    alpha = np.zeros((100, n_factors))
    alpha[np.arange(n_factors), np.arange(n_factors)] = 1.0
    alpha[10, 0] = 1e-8
    a = np.zeros(n_factors)
    if kind == "tm":
        model = TM({"W": activation, "V": loading, "alpha": alpha, "a": a,
                    "d": np.zeros(n_genes)})
    else:
        model = NN({"beta": np.einsum("kt,jt->tkj", activation, loading), "alpha": alpha,
                    "a": a, "b": np.zeros((n_tissues, n_genes))})
    return model, list(table["tissue"]), groups


def _beta_model(beta):
    """An ML model of these loadings (factors x tissues x genes)."""
    n_factors, n_tissues, n_genes = beta.shape
    return ML({"beta": beta, "alpha": np.zeros((3, n_factors)), "a": np.zeros(n_factors),
               "b": np.zeros((n_tissues, n_genes))})


def test_robust_outliers_flags_the_far_tissue_only():
    points = np.r_[np.zeros((4, 2)), np.ones((4, 2)), [[20.0, 20.0]]]
    points += np.random.default_rng(1).normal(0, 0.1, points.shape)
    table = analysis.robust_outliers(squareform(pdist(points)), threshold=3.5)
    assert table["outlier"].tolist() == [False] * 8 + [True]
    assert table["robust_z"].iloc[-1] > 10
    distances = squareform(pdist(points[:8]))
    assert not analysis.robust_outliers(distances, threshold=3.5)["outlier"].any()
    # all mean distances equal (MAD 0): nobody is far from the rest
    equal = 1 - np.eye(5)
    assert not analysis.robust_outliers(equal, threshold=3.5)["outlier"].any()


@pytest.mark.parametrize("kind", ["nn", "tm"])
def test_tissue_similarity_recovers_constructed_groups(kind):
    model, tissues, groups = _planted_model(kind=kind)
    sim = analysis.tissue_similarity(model, tissues, outlier_threshold=3.5, seed=1)
    assert analysis.cluster_agreement(sim.linkage, groups) == pytest.approx(1.0)
    assert sim.table.loc[sim.table["outlier"], "tissue"].tolist() == ["Testis"]
    inliers = sim.table[~sim.table["outlier"]]
    assert inliers[["mds1_inliers", "mds2_inliers"]].notna().all(axis=None)
    assert sim.table.loc[sim.table["outlier"], "mds1_inliers"].isna().all()
    assert sorted(sim.table["leaf"]) == list(range(len(tissues)))
    links = sim.linkage_table()
    assert len(links) == len(tissues) - 1 and links["n_tissues"].iloc[-1] == len(tissues)
    assert set(links["left"]) | set(links["right"]) == set(tissues) | set(links["node"][:-1])


def test_tissue_representation_flattens_each_tissue_loadings():
    beta = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)     # factors x tissues x genes
    rep = _beta_model(beta).tissue_representation()
    np.testing.assert_array_equal(rep[1], np.r_[beta[0, 1], beta[1, 1]])


def test_top_tissues_ranks_by_mean_absolute_loading():
    beta = np.zeros((3, 4, 2))                                      # factors x tissues x genes
    beta[0, :, 0] = [1, -5, 3, 0]                                   # F1: T2, T3, T1
    beta[1, :, 1] = [0, 2, 0, 9]                                    # F2: T4, T2, then a tie
    beta[2, 2, :] = [4, -4]                                         # F3: T3 only (mean 0)
    tissues = ["T1", "T2", "T3", "T4"]
    top = analysis.top_tissues(_beta_model(beta), tissues, n_factors=2, n_top=3)
    assert top["factor"].tolist() == ["F1"] * 3 + ["F2"] * 3
    assert top["tissue"].tolist() == ["T2", "T3", "T1", "T4", "T2", "T1"]
    np.testing.assert_allclose(top["activity"], [2.5, 1.5, 0.5, 4.5, 1.0, 0.0])
    np.testing.assert_allclose(top["mean_loading"], [-2.5, 1.5, 0.5, 4.5, 1.0, 0.0])
    full = analysis.top_tissues(_beta_model(beta), tissues, n_factors=20, n_top=1)
    assert full["tissue"].tolist() == ["T2", "T4", "T3"]


def test_factor_summary_means_and_non_zero_alpha():
    model, tissues, _ = _planted_model(n_tissues=5, n_factors=4)
    summary = analysis.factor_summary(model, tissues, n_factors=3, alpha_epsilon=0.0)
    assert summary["factor"].tolist() == ["F1", "F2", "F3"]
    assert summary["n_snps"].tolist() == [2, 1, 1]
    assert analysis.factor_summary(model, tissues, 3, 1e-6)["n_snps"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(summary[tissues].to_numpy(),
                               model.params["beta"][:3].mean(axis=2))
    tm, _, _ = _planted_model(n_tissues=5, n_factors=4, kind="tm")
    np.testing.assert_allclose(tm.mean_loading(), tm.loadings().mean(axis=2).T, rtol=1e-12)


def test_tissue_activation_orders_rows_by_the_dendrogram():
    model, tissues, groups = _planted_model(kind="tm")
    table = analysis.tissue_activation(model, tissues)
    assert sorted(table["tissue"]) == sorted(tissues)
    group = dict(zip(tissues, groups, strict=True))
    order = [group[t] for t in table["tissue"]]
    # every planted group occupies consecutive rows
    assert all(len(set(order[i:i + order.count(g)])) == 1
               for g in set(order) for i in [order.index(g)])
    np.testing.assert_allclose(table.set_index("tissue").loc[tissues].to_numpy(),
                               model.tissue_activation())


def _history(ve_valid):
    n = len(ve_valid)
    return pd.DataFrame({"epoch": range(n), "loss": 0.0, "ve_train": np.linspace(0.4, 0.6, n),
                         "ve_valid": ve_valid})


def _ve_table():
    rows = [("cis", s, v) for s, v in [("train", 0.45), ("valid", 0.42), ("test", 0.41)]]
    rows += [(m, "test", 0.5) for m in ("ml", "nn")]
    return pd.DataFrame(rows, columns=["model", "split", "ve"])


def test_tissue_figures_are_skipped_with_a_note_for_one_tissue(tmp_path, caplog):
    """One tissue: Figs 5-8 (which compare tissues; clustering crashed) become notes in
    their PNG, PDF and TSVs and a warning in the log; two tissues are drawn."""
    outputs = [tmp_path / f"fig5.{ext}" for ext in ("png", "pdf", "tsv")]
    assert plots.skipped_for_one_tissue(outputs, ["Lung"], "Fig 5")
    reason = "Fig 5 compares tissues; this dataset has one (Lung), so it is not drawn"
    assert pd.read_csv(outputs[2], sep="\t")["note"].tolist() == [reason]
    assert outputs[0].read_bytes()[:4] == b"\x89PNG" and outputs[1].read_bytes()[:4] == b"%PDF"
    assert reason in caplog.text
    assert not plots.skipped_for_one_tissue([tmp_path / "x.tsv"], ["Lung", "Liver"], "Fig 5")
    assert not (tmp_path / "x.tsv").exists()
    model, names, _ = _planted_model(n_tissues=2)
    similarity = analysis.tissue_similarity(model, names, 3.5, 1)
    assert len(similarity.linkage) == 1


def test_training_curves_mark_the_test_ve_at_the_kept_epoch():
    histories = {"ml": _history([0.42, 0.45, 0.47, 0.46]), "nn": _history([0.42, 0.48, 0.47])}
    sweep = {"0.05": _history([0.42, 0.44]), "0.2": _history([0.42, 0.46])}
    curves = analysis.training_curves(histories, sweep, _ve_table())
    test = curves[curves["split"] == "test"].set_index("curve")
    assert test.loc[["ml", "nn"], "epoch"].tolist() == [2, 1]
    assert np.isnan(test.loc["cis", "epoch"]) and test.loc["cis", "ve"] == 0.41
    sweep_rows = curves[curves["panel"] == "sweep"]
    assert set(sweep_rows["curve"]) == {"0.05", "0.2"} and "test" not in set(sweep_rows["split"])
    assert len(curves) == 3 + (2 * 4 + 1) + (2 * 3 + 1) + 2 * (2 * 2)


def _overlapping_labels(fig) -> list[tuple[str, str]]:
    """Pairs of tick labels, legend texts or titles of a drawn figure whose boxes overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # matplotlib may hold more Tick objects than locations: pair them as it does
    texts = [label for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for tick, loc in zip(axis.get_major_ticks(), axis.get_majorticklocs(),
                                  strict=False)
             if min(axis.get_view_interval()) <= loc <= max(axis.get_view_interval())
             for label in (tick.label1, tick.label2)]
    texts += [t for legend in fig.legends for t in legend.get_texts()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts
             if t.get_visible() and t.get_text()]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:]
            if box_a.overlaps(box_b) and box_a.intersection(box_a, box_b).width > 1
            and box_a.intersection(box_a, box_b).height > 1]


@pytest.mark.parametrize("n_tissues, n_factors", [(28, 60), (8, 4)])
def test_every_figure_draws_without_overlapping_labels(tmp_path, n_tissues, n_factors):
    """28 GTEx tissues with 60 factors (more than Figs 9 and 10 show), and the tiny
    workflow's shape."""
    model, tissues, _ = _planted_model(n_tissues, n_factors)
    tm, _, _ = _planted_model(n_tissues, min(n_factors, 20), kind="tm")
    colours = plots.tissue_colours(tissues, tissue_table())
    sim = analysis.tissue_similarity(model, tissues, 3.5, seed=1)
    sim_tm = analysis.tissue_similarity(tm, tissues, 3.5, seed=1)
    histories = {"ml": _history([0.42, 0.45, 0.47, 0.46]), "nn": _history([0.42, 0.48, 0.47])}
    figures = {
        "fig4": plots.fig4_training(analysis.training_curves(
            histories, {"0.05": _history([0.4, 0.44])}, _ve_table())),
        "fig5": plots.fig5_dendrogram(sim, colours, "nn"),
        "fig6": plots.fig6_mds(sim, colours, "nn"),
        "fig7": plots.fig7_activation(analysis.tissue_activation(tm, tissues)),
        "fig8": plots.fig8_tm_tissues(sim_tm, colours),
        "fig9": plots.fig9_factors(analysis.factor_summary(model, tissues, 50, 0.0), "nn"),
        "fig10": plots.fig10_top_tissues(analysis.top_tissues(model, tissues, 20),
                                         dict(zip(tissues, colours, strict=True)), "nn"),
    }
    for name, fig in figures.items():
        assert not _overlapping_labels(fig), name
        plots.save(fig, tmp_path / f"{name}.png", tmp_path / f"{name}.pdf")
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
        assert (tmp_path / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.{e}" for n in figures for e in ("png", "pdf"))


def _planted(medium_trained):
    """The planted tissue groups and outlier flags in the dataset's tissue order."""
    truth = medium_trained.truth
    order = pd.Index(truth["tissues"]).get_indexer(medium_trained.ds.tissues)
    return truth["tissue_group"][order], truth["tissue_outlier"][order]


@pytest.mark.parametrize("model", ["nn", "ml", "tm"])
def test_wpgma_and_mds_outliers_recover_the_planted_tissues(medium_trained, model):
    """Medium cohort: 8 tissues in 4 planted groups, Testis the outlier. Measured: WPGMA cut
    at 4 clusters gives ARI 1.0 for NN, ML and TM; the outlier rule (threshold 3.5) flags
    Testis alone, at robust z 26.0 (NN); the next tissue's z is 2.4 (NN)."""
    groups, outlier = _planted(medium_trained)
    sim = analysis.tissue_similarity(medium_trained.models[model], medium_trained.ds.tissues,
                                     outlier_threshold=3.5, seed=1)
    assert analysis.cluster_agreement(sim.linkage, groups) == pytest.approx(1.0)
    np.testing.assert_array_equal(sim.table["outlier"].to_numpy(), outlier)
    z = sim.table["robust_z"].to_numpy()
    assert z[outlier].min() > 4.0 and z[~outlier].max() < 3.0


def test_report_captions_exist_and_are_valid_restructured_text():
    """Every caption a rule names exists; every caption renders (Jinja, as Snakemake does,
    then docutils) without a warning, e.g. from |x| read as a substitution."""
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    named = re.findall(r'caption="\.\./report/([\w.]+)"', rules)
    named += [f"{n}.rst" for n in re.findall(r'figure_outputs\(\s*"[^"]+",\s*"(\w+)"', rules)]
    captions = REPO / "workflow" / "report"
    assert len(named) >= 9 and all((captions / n).is_file() for n in named), named
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    snakemake = SimpleNamespace(config=config, wildcards={"model": "nn"})
    for path in sorted(captions.glob("*.rst")):
        text = Environment(undefined=StrictUndefined).from_string(path.read_text()).render(
            snakemake=snakemake)
        publish_parts(text, writer="html",
                      settings_overrides={"halt_level": 2, "report_level": 5})
