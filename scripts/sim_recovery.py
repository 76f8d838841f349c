"""Rule sim_recovery: simulate one trans-only dataset and solve it with one model (Fig 2)."""

import _src  # noqa: F401  (first: this checkout's src/ on sys.path)

from milage.files import write_table
from milage.rule_io import run
from milage.sim_recovery import StudySettings, run_one
from milage.trans_init import InitSettings
from milage.trans_train import TrainSettings


def main(sm):
    history, result = run_one(sm.wildcards.generator, sm.wildcards.solver, int(sm.wildcards.size),
                              int(sm.wildcards.rep), StudySettings(**sm.params.study),
                              InitSettings(**sm.params.init), TrainSettings(**sm.params.train))
    write_table(history, sm.output.history)
    write_table(result, sm.output.result)


run(snakemake, main)  # noqa: F821
