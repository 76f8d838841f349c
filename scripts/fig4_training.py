"""Rule fig4_training: variance explained over training, per model and per alpha penalty."""


from milage import plots
from milage.analysis import training_curves
from milage.files import read_table, write_table
from milage.rule_io import run


def main(sm):
    histories = {m: read_table(p) for m, p in zip(sm.params.models, sm.input.histories,
                                                  strict=True)}
    sweep = {str(lam): read_table(p) for lam, p in zip(sm.params.penalties, sm.input.sweep,
                                                       strict=True)}
    curves = training_curves(histories, sweep, read_table(sm.input.ve))
    write_table(curves, sm.output.tsv)
    plots.save(plots.fig4_training(curves), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
