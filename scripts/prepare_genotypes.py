"""Rule prepare_genotypes: filter a VCF/BCF or PLINK file into the dosage matrix."""


from milage.genotypes import prepare_genotypes
from milage.rule_io import run


def main(sm):
    prepare_genotypes(sm.input.genotypes, sm.output.dosages, sm.output.snps,
                      sm.output.individuals, min_maf=sm.params.min_maf,
                      candidates=sm.input.get("candidates"), snps_only=sm.params.snps_only,
                      dedupe=sm.params.dedupe)


run(snakemake, main)  # noqa: F821
