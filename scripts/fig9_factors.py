"""Rule fig9_factors: mean loading per tissue and factor, and SNPs with non-zero alpha."""


from milage import plots
from milage.analysis import factor_summary
from milage.dataset import load_dataset
from milage.files import write_table
from milage.rule_io import run
from milage.trans_models import TransModel


def main(sm):
    tissues = load_dataset(sm.params.prepared).tissues
    summary = factor_summary(TransModel.load(sm.input.params), tissues, sm.params.n_factors,
                             sm.params.alpha_epsilon)
    write_table(summary, sm.output.tsv)
    plots.save(plots.fig9_factors(summary, sm.params.model), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
