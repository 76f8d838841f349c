"""Rule fig10_top_tissues: the most active tissues of each of the first factors."""


from milage import plots
from milage.analysis import top_tissues
from milage.dataset import load_dataset
from milage.files import read_table, write_table
from milage.rule_io import run
from milage.trans_models import TransModel


def main(sm):
    tissues = load_dataset(sm.params.prepared).tissues
    top = top_tissues(TransModel.load(sm.input.params), tissues, sm.params.n_factors,
                      sm.params.n_top)
    write_table(top, sm.output.tsv)
    colours = read_table(sm.input.colours).set_index("tissue")["colour"].to_dict()
    plots.save(plots.fig10_top_tissues(top, colours, sm.params.model), sm.output.png,
               sm.output.pdf)


run(snakemake, main)  # noqa: F821
