"""How close the trans models could come to the oracle on a simulated dataset: test VE of
cis + trans when the trans factors are the planted ones, given exactly (beta refitted on
the cis residuals by the relaxed group-LASSO, as milage refits it), and when they are the
best linear function of the planted trans-eQTLs (what a linear-factor model, ML, can
represent at best). Also how well each trained model's factors span the planted ones
(a planted factor counts as recovered at test R^2 > 0.5). Needs a finished run of the
dataset (its cis fit and trained models) and its truth.

    python benchmarks/trans_ceiling.py [--results results/demo] [--lam 0.2]
"""

import argparse
import json

import numpy as np
import pandas as pd
from keras import ops

from milage import evaluate
from milage.dataset import load_dataset
from milage.trans_data import trans_data
from milage.trans_init import training_samples
from milage.trans_loadings import live_factors, relaxed_beta
from milage.trans_models import MODELS, TransModel


def test_ve(ds, data, cis_pred, factors, lam) -> float:
    """Test VE of cis + trans with these factors (individuals x factors)."""
    train = data.rows("train")
    beta, b = relaxed_beta(factors[train], training_samples(data), len(ds.tissues), lam)
    ind, tis = ds.samples["ind_index"].to_numpy(), ds.samples["tissue_index"].to_numpy()
    trans = b[tis]
    for k in range(len(ds.tissues)):       # one GEMM per tissue, no samples x genes x factors
        rows = np.nonzero(tis == k)[0]
        trans[rows] += factors[ind[rows]] @ beta[:, k]
    return float(evaluate.variance_explained(ds, cis_pred + trans, "x")
                 .set_index("split")["ve"]["test"])


def least_squares_fit(columns, target, train) -> np.ndarray:
    """Fitted values (every individual) of ``target`` regressed on an intercept and
    ``columns`` over the training individuals."""
    design = np.column_stack([np.ones(len(columns)), columns])
    return design @ np.linalg.lstsq(design[train], target[train], rcond=None)[0]


def best_linear(data, truth, snp_rows, planted) -> np.ndarray:
    """Each planted factor's least-squares fit on its planted SNPs (training individuals)."""
    out = np.zeros_like(planted)
    for t in range(planted.shape[1]):
        rows = snp_rows[np.nonzero(truth["alpha"][t])[0]]
        x = data.standardised(np.arange(len(planted)), rows[rows >= 0])
        out[:, t] = least_squares_fit(x, planted[:, t], data.rows("train"))
    return out


def recovery(data, planted, params_path) -> dict:
    """Planted factors recovered by a trained model, and their mean test R^2: each planted
    factor regressed on the model's live factors (training individuals), scored on test."""
    network = TransModel.load(params_path).network()
    x = data.standardised(np.arange(len(planted)))
    f = ops.convert_to_numpy(network.factors(x)).astype(np.float64)
    train, test = data.rows("train"), data.rows("test")
    fitted = least_squares_fit(f[:, live_factors(f[train])], planted, train)
    err = ((planted[test] - fitted[test]) ** 2).sum(axis=0)
    r2 = 1 - err / ((planted[test] - planted[test].mean(axis=0)) ** 2).sum(axis=0)
    return {"recovered": int((r2 > 0.5).sum()), "of": len(r2), "mean_r2": round(r2.mean(), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/demo")
    ap.add_argument("--lam", type=float, default=0.2, help="the relaxed refit's penalty")
    args = ap.parse_args()
    ds = load_dataset(f"{args.results}/prepared")
    residuals = np.load(f"{args.results}/cis/residuals.npy")
    data = trans_data(ds, residuals)
    truth = dict(np.load(f"{args.results}/raw/truth.npz"))
    planted = truth["F"][pd.Index(truth["individuals"].astype(str))
                         .get_indexer(ds.individuals["individual"])]
    snp_rows = pd.Index(ds.snps["snp_id"]).get_indexer(truth["snp_ids"].astype(str))
    cis_pred = ds.expression - residuals
    ve = evaluate.variance_explained
    print(json.dumps({
        "benchmark": "trans_ceiling", "results": args.results, "lambda": args.lam,
        "cis": round(float(ve(ds, cis_pred, "cis").set_index("split")["ve"]["test"]), 4),
        "planted_factors": round(test_ve(ds, data, cis_pred, planted, args.lam), 4),
        "best_linear_factors": round(test_ve(
            ds, data, cis_pred, best_linear(data, truth, snp_rows, planted), args.lam), 4),
        "oracle": round(float(ve(ds, evaluate.oracle_prediction(ds, truth), "oracle")
                              .set_index("split")["ve"]["test"]), 4),
        "factor_recovery": {m: recovery(data, planted, f"{args.results}/trans/{m}/params.npz")
                            for m in MODELS}}))


if __name__ == "__main__":
    main()
