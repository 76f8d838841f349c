"""Rule trans_eqtls: SNPs with non-zero alpha per factor, and their permutation FDR."""


from milage.dataset import load_dataset
from milage.files import write_table
from milage.rule_io import run
from milage.trans_eqtls import permutation_fdr, trans_eqtls
from milage.trans_models import TransModel


def main(sm):
    ds = load_dataset(sm.params.prepared)
    model = TransModel.load(sm.input.params)
    table = trans_eqtls(model, ds.snps, ds.genes, ds.tissues, sm.params.top)
    write_table(table, sm.output.eqtls)
    permuted = [int((TransModel.load(p).alpha != 0).sum()) for p in sm.input.permuted]
    write_table(permutation_fdr(len(table), permuted), sm.output.fdr)


run(snakemake, main)  # noqa: F821
