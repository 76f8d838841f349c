"""Rule fig8_tm_tissues: WPGMA clustering and MDS of the tissues by the TM model's W."""


from milage import plots
from milage.analysis import tissue_similarity
from milage.dataset import load_dataset
from milage.files import read_table, write_table
from milage.rule_io import run
from milage.trans_models import TransModel


def main(sm):
    tissues = load_dataset(sm.params.prepared).tissues
    if plots.skipped_for_one_tissue(sm.output, tissues, "Fig 8"):
        return
    similarity = tissue_similarity(TransModel.load(sm.input.params), tissues,
                                   sm.params.outlier_threshold, sm.params.seed)
    write_table(similarity.table, sm.output.tsv)
    write_table(similarity.linkage_table(), sm.output.linkage)
    colours = plots.tissue_colours(tissues, read_table(sm.input.colours))
    plots.save(plots.fig8_tm_tissues(similarity, colours), sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
