"""Rule enrichment_tables: Table 1 (overlaps of top genes) and Table 2 (MTGSEA)."""


from milage.dataset import load_dataset
from milage.enrichment import match_gene_sets, mtgsea_table, overlap_table, read_gmt
from milage.files import write_table
from milage.rule_io import run
from milage.trans_models import TransModel


def main(sm):
    ds = load_dataset(sm.params.prepared)
    model = TransModel.load(sm.input.params)
    p = sm.params
    sets = match_gene_sets(read_gmt(sm.input.gmt), ds.genes, p.gene_key, sm.input.gmt,
                           p.min_size, p.max_size)
    write_table(overlap_table(model, ds.tissues, sets, len(ds.genes), p.top_genes),
                sm.output.overlap)
    write_table(mtgsea_table(model, ds.tissues, sets, p.pairs, p.permutations, p.seed, p.fdr,
                             p.weight, p.directions), sm.output.mtgsea)


run(snakemake, main)  # noqa: F821
