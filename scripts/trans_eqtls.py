"""Rule trans_eqtls: a model's trans-eQTLs, tested on held-out individuals, with q-values
(and, on a simulated cohort, the planted flag)."""

import numpy as np

from milage.dataset import load_dataset
from milage.eqtl_recovery import planted_flags
from milage.files import write_table
from milage.rule_io import run
from milage.trans_eqtls import trans_eqtls
from milage.trans_models import TransModel


def main(sm):
    ds = load_dataset(sm.params.prepared)
    residuals = np.load(sm.input.residuals, mmap_mode="r")
    table = trans_eqtls(TransModel.load(sm.input.params), ds, residuals, sm.params.fdr,
                        sm.params.top)
    if sm.input.get("truth"):
        table["planted"] = planted_flags(table, ds, dict(np.load(sm.input.truth)))
    write_table(table, sm.output.eqtls)


run(snakemake, main)  # noqa: F821
