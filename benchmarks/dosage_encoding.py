"""What storing dosages in one byte (milage.dosages) changes: a cohort (the demo's shape by
default, with imputed-style dosages of three decimals) prepared twice, with float32 and
with one-byte dosages; on each, the cis objective of a fixed-lambda fit of some genes
(both solutions scored on the float32 data) and the test VE of cis and every trans model
(default configuration). One JSON line per encoding, then the differences.

    python benchmarks/dosage_encoding.py [--out results/dosage_encoding] [--cohort NAME]
"""

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from milage import cis
from milage.cohort_check import check_cohort, cohort_config, prepare_cohort
from milage.dataset import load_dataset
from milage.dosages import CODE
from milage.settings import CisSettings, ExpressionSettings, SimulationSettings

REPO = Path(__file__).resolve().parents[1]
ENCODINGS = {"float32": np.dtype("<f4"), "uint8": CODE}
N_GENES, LAMBDA = 200, 0.05


def objective_terms(ds, fit, genes, lam):
    """Per gene: its window's float32 dosages (training individuals), its expression and
    the fitted coefficients and intercepts of ``fit``; the objective on those data."""
    train = np.nonzero(ds.individuals["split"].to_numpy() == "train")[0]
    cols = ds.individuals["geno_col"].to_numpy()[train]
    snp_ids = ds.snps["snp_id"].to_numpy()
    tissue_of = pd.Index(ds.tissues)
    out = []
    for g in genes:
        gene = ds.genes.iloc[g]
        window = slice(int(gene.cis_start), int(gene.cis_stop))
        X = ds.dosages.take(window, cols).T.astype(np.float64)
        Y = cis.expression_tensor(ds, np.array([g]), train)[0]
        coef = np.zeros((len(ds.tissues), X.shape[1]))
        w = fit.weights[fit.weights["gene_id"] == gene.gene_id]
        where = pd.Index(snp_ids[window]).get_indexer(w["snp_id"])
        coef[tissue_of.get_indexer(w["tissue"]), where] = w["weight"]
        b = fit.intercepts[fit.intercepts["gene_id"] == gene.gene_id]
        intercept = np.zeros(len(ds.tissues))
        intercept[tissue_of.get_indexer(b["tissue"])] = b["intercept"]
        out.append(cis.masked_objective(X, Y, coef, intercept, lam))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/dosage_encoding")
    parser.add_argument("--cohort", default=None, help="a cohort of milage.cohort_check "
                        "(default: the demo's shape)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if args.cohort:
        config = cohort_config(config, args.cohort)
    tissues = pd.read_csv(REPO / "resources" / "tissues.tsv", sep="\t")
    settings = CisSettings(lambda_=LAMBDA, relax=(1.0,), threads=2)
    rows, fits = {}, {}
    for name, dtype in ENCODINGS.items():
        directory = Path(args.out) / name
        if not (directory / "prepared" / "cis_windows.tsv").exists():
            prepare_cohort(directory, SimulationSettings.from_config(config), tissues,
                           ExpressionSettings.from_config(config).min_samples,
                           config["expression"]["zscore_scope"], dtype=dtype)
        ds = load_dataset(directory / "prepared")
        fits[name] = cis.fit_genes(ds, np.arange(N_GENES), settings)
        rows[name] = {"encoding": name, "bytes": int(ds.dosages.codes.nbytes),
                      **check_cohort(directory, config, tissues)}
        print(json.dumps(rows[name]), flush=True)
    exact = load_dataset(Path(args.out) / "float32" / "prepared")
    objective = {k: objective_terms(exact, fit, np.arange(N_GENES), LAMBDA)
                 for k, fit in fits.items()}
    gap = (objective["uint8"] - objective["float32"]) / objective["float32"]
    models = list(config["trans"]["models"])
    print(json.dumps({
        "cis_objective_relative_gap_mean": float(gap.mean()),
        "cis_objective_relative_gap_max": float(gap.max()),
        **{f"test_ve_diff_{k}": rows["uint8"][k] - rows["float32"][k]
           for k in ["cis", *models]}}))


if __name__ == "__main__":
    main()
