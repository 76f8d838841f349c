"""Rule sim_timing: seconds per training step, Keras against NumPy, over Fig 3's grid."""

import logging

from milage.device import select
from milage.files import write_table
from milage.rule_io import run
from milage.sim_timing import scaling_grid, time_grid


def main(sm):
    p = sm.params
    grid = scaling_grid(p.scales, p.factors, p.factor_scale, p.size_factors, p.individuals)
    table = time_grid(grid, select(sm.wildcards.device, "simulation.timing.gpu"), p.repeats,
                      log=logging.getLogger("milage.sim_timing").info)
    write_table(table, sm.output.timings)


run(snakemake, main)  # noqa: F821
