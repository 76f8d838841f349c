"""Rule cis_fit_chunk: fit the cis model of one chunk of genes."""

import numpy as np

from milage.cis import fit_genes
from milage.dataset import load_dataset
from milage.files import atomic_output, write_table
from milage.rule_io import run
from milage.settings import CisSettings


def main(sm):
    ds = load_dataset(sm.params.prepared)
    settings = CisSettings(**{**sm.params.settings, "threads": sm.threads})
    chunk = int(sm.wildcards.chunk)
    rows = np.arange(chunk * settings.chunk_size,
                     min((chunk + 1) * settings.chunk_size, len(ds.genes)))
    fit = fit_genes(ds, rows, settings)
    for table, path in ((fit.weights, sm.output.weights), (fit.intercepts, sm.output.intercepts)):
        with atomic_output(path) as tmp:
            table.to_parquet(tmp, index=False)
    write_table(fit.genes, sm.output.genes)


run(snakemake, main)  # noqa: F821
