"""The prepared dataset on disk, and the one loader every later stage reads it through.

Layout of ``results/{dataset}/prepared/`` (documented in config/README.md):

    dosages.npy       SNPs x genotyped individuals, one byte each (milage.dosages), memory-mapped
    snps.tsv.gz       chrom, pos, snp_id, ref, alt, af, maf, n_missing (rows = dosages rows)
    genotyped.tsv     individual (the column order of dosages.npy)
    individuals.tsv   individual, split (train / valid / test)
    expression.npy    samples x genes, float32 Z-scores (training moments)
    samples.tsv       sample_id, individual, tissue, split (rows = expression rows)
    genes.tsv         gene_id, gene_name, chrom, tss (columns of expression.npy)
    moments.tsv       gene_id, group, mean, sd (normalisation moments)
    cis_windows.tsv   gene_id, cis_start, cis_stop: half-open row range of snps.tsv.gz
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from milage.dosages import DosageMatrix, decode, release
from milage.errors import MilageError
from milage.expression import Expression
from milage.files import read_table, write_array, write_table


def write_expression(expr: Expression, values: str | os.PathLike,
                     samples: str | os.PathLike, genes: str | os.PathLike) -> None:
    """Write an Expression as .npy plus its sample and gene tables."""
    write_array(expr.values, values)
    write_table(expr.samples, samples)
    write_table(expr.genes, genes)


def read_expression(values: str | os.PathLike, samples: str | os.PathLike,
                    genes: str | os.PathLike) -> Expression:
    """Read what :func:`write_expression` wrote."""
    return Expression(np.load(values), read_table(samples, dtype={"individual": str}),
                      read_table(genes, dtype={"chrom": str, "gene_id": str}))


@dataclass
class Dataset:
    """A prepared dataset. Index columns tie the tables to the arrays:

    samples.ind_index / tissue_index index ``individuals`` / ``tissues``;
    individuals.geno_col indexes the columns of ``dosages``.
    """

    dosages: DosageMatrix          # SNPs x genotyped individuals (memory-mapped; reads decode)
    snps: pd.DataFrame
    individuals: pd.DataFrame      # individual, split, geno_col
    samples: pd.DataFrame          # sample_id, individual, tissue, split, ind_index, tissue_index
    genes: pd.DataFrame            # gene_id, gene_name, chrom, tss, cis_start, cis_stop
    tissues: list[str]
    expression: np.ndarray         # samples x genes
    moments: pd.DataFrame

    def genotypes(self, individuals: np.ndarray | None = None) -> np.ndarray:
        """Dosages as individuals x SNPs float32 (in memory), rows in the order given
        (default: the order of ``self.individuals``)."""
        return decode(*self.genotype_codes(individuals))

    def sample_of(self) -> np.ndarray:
        """individuals x tissues: each sample's row of ``expression``, or -1."""
        out = np.full((len(self.individuals), len(self.tissues)), -1)
        out[self.samples["ind_index"], self.samples["tissue_index"]] = np.arange(len(self.samples))
        return out

    def genotype_codes(self, individuals: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """The stored values as individuals x SNPs (one byte each), rows as in
        :meth:`genotypes`, and the units per dosage (:func:`milage.dosages.decode`).
        Memory-mapped from an unnamed temporary file (``TMPDIR``) written ``TRANSPOSE_SNPS``
        at a time. Why not in memory: at GTEx v8 that copy is 8.4 GB for the whole trans
        job, while training reads a working set's columns once and its full checks stream
        the SNPs, releasing their pages (:func:`milage.dosages.release`)."""
        rows = self.individuals["geno_col"].to_numpy() if individuals is None else individuals
        codes = self.dosages.codes
        shape = (len(rows), len(codes))
        if not np.prod(shape):
            return np.zeros(shape, codes.dtype), self.dosages.units
        out = np.memmap(_temporary(np.prod(shape) * codes.itemsize), codes.dtype, "r+",
                        shape=shape)
        for lo in range(0, shape[1], TRANSPOSE_SNPS):
            out[:, lo:lo + TRANSPOSE_SNPS] = np.take(codes[lo:lo + TRANSPOSE_SNPS], rows, 1).T
            release(out)
            release(codes)
        return out, self.dosages.units


TRANSPOSE_SNPS = 2**14   # SNPs turned into individuals x SNPs at a time


def _temporary(size: int):
    """An unnamed temporary file of ``size`` bytes, its blocks allocated (so that a full disk
    is an error here, not a crash when a page of a memory map of it is written)."""
    fh = tempfile.TemporaryFile()
    try:
        os.posix_fallocate(fh.fileno(), 0, size)
    except OSError as error:
        fh.close()
        raise MilageError(
            f"the trans models' copy of the genotypes ({size / 1e9:.1f} GB) does not fit in "
            f"{tempfile.gettempdir()}: {error.strerror}. Fix: set TMPDIR to a folder on a "
            "disk with more free space") from error
    return fh


def load_dataset(prepared: str | os.PathLike) -> Dataset:
    """Load a prepared dataset directory (arrays memory-mapped)."""
    d = Path(prepared)
    genotyped = read_table(d / "genotyped.tsv", dtype=str)["individual"]
    individuals = read_table(d / "individuals.tsv", dtype=str)
    individuals["geno_col"] = pd.Index(genotyped).get_indexer(individuals["individual"])
    samples = read_table(d / "samples.tsv", dtype={"individual": str})
    tissues = list(dict.fromkeys(samples["tissue"]))
    samples["ind_index"] = pd.Index(individuals["individual"]).get_indexer(samples["individual"])
    samples["tissue_index"] = pd.Index(tissues).get_indexer(samples["tissue"])
    genes = read_table(d / "genes.tsv", dtype={"chrom": str}).merge(
        read_table(d / "cis_windows.tsv"), on="gene_id", how="left", validate="1:1")
    return Dataset(
        dosages=DosageMatrix(d / "dosages.npy"),
        snps=read_table(d / "snps.tsv.gz", dtype={"chrom": str}),
        individuals=individuals, samples=samples, genes=genes, tissues=tissues,
        expression=np.load(d / "expression.npy", mmap_mode="r"),
        moments=read_table(d / "moments.tsv"))
