"""Rule sim_recovery: simulate one trans-only dataset and solve it with one model (Fig 2)."""


from milage.files import write_table
from milage.rule_io import run
from milage.settings import InitSettings, StudySettings, TrainSettings
from milage.sim_recovery import run_one


def main(sm):
    history, result = run_one(sm.wildcards.generator, sm.wildcards.solver, int(sm.wildcards.size),
                              int(sm.wildcards.rep), StudySettings(**sm.params.study),
                              InitSettings(**sm.params.init), TrainSettings(**sm.params.train))
    write_table(history, sm.output.history)
    write_table(result, sm.output.result)


run(snakemake, main)  # noqa: F821
