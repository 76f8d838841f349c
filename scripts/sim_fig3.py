"""Rule sim_fig3: Fig 3 from one device's step timings."""

import _src  # noqa: F401  (first: this checkout's src/ on sys.path)

from milage.io import read_table
from milage.plots import save
from milage.plots_simulation import timing_figure
from milage.workflow import run


def main(sm):
    save(timing_figure(read_table(sm.input.timings)), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
