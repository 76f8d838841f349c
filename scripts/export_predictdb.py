"""Rule export_predictdb: the cis weights as one PredictDB SQLite database per tissue."""

from pathlib import Path

import _src  # noqa: F401  (first: this checkout's src/ on sys.path)
import pandas as pd

from milage.dataset import load_dataset
from milage.files import file_names, read_table
from milage.predictdb import write_predictdb
from milage.rule_io import run


def main(sm):
    ds = load_dataset(sm.params.prepared)
    weights = pd.read_parquet(sm.input.weights)
    r2 = read_table(sm.input.r2)
    out = Path(sm.output.folder)
    out.mkdir(parents=True, exist_ok=True)
    for tissue, name in file_names(ds.tissues).items():
        perf = r2[r2["tissue"] == tissue].assign(r2=lambda t: t["r"] ** 2)
        write_predictdb(out / f"{name}.db",
                        weights[weights["tissue"] == tissue], ds.snps, ds.genes,
                        perf[["gene_id", "r2", "pvalue"]])


run(snakemake, main)  # noqa: F821
