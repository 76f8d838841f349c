"""Rule cis_windows: each gene's cis-SNP index range."""


from milage.files import read_table, write_table
from milage.prepare import cis_windows
from milage.rule_io import run


def main(sm):
    genes = read_table(sm.input.genes, dtype={"chrom": str})
    snps = read_table(sm.input.snps, dtype={"chrom": str})
    write_table(cis_windows(genes, snps, sm.params.window), sm.output.windows)


run(snakemake, main)  # noqa: F821
