"""Rule evaluate_cis: variance explained of cis, the per-tissue baseline and the oracle."""

import numpy as np
import pandas as pd

from milage.dataset import load_dataset
from milage.evaluate import oracle_prediction, variance_explained
from milage.files import read_table, write_table
from milage.rule_io import run


def main(sm):
    ds = load_dataset(sm.params.prepared)
    tables = [variance_explained(ds, np.load(sm.input.cis), "cis"),
              variance_explained(ds, np.load(sm.input.baseline), "elastic_net")]
    if sm.input.get("truth"):
        oracle = oracle_prediction(ds, dict(np.load(sm.input.truth)), trans=False)
        tables.append(variance_explained(ds, oracle, "oracle_cis"))
    write_table(pd.concat(tables, ignore_index=True), sm.output.ve)
    r2 = {m: read_table(p)["r2"] for m, p in (("cis", sm.input.cis_r2),
                                               ("elastic_net", sm.input.baseline_r2))}
    write_table(pd.DataFrame({"model": list(r2), "median_test_r2": [v.median() for v in
                                                                    r2.values()],
                              "mean_test_r2": [v.mean() for v in r2.values()]}),
                sm.output.comparison)


run(snakemake, main)  # noqa: F821
