"""Shared fixtures: a tiny simulated cohort written in the real formats."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from milage.simulate import SimulationSettings, simulate_cohort, write_cohort

REPO = Path(__file__).resolve().parents[1]

TINY = dict(n_individuals=60, n_ungenotyped=3, n_tissues=8, n_genes=120, n_low_genes=10,
            n_chrx_genes=4, n_desert_genes=2, n_snps=1500, genome_scale=0.01,
            cis_window=100_000, n_factors=4, module_size=10, snps_per_factor=5,
            min_tissue_fraction=0.4, n_replicates=2, n_decoy_sets=5, seed=7)


def tissue_table() -> pd.DataFrame:
    return pd.read_csv(REPO / "resources" / "tissues.tsv", sep="\t")


def write_tiny(directory: Path, **overrides) -> dict[str, Path]:
    """Simulate and write the tiny cohort; return the file paths by kind."""
    cohort = simulate_cohort(SimulationSettings(**{**TINY, **overrides}), tissue_table())
    paths = {k: directory / f"tiny.{ext}" for k, ext in [
        ("vcf", "vcf.gz"), ("gct", "gct.gz"), ("attributes", "attributes.tsv"),
        ("gtf", "gtf"), ("gmt", "gmt"), ("truth", "npz")]}
    write_cohort(cohort, paths)
    return paths


@pytest.fixture(scope="session")
def tiny_cohort():
    return simulate_cohort(SimulationSettings(**TINY), tissue_table())


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


def prepare(directory: Path, **overrides) -> Path:
    """Simulate a cohort and run the data stages in-process; return the prepared folder."""
    from milage.data import write_expression
    from milage.expression import ExpressionSettings, prepare_expression
    from milage.genotypes import prepare_genotypes
    from milage.io import write_table
    from milage.prepare import cis_windows, normalise, split_individuals

    settings = {**TINY, **overrides}
    files = write_tiny(directory, **overrides)
    out = directory / "prepared"
    prepare_genotypes(files["vcf"], out / "dosages.npy", out / "snps.tsv.gz",
                      out / "genotyped.tsv")
    genotyped = set(pd.read_csv(out / "genotyped.tsv", sep="\t")["individual"])
    expr = prepare_expression(ExpressionSettings(min_samples=10), genotyped, gct=files["gct"],
                              attributes=files["attributes"], annotation=files["gtf"])
    split = split_individuals(expr.samples["individual"].unique(), seed=settings["seed"])
    write_table(split, out / "individuals.tsv")
    expr, moments = normalise(expr, split)
    write_expression(expr, out / "expression.npy", out / "samples.tsv", out / "genes.tsv")
    write_table(moments, out / "moments.tsv")
    snps = pd.read_csv(out / "snps.tsv.gz", sep="\t", dtype={"chrom": str})
    write_table(cis_windows(expr.genes, snps, settings["cis_window"]), out / "cis_windows.tsv")
    return out


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory):
    return prepare(tmp_path_factory.mktemp("tiny_prepared"))
