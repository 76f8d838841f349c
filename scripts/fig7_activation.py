"""Rule fig7_activation: the TM model's tissue x factor activation W as a heat map."""


from milage import plots
from milage.analysis import tissue_activation
from milage.dataset import load_dataset
from milage.files import write_table
from milage.rule_io import run
from milage.trans_models import TransModel


def main(sm):
    tissues = load_dataset(sm.params.prepared).tissues
    if plots.skipped_for_one_tissue(sm.output, tissues, "Fig 7"):
        return
    activation = tissue_activation(TransModel.load(sm.input.params), tissues)
    write_table(activation, sm.output.tsv)
    plots.save(plots.fig7_activation(activation), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
