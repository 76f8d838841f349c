"""Rule split_individuals: seeded train / validation / test split of the individuals."""


from milage.files import read_table, write_table
from milage.prepare import split_individuals
from milage.rule_io import run


def main(sm):
    samples = read_table(sm.input.samples, dtype={"individual": str})
    split = split_individuals(samples["individual"].unique(), seed=sm.params.seed,
                              test_fraction=sm.params.test_fraction,
                              valid_fraction=sm.params.valid_fraction)
    write_table(split, sm.output.split)


run(snakemake, main)  # noqa: F821
