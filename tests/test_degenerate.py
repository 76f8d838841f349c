"""Degenerate data: missing expression cells and tiny cohorts give correct numbers, through
ingest, normalisation, the cis fit, evaluation and the trans models."""

import gzip

import numpy as np
import pandas as pd
import pytest
from conftest import prepare
from keras import ops

from milage import cis
from milage.cis import MultiTissueGroupLasso
from milage.dataset import load_dataset
from milage.evaluate import r2_by_gene_tissue, variance_explained
from milage.guards import MAX_ABS
from milage.settings import CisSettings, InitSettings, TrainSettings
from milage.trans_data import trans_data
from milage.trans_init import TrainSamples
from milage.trans_loadings import least_squares_beta
from milage.trans_models import MODELS, NN
from milage.trans_train import fit_model

BLANK = 0.03    # share of the GCT's cells emptied


def blank_cells(files):
    """Empty a share of the GCT's TPM cells (as a user's matrix with missing values)."""
    with gzip.open(files["gct"], "rt") as fh:
        lines = fh.read().splitlines()
    rng = np.random.default_rng(0)
    out = lines[:3]
    for line in lines[3:]:
        fields = line.split("\t")
        fields[2:] = ["" if rng.random() < BLANK else v for v in fields[2:]]
        out.append("\t".join(fields))
    with gzip.open(files["gct"], "wt") as fh:
        fh.write("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    """The tiny cohort as simulated and with 3% of its TPM cells empty."""
    return {name: load_dataset(prepare(tmp_path_factory.mktemp(name), edit=edit))
            for name, edit in (("whole", None), ("blanked", blank_cells))}


def test_missing_cells_stay_missing_and_leave_the_moments(cohorts):
    whole, blanked = cohorts["whole"], cohorts["blanked"]
    missing = np.isnan(blanked.expression)
    assert 0.02 < missing.mean() < 0.04 and not np.isnan(whole.expression).any()
    assert blanked.genes["gene_id"].tolist() == whole.genes["gene_id"].tolist()
    train = (blanked.samples["split"] == "train").to_numpy()
    observed = np.where(missing, 0.0, blanked.expression)[train]
    np.testing.assert_allclose(observed.sum(axis=0) / (~missing[train]).sum(axis=0), 0,
                               atol=1e-5)
    assert np.isfinite(blanked.moments[["mean", "sd"]].to_numpy()).all()
    # a gene without missing cells is normalised exactly as before
    clean = ~missing.any(axis=0)
    np.testing.assert_array_equal(blanked.expression[:, clean], whole.expression[:, clean])


def test_cis_fit_masks_each_gene_own_missing_cells(cohorts):
    ds = cohorts["blanked"]
    rows = np.arange(len(ds.genes))
    fit = cis.fit_genes(ds, rows, CisSettings(lambda_=0.05, relax=(1.0,), threads=2))
    assert fit.weights["weight"].abs().max() < MAX_ABS
    clean = ~np.isnan(ds.expression).any(axis=0)
    whole = cis.fit_genes(cohorts["whole"], rows, CisSettings(lambda_=0.05, relax=(1.0,),
                                                              threads=2))
    same = ds.genes["gene_id"][clean]
    pd.testing.assert_frame_equal(fit.weights[fit.weights["gene_id"].isin(same)]
                                  .reset_index(drop=True),
                                  whole.weights[whole.weights["gene_id"].isin(same)]
                                  .reset_index(drop=True))
    # a gene with missing cells: the estimator on its own (individuals x tissues, NaN missing)
    g = int(np.nonzero(~clean & (ds.genes["cis_stop"] > ds.genes["cis_start"]).to_numpy())[0][0])
    gene = ds.genes.iloc[g]
    train = np.nonzero(ds.individuals["split"].to_numpy() == "train")[0]
    X = ds.genotypes(ds.individuals["geno_col"].to_numpy()[train])[:, gene.cis_start:
                                                                  gene.cis_stop]
    Y = cis.expression_tensor(ds, np.array([g]), train)[0]
    est = MultiTissueGroupLasso(0.05, tol=1e-9).fit(X, Y)
    w = fit.weights[fit.weights["gene_id"] == gene.gene_id]
    dense = np.zeros_like(est.coef_)
    dense[pd.Index(ds.tissues).get_indexer(w["tissue"]),
          pd.Index(ds.snps["snp_id"]).get_indexer(w["snp_id"]) - gene.cis_start] = w["weight"]
    np.testing.assert_allclose(dense, est.coef_, atol=1e-3)
    pred = cis.predict(ds, fit.weights, fit.intercepts)
    ve = variance_explained(ds, pred, "cis").set_index("split")["ve"]
    assert np.isfinite(ve).all() and ve["train"] > 0.3
    r2 = r2_by_gene_tissue(ds, pred)
    assert np.isfinite(r2[["r2", "r", "pvalue"]].to_numpy()).all()


def test_trans_models_ignore_missing_cells(cohorts):
    ds = cohorts["blanked"]
    fit = cis.fit_genes(ds, np.arange(len(ds.genes)), CisSettings(lambda_=0.05, threads=2))
    data = trans_data(ds, ds.expression - cis.predict(ds, fit.weights, fit.intercepts))
    assert np.isnan(data.residuals).any()
    windows = ds.genes[["cis_start", "cis_stop"]].to_numpy()
    for kind in MODELS:
        _, history = fit_model(kind, data, windows, InitSettings(n_factors=3),
                               TrainSettings(learning_rate=0.003, max_epochs=5,
                                             l1={"alpha": 0.002}))
        assert np.isfinite(history[["ve_train", "ve_valid"]].to_numpy()).all(), kind
        assert history["ve_train"].iat[-1] > history["ve_train"].iat[0], kind


def test_masked_loss_leaves_out_missing_cells():
    """A missing cell (NaN residual) adds nothing: the loss and its gradient equal those with
    that residual set to the prediction (zero error)."""
    rng = np.random.default_rng(0)
    model = NN({name: rng.standard_normal(v.shape) for name, v in
                NN.zeros(12, 3, 5, 2).params.items()}).network()
    x = rng.standard_normal((6, 12)).astype("float32")
    mask = (rng.random((6, 3)) < 0.7).astype("float32")
    y = rng.standard_normal((6, 3, 5)).astype("float32")
    pred = ops.convert_to_numpy(model(x))
    missing = (rng.random(y.shape) < 0.2) & (mask[:, :, None] == 1)
    with_nan, filled = np.where(missing, np.nan, y), np.where(missing, pred, y)
    loss = [float(model.compute_loss(y=(r, mask), y_pred=model(x, training=True)))
            for r in (with_nan, filled)]
    assert np.isfinite(loss[0]) and loss[0] == pytest.approx(loss[1], rel=1e-5)


def test_least_squares_loadings_use_each_gene_observed_samples():
    rng = np.random.default_rng(1)
    n_ind, n_tis, n_genes = 40, 2, 3
    f = rng.standard_normal((n_ind, 2))
    ind, tis = np.nonzero(rng.random((n_ind, n_tis)) < 0.8)
    y = rng.standard_normal((len(ind), n_genes))
    y[::7, 1] = np.nan
    beta, b = least_squares_beta(f, TrainSamples(y, ind, tis), n_tis,
                                 np.ones((2, n_genes), dtype=bool))
    for j in range(n_genes):
        for k in range(n_tis):
            rows = (tis == k) & ~np.isnan(y[:, j])
            design = np.column_stack([np.ones(rows.sum()), f[ind[rows]]])
            coef = np.linalg.lstsq(design, y[rows, j], rcond=None)[0]
            np.testing.assert_allclose([b[k, j], *beta[:, k, j]], coef, rtol=1e-6, atol=1e-8)
