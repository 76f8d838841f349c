"""Rule cis_gather: merge the chunks; cis predictions, residuals and per-gene test R^2 (also
as tensorQTL-style tables)."""

import pandas as pd

from milage import cis
from milage.dataset import load_dataset
from milage.evaluate import r2_by_gene_tissue
from milage.files import atomic_output, read_table, write_array, write_table
from milage.predictdb import tensorqtl_tables
from milage.rule_io import run


def main(sm):
    ds = load_dataset(sm.params.prepared)
    weights = pd.concat([pd.read_parquet(p) for p in sm.input.weights], ignore_index=True)
    intercepts = pd.concat([pd.read_parquet(p) for p in sm.input.intercepts],
                           ignore_index=True)
    genes = pd.concat([read_table(p) for p in sm.input.genes], ignore_index=True)
    for table, path in ((weights, sm.output.weights), (intercepts, sm.output.intercepts)):
        with atomic_output(path) as tmp:
            table.to_parquet(tmp, index=False)
    write_table(genes, sm.output.genes)
    pred = cis.predict(ds, weights, intercepts)
    write_array(pred.astype("float32"), sm.output.predictions)
    write_array((ds.expression - pred).astype("float32"), sm.output.residuals)
    r2 = r2_by_gene_tissue(ds, pred)
    write_table(r2, sm.output.r2)
    tq_weights, tq_r2 = tensorqtl_tables(weights, r2)
    write_table(tq_weights, sm.output.tensorqtl_weights)
    write_table(tq_r2, sm.output.tensorqtl_r2)


run(snakemake, main)  # noqa: F821
