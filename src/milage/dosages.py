"""The prepared dosage matrix (``dosages.npy``): SNPs x genotyped individuals, one byte per
dosage, memory-mapped.

Encoding: the .npy header's dtype says which. ``uint8`` codes (written by ingest): dosage
= code / ``UNITS``, ``UNITS`` = 100, so a dosage in [0, 2] is a code in 0..200. Why: a
quarter of float32's size (GTEx v8, 10 M SNPs x 838 donors: 8.4 GB instead of 33.5 GB),
exact for hard calls and for dosages printed with two decimals (Beagle's DS), at most
0.005 off otherwise, well below the error of an imputed dosage. A float32 file (what
milage wrote before) is read as it is.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from milage.errors import InputError

UNITS = 100             # codes per unit of dosage
STEP = 1 / UNITS
CODE = np.dtype("u1")
MAX_DOSAGE = 2.0
ENCODINGS = {CODE: UNITS, np.dtype("<f4"): 1}   # dtype on disk -> stored units per dosage
TOLERANCE = STEP / 2    # how far outside [0, 2] a dosage may be (rounding) to be clipped


def encode(dosages: np.ndarray) -> np.ndarray:
    """Codes (uint8) of dosages in [0, 2]."""
    codes = np.rint(np.asarray(dosages, dtype=np.float32) * np.float32(UNITS))
    return np.clip(codes, 0, MAX_DOSAGE * UNITS).astype(CODE)


def out_of_range(dosages: np.ndarray) -> np.ndarray:
    """Rows (variants) with a dosage outside [0, 2] by more than rounding."""
    return ((dosages < -TOLERANCE) | (dosages > MAX_DOSAGE + TOLERANCE)).any(axis=1)


class DosageMatrix:
    """The memory-mapped dosage file. ``codes`` is what is stored; indexing returns the
    dosages (float32), so ``matrix[lo:hi]`` decodes only those SNPs' rows."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.codes = np.load(path, mmap_mode="r")
        if self.codes.dtype not in ENCODINGS or self.codes.ndim != 2:
            raise InputError(path, f"a dosage matrix of dtype {self.codes.dtype} and "
                             f"{self.codes.ndim} dimensions is no encoding milage reads "
                             "(uint8 codes or float32 dosages, SNPs x individuals)",
                             "rerun the prepare_genotypes rule (delete the file first)")
        self.units = ENCODINGS[self.codes.dtype]

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape

    def __getitem__(self, key) -> np.ndarray:
        return decode(self.codes[key], self.units)

    def take(self, snps, individuals: np.ndarray) -> np.ndarray:
        """Dosages (float32) of some SNPs (a slice or indices) x some individuals' columns,
        gathered before decoding (np.take: several times faster than fancy indexing)."""
        return decode(np.take(self.codes[snps], individuals, axis=1), self.units)


def decode(codes: np.ndarray, units: int) -> np.ndarray:
    """Dosages (float32) of stored values ``codes``, ``units`` per dosage (a division, so
    a code is decoded to the float32 nearest its decimal: 7 -> 0.07)."""
    return np.divide(codes, np.float32(units), dtype=np.float32)


def release(array: np.ndarray) -> None:
    """Unmap the pages read so far of the file ``array`` is memory-mapped from (nothing for
    an array in memory); they stay in the page cache, so reading them again reads no disk.
    Why: the pages a pass over every SNP reads count in the process's RSS until the kernel
    needs the memory, at the end the whole file (8.4 GB at GTEx v8)."""
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.base
    if base is not None:
        base.madvise(mmap.MADV_DONTNEED)
