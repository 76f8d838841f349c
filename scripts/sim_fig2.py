"""Rule sim_fig2: gather the recovery runs; the finding table and Fig 2."""

import _src  # noqa: F401  (first: this checkout's src/ on sys.path)
import pandas as pd

from milage.io import read_table, write_table
from milage.plots import save
from milage.plots_simulation import recovery_figure
from milage.simstudy import finding
from milage.workflow import run


def main(sm):
    runs = pd.concat([read_table(p) for p in sm.input.results], ignore_index=True)
    histories = pd.concat([read_table(p) for p in sm.input.histories], ignore_index=True)
    write_table(runs, sm.output.runs)
    write_table(finding(runs), sm.output.finding)
    save(recovery_figure(histories, runs), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
