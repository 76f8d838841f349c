"""Rule evaluate: variance explained of every model; per-tissue and per-gene test R^2."""

import numpy as np
import pandas as pd

from milage.dataset import load_dataset
from milage.evaluate import (
    flag_below_cis,
    flag_memory_limited,
    oracle_prediction,
    r2_by,
    variance_explained,
)
from milage.files import read_table, write_table
from milage.rule_io import run


def main(sm):
    ds = load_dataset(sm.params.prepared)
    preds = {m: np.load(p) for m, p in zip(sm.params.models, sm.input.models, strict=True)}
    if sm.input.get("truth"):
        preds["oracle"] = oracle_prediction(ds, dict(np.load(sm.input.truth)))
    tables = [read_table(sm.input.cis)] + [variance_explained(ds, p, m)
                                          for m, p in preds.items()]
    table = flag_below_cis(pd.concat(tables, ignore_index=True), sm.params.models)
    params = dict(zip(sm.params.models, sm.params.trans_params, strict=True))
    write_table(flag_memory_limited(table, params), sm.output.ve)
    for by, path in (("tissue", sm.output.tissues), ("gene", sm.output.genes)):
        write_table(pd.concat([r2_by(ds, p, by).assign(model=m) for m, p in preds.items()],
                              ignore_index=True), path)


run(snakemake, main)  # noqa: F821
