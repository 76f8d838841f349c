"""Rule sim_fig3: Fig 3 from one device's step timings."""


from milage.files import read_table
from milage.plots import save
from milage.rule_io import run
from milage.sim_plots import timing_figure


def main(sm):
    save(timing_figure(read_table(sm.input.timings)), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
