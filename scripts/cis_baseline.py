"""Rule cis_baseline: per-tissue elastic net (mixing cis.baseline_l1_ratio, CV), PredictDB-style."""

import numpy as np
import pandas as pd

from milage import cis
from milage.dataset import load_dataset
from milage.evaluate import r2_by_gene_tissue
from milage.files import write_array, write_table
from milage.rule_io import run
from milage.settings import CisSettings


def main(sm):
    ds = load_dataset(sm.params.prepared)
    settings = CisSettings(**{**sm.params.settings, "threads": sm.threads})
    genes = np.arange(len(ds.genes))
    fits = cis.fit_genes_per_tissue(ds, genes, settings)
    weights = pd.concat([f.weights for f in fits], ignore_index=True)
    intercepts = pd.concat([f.intercepts for f in fits], ignore_index=True)
    pred = cis.predict(ds, weights, intercepts)
    write_array(pred.astype("float32"), sm.output.predictions)
    write_table(r2_by_gene_tissue(ds, pred), sm.output.r2)


run(snakemake, main)  # noqa: F821
