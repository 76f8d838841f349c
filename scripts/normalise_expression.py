"""Rule normalise_expression: covariates out, then Z-scores with training moments."""


from milage.dataset import read_expression, write_expression
from milage.files import read_table, write_table
from milage.prepare import normalise
from milage.rule_io import run


def main(sm):
    expr = read_expression(sm.input.values, sm.input.samples, sm.input.genes)
    split = read_table(sm.input.split, dtype=str)
    expr, moments = normalise(expr, split, scope=sm.params.scope,
                              covariates=sm.params.covariates)
    write_expression(expr, sm.output.values, sm.output.samples, sm.output.genes)
    write_table(moments, sm.output.moments)


run(snakemake, main)  # noqa: F821
