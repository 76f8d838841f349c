"""Rule predict: expression per tissue of new individuals from their genotypes alone."""


from milage.predict import predict_expression
from milage.rule_io import run


def main(sm):
    predict_expression(sm.params.prepared, sm.input.weights, sm.input.intercepts,
                       sm.input.params, sm.input.genotypes, sm.output.folder)


run(snakemake, main)  # noqa: F821
