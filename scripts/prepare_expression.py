"""Rule prepare_expression: read, filter and transform expression (GCT or BED files)."""


from milage.dataset import write_expression
from milage.expression import prepare_expression
from milage.files import read_table
from milage.rule_io import run
from milage.settings import ExpressionSettings


def main(sm):
    genotyped = set(read_table(sm.input.genotyped, dtype=str)["individual"])
    expr = prepare_expression(ExpressionSettings(**sm.params.settings), genotyped,
                              gct=sm.input.get("gct"), attributes=sm.input.get("attributes"),
                              beds=sm.params.beds, annotation=sm.input.get("annotation"))
    write_expression(expr, sm.output.values, sm.output.samples, sm.output.genes)


run(snakemake, main)  # noqa: F821
