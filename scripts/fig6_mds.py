"""Rule fig6_mds: MDS of the tissues by one model's loadings, with and without outliers."""


from milage import plots
from milage.analysis import tissue_similarity
from milage.dataset import load_dataset
from milage.files import read_table, write_table
from milage.rule_io import run
from milage.trans_models import TransModel


def main(sm):
    tissues = load_dataset(sm.params.prepared).tissues
    if plots.skipped_for_one_tissue(sm.output, tissues, "Fig 6"):
        return
    similarity = tissue_similarity(TransModel.load(sm.input.params), tissues,
                                   sm.params.outlier_threshold, sm.params.seed)
    write_table(similarity.table, sm.output.tsv)
    colours = plots.tissue_colours(tissues, read_table(sm.input.colours))
    plots.save(plots.fig6_mds(similarity, colours, sm.params.model), sm.output.png,
               sm.output.pdf)


run(snakemake, main)  # noqa: F821
