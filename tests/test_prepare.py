"""Split, normalisation with training moments, covariates, cis windows."""

import numpy as np
import pandas as pd
import pytest

from milage.errors import InputError
from milage.expression import Expression
from milage.prepare import cis_windows, normalise, split_individuals


def test_split_sizes_seed_and_order_independence():
    ids = [f"GTEX-{i:04d}" for i in range(449)]
    split = split_individuals(ids, seed=3)
    counts = split["split"].value_counts()
    assert (counts["test"], counts["valid"], counts["train"]) == (112, 34, 303)
    again = split_individuals(list(reversed(ids)), seed=3)
    pd.testing.assert_frame_equal(split, again)
    other = split_individuals(ids, seed=4)
    assert not split["split"].equals(other["split"])


def test_too_small_cohorts_and_empty_splits_are_refused():
    ids = [f"GTEX-{i:04d}" for i in range(19)]
    with pytest.raises(InputError) as err:
        split_individuals(ids)
    assert str(err.value) == ("expression: 19 individuals have genotypes and expression; "
                              "milage needs at least 20 (for its train, validation and test "
                              "splits). Fix: add individuals, or lower expression.min_samples "
                              "if tissues were dropped")
    ids.append("GTEX-0019")
    assert split_individuals(ids)["split"].value_counts().to_dict() == {"train": 13, "test": 5,
                                                                        "valid": 2}
    with pytest.raises(InputError, match=r"^config split.test_fraction: it leaves no individual "
                                         r"in the test split of 20\. Fix: raise "
                                         r"split.test_fraction$"):
        split_individuals(ids, test_fraction=0.01)
    with pytest.raises(InputError, match=r"^config split.valid_fraction: it leaves no "
                                         r"individual in the valid split"):
        split_individuals(ids, valid_fraction=0.0)
    with pytest.raises(InputError, match=r"^config split: test_fraction 0.5 and valid_fraction "
                                         r"0.3 leave 7 of 20 individuals for training"):
        split_individuals(ids, test_fraction=0.5, valid_fraction=0.3)


def _expr(rng, n_ind=40, tissues=("Lung", "Liver"), n_genes=5):
    rows = [(f"I{i}:{t}", f"I{i}", t) for t in tissues for i in range(n_ind)]
    samples = pd.DataFrame(rows, columns=["sample_id", "individual", "tissue"])
    offset = np.where(samples["tissue"] == tissues[0], 0.0, 3.0)[:, None]
    values = (rng.normal(size=(len(rows), n_genes)) * 2 + 5 + offset).astype(np.float32)
    genes = pd.DataFrame({"gene_id": [f"G{j}" for j in range(n_genes)]})
    return Expression(values, samples, genes)


def test_zscores_use_training_moments_only():
    rng = np.random.default_rng(0)
    expr = _expr(rng)
    split = split_individuals(expr.samples["individual"].unique(), seed=1)
    z, moments = normalise(expr, split)
    train = (z.samples["split"] == "train").to_numpy()
    np.testing.assert_allclose(z.values[train].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.values[train].std(axis=0), 1, rtol=1e-5)
    y = expr.values.astype(np.float64)
    mean, sd = y[train].mean(axis=0), y[train].std(axis=0)
    np.testing.assert_allclose(z.values[~train], ((y - mean) / sd)[~train], rtol=1e-5)
    np.testing.assert_allclose(moments["mean"], mean)
    assert set(moments["group"]) == {"all"}
    # per (gene, tissue): each tissue's training samples are standardised on their own
    zt, moments = normalise(expr, split, scope="gene_tissue")
    for tissue in ("Lung", "Liver"):
        rows = train & (zt.samples["tissue"] == tissue).to_numpy()
        np.testing.assert_allclose(zt.values[rows].mean(axis=0), 0, atol=1e-5)
    assert len(moments) == 10


def test_constant_gene_is_dropped():
    rng = np.random.default_rng(0)
    expr = _expr(rng)
    expr.values[:, 2] = 1.0
    split = split_individuals(expr.samples["individual"].unique(), seed=1)
    z, moments = normalise(expr, split)
    assert z.genes["gene_id"].tolist() == ["G0", "G1", "G3", "G4"]
    assert np.isfinite(z.values).all() and "G2" not in set(moments["gene_id"])


def test_covariates_regressed_out_per_tissue(tmp_path):
    rng = np.random.default_rng(0)
    expr = _expr(rng)
    individuals = expr.samples["individual"].unique()
    cov = rng.normal(size=(2, len(individuals)))
    lung = (expr.samples["tissue"] == "Lung").to_numpy()
    expr.values[lung] += (4 * cov[0] - 2 * cov[1])[:, None].astype(np.float32)
    path = tmp_path / "Lung.v8.covariates.txt"
    pd.DataFrame(cov, columns=individuals, index=pd.Index(["PC1", "PC2"], name="ID")).to_csv(
        path, sep="\t")
    split = split_individuals(individuals, seed=1)
    z, _ = normalise(expr, split, covariates={"Lung": str(path)})
    train = (z.samples["split"] == "train").to_numpy()
    rows = lung & train
    design = np.column_stack([np.ones(rows.sum()), cov.T[: lung.sum()][train[lung]]])
    coef, *_ = np.linalg.lstsq(design, z.values[rows], rcond=None)
    np.testing.assert_allclose(coef[1:], 0, atol=1e-4)  # nothing left to explain on train
    bad = tmp_path / "bad.txt"
    pd.DataFrame(cov[:, :-1], columns=individuals[:-1], index=["PC1", "PC2"]).to_csv(
        bad, sep="\t")
    with pytest.raises(InputError, match=f"individual {individuals[-1]} has no covariate column"):
        normalise(expr, split, covariates={"Lung": str(bad)})


def test_cis_windows_match_brute_force():
    rng = np.random.default_rng(0)
    snps = pd.DataFrame({"chrom": np.repeat(["1", "2", "3"], 200),
                         "pos": np.concatenate([np.sort(rng.choice(10**6, 200, replace=False))
                                                for _ in range(3)])})
    genes = pd.DataFrame({"gene_id": [f"G{i}" for i in range(30)],
                          "chrom": rng.choice(["1", "2", "4"], 30),
                          "tss": rng.integers(0, 10**6, 30)})
    out = cis_windows(genes, snps, window=50_000)
    for g, w in zip(genes.itertuples(), out.itertuples(), strict=True):
        inside = np.nonzero((snps["chrom"] == g.chrom) & ((snps["pos"] - g.tss).abs() <= 50_000))[0]
        if len(inside):
            assert (w.cis_start, w.cis_stop) == (inside[0], inside[-1] + 1)
        else:
            assert w.cis_start == w.cis_stop
