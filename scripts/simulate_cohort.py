"""Rule simulate_cohort: write the demo cohort in GTEx formats, with its planted truth."""

import pandas as pd

from milage.rule_io import run
from milage.settings import SimulationSettings
from milage.sim_cohort import simulate_cohort, write_cohort


def main(sm):
    tissues = pd.read_csv(sm.input.tissues, sep="\t")
    cohort = simulate_cohort(SimulationSettings(**sm.params.settings), tissues)
    write_cohort(cohort, dict(sm.output.items()))


run(snakemake, main)  # noqa: F821
