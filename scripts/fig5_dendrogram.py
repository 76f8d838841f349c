"""Rule fig5_dendrogram: WPGMA clustering of the tissues by one model's loadings."""


from milage import plots
from milage.analysis import tissue_similarity
from milage.dataset import load_dataset
from milage.files import read_table, write_table
from milage.rule_io import run
from milage.trans_models import TransModel


def main(sm):
    tissues = load_dataset(sm.params.prepared).tissues
    if plots.skipped_for_one_tissue(sm.output, tissues, "Fig 5"):
        return
    similarity = tissue_similarity(TransModel.load(sm.input.params), tissues,
                                   sm.params.outlier_threshold, sm.params.seed)
    write_table(similarity.linkage_table(), sm.output.tsv)
    colours = plots.tissue_colours(tissues, read_table(sm.input.colours))
    figure = plots.fig5_dendrogram(similarity, colours, sm.params.model)
    plots.save(figure, sm.output.png, sm.output.pdf)


run(snakemake, main)  # noqa: F821
