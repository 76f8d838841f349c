"""Rule sim_fig2: gather the recovery runs; the finding table and Fig 2."""

import pandas as pd

from milage.files import read_table, write_table
from milage.plots import save
from milage.rule_io import run
from milage.sim_plots import recovery_figure
from milage.sim_recovery import finding


def main(sm):
    runs = pd.concat([read_table(p) for p in sm.input.results], ignore_index=True)
    histories = pd.concat([read_table(p) for p in sm.input.histories], ignore_index=True)
    write_table(runs, sm.output.runs)
    write_table(finding(runs), sm.output.finding)
    save(recovery_figure(histories, runs), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
