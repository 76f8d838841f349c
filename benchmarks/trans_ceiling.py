"""How close the trans models could come to the oracle on a simulated dataset: test VE of
cis + trans when the trans factors are the planted ones, given exactly (beta refitted on
the cis residuals by the relaxed group-LASSO, as milage refits it), and when they are the
best linear function of the planted trans-eQTLs (what a linear-factor model, ML, can
represent at best). Needs a finished run of the dataset (its cis fit) and its truth.

    python benchmarks/trans_ceiling.py [--results results/demo] [--lam 0.2]
"""

import argparse
import json

import numpy as np
import pandas as pd

from milage import evaluate, init
from milage.data import load_dataset
from milage.trans import trans_data


def test_ve(ds, data, cis_pred, factors, lam) -> float:
    """Test VE of cis + trans with these factors (individuals x factors)."""
    train = data.rows("train")
    beta, b = init.relaxed_beta(factors[train], init.training_samples(data), len(ds.tissues),
                                lam)
    ind, tis = ds.samples["ind_index"].to_numpy(), ds.samples["tissue_index"].to_numpy()
    trans = np.einsum("st,tsj->sj", factors[ind], beta[:, tis]) + b[tis]
    return float(evaluate.variance_explained(ds, cis_pred + trans, "x")
                 .set_index("split")["ve"]["test"])


def best_linear(data, truth, snp_rows, planted) -> np.ndarray:
    """Each planted factor's least-squares fit on its planted SNPs (training individuals)."""
    train = data.rows("train")
    out = np.zeros_like(planted)
    for t in range(planted.shape[1]):
        rows = snp_rows[np.nonzero(truth["alpha"][t])[0]]
        design = np.column_stack([np.ones(len(data.genotypes)),
                                  data.genotypes[:, rows[rows >= 0]]])
        coef = np.linalg.lstsq(design[train], planted[train, t], rcond=None)[0]
        out[:, t] = design @ coef
    return out


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
                              .set_index("split")["ve"]["test"]), 4)}))


if __name__ == "__main__":
    main()
