"""Rule trans_eqtl_recovery: every model's trans-eQTL calls against the planted truth."""

import numpy as np

from milage.dataset import load_dataset
from milage.eqtl_recovery import read_calls, recovery
from milage.errors import MilageError
from milage.files import write_table
from milage.rule_io import run


def main(sm):
    if not sm.input.get("truth"):
        raise MilageError("trans_eqtl_recovery needs a simulated cohort's planted truth. "
                          "Fix: do not ask for evaluation/trans_eqtl_recovery.tsv here")
    tables = {m: read_calls(p) for m, p in zip(sm.params.models, sm.input.tables, strict=True)}
    write_table(recovery(tables, load_dataset(sm.params.prepared),
                         dict(np.load(sm.input.truth)), sm.params.fdr), sm.output[0])


run(snakemake, main)  # noqa: F821
