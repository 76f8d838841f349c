"""Rule export_predictdb: per tissue, the cis models that pass the performance filter as a
PredictDB SQLite database and its S-PrediXcan covariance file (reference panel: the
training individuals)."""

from pathlib import Path

import pandas as pd

from milage.dataset import load_dataset
from milage.files import file_names, read_table
from milage.predictdb import covariance_of, export_tissue
from milage.rule_io import run


def main(sm):
    ds = load_dataset(sm.params.prepared)
    weights = pd.read_parquet(sm.input.weights)
    r2 = read_table(sm.input.r2)
    train = ds.individuals.loc[ds.individuals["split"] == "train", "geno_col"].to_numpy()
    rows = pd.Index(ds.snps["snp_id"])
    covariance = covariance_of(lambda ids: ds.dosages.take(rows.get_indexer(ids), train))
    out = Path(sm.output.folder)
    out.mkdir(parents=True, exist_ok=True)
    for tissue, name in file_names(ds.tissues).items():
        export_tissue(out, name, weights[weights["tissue"] == tissue],
                      r2[r2["tissue"] == tissue], ds.snps, ds.genes,
                      covariance,
                      sm.params.max_pval, sm.params.min_r2)


run(snakemake, main)  # noqa: F821
