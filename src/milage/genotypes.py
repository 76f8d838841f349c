"""Genotype ingest: VCF/BCF (cyvcf2) or PLINK .bed (bed-reader) to a filtered dosage matrix.

The matrix is streamed to disk in blocks of variants, so memory stays flat whatever the
number of SNPs. On disk it is SNP-major (``dosages.npy``: SNPs x individuals, one byte per
dosage, :mod:`milage.dosages`), so its transpose is the individuals x SNPs matrix X of the
model.
"""

from __future__ import annotations

import io as _io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from milage.dosages import CODE, encode, out_of_range
from milage.errors import EmptyAfterFilterError, InputError
from milage.files import atomic_output, require_file, write_table

log = logging.getLogger(__name__)

AUTOSOMES = frozenset(str(c) for c in range(1, 23))
BLOCK = 8192  # variants per block: ~15 MB of float32 at 449 individuals
_NPY_HEADER_BYTES = 128
_GT_TO_DOSAGE = np.array([0.0, 1.0, np.nan, 2.0], dtype=np.float32)  # cyvcf2 gt_types codes
GENOTYPES_EXPECTED = "a VCF/BCF with DS or GT, or a PLINK .bed with .bim/.fam beside it"


def normalise_chrom(chrom: pd.Series | np.ndarray) -> np.ndarray:
    """Chromosome names without a leading 'chr' ("chr7" and "7" both give "7")."""
    return pd.Series(chrom, dtype=str).str.removeprefix("chr").to_numpy()


@dataclass
class VariantBlock:
    """A block of variants: their annotation (a table) and dosages (variants x individuals)."""

    table: pd.DataFrame
    dosages: np.ndarray


@dataclass
class GenotypeCounts:
    """What ingest read and removed, for the log."""

    read: int = 0
    multiallelic: int = 0
    not_autosomal: int = 0
    not_candidate: int = 0
    low_maf: int = 0
    kept: int = 0
    missing_imputed: int = 0


def _vcf_format_ids(vcf) -> set[str]:
    return {h.info()["ID"] for h in vcf.header_iter() if h.type == "FORMAT"}


def read_vcf(path: str | os.PathLike) -> tuple[list[str], Iterator[VariantBlock]]:
    """Open a VCF/BCF; return its sample IDs and an iterator of variant blocks.

    Dosages come from FORMAT/DS when the header declares it, else from GT.
    Multi-allelic records are dropped (counted as ``ref`` = "" rows the caller removes).
    """
    from cyvcf2 import VCF

    path = require_file(path, "genotype VCF")
    try:
        vcf = VCF(str(path), lazy=True, threads=1)
    except OSError:
        raise InputError(path, "the file is not a VCF or BCF", f"give {GENOTYPES_EXPECTED}") \
            from None
    formats = _vcf_format_ids(vcf)
    if "DS" in formats:
        field_ = "DS"
    elif "GT" in formats:
        field_ = "GT"
        log.info("%s has no DS field: dosages are computed from hard GT calls", path)
    else:
        raise InputError(path, "the VCF declares neither a DS nor a GT FORMAT field",
                         "export imputed dosages as FORMAT/DS (or genotype calls as GT)")
    samples = list(vcf.samples)
    return samples, _vcf_blocks(vcf, field_, len(samples), path)


def _records(vcf, path) -> Iterator:
    """The VCF's records; one that htslib cannot read stops with the file, the record's
    number and the last good record named (htslib's own message, which says which field, is
    on file descriptor 2: in the rule's log just above)."""
    n, last = 0, "the header"
    records = iter(vcf)
    while True:
        try:
            variant = next(records)
        except StopIteration:
            return
        except Exception:      # cyvcf2 raises a bare Exception on htslib's errors
            raise InputError(path, f"record {n + 1} (after {last}) cannot be read: the file is "
                             "truncated or the record malformed (htslib's message just above "
                             "names the field)",
                             "check it with `bcftools view FILE > /dev/null`, then re-export "
                             "or copy it again") from None
        if variant.end <= variant.start:   # no REF: a line htslib could not split
            raise InputError(path, f"record {n + 1} (after {last}) has no readable CHROM, POS "
                             "and REF", "check the line with `bcftools view`; every record "
                             "needs the 8 fixed VCF columns plus FORMAT and the samples")
        n, last = n + 1, f"{variant.CHROM}:{variant.POS}"
        yield variant


def _vcf_blocks(vcf, field_: str, n_samples: int, path) -> Iterator[VariantBlock]:
    rows: list[tuple] = []
    dos = np.empty((BLOCK, n_samples), dtype=np.float32)
    for variant in _records(vcf, path):
        alts = variant.ALT
        multi = len(alts) != 1
        rows.append((variant.CHROM, variant.POS, variant.ID, variant.REF,
                     "" if multi else alts[0], multi))
        if multi:
            dos[len(rows) - 1] = np.nan
        elif field_ == "DS":
            dos[len(rows) - 1] = variant.format("DS")[:, 0]
        else:
            dos[len(rows) - 1] = _GT_TO_DOSAGE[variant.gt_types]
        if len(rows) == BLOCK:
            yield _block(rows, dos)
            rows = []
    if rows:
        yield _block(rows, dos[: len(rows)])


def _block(rows: list[tuple], dos: np.ndarray) -> VariantBlock:
    table = pd.DataFrame(rows, columns=["chrom", "pos", "snp_id", "ref", "alt", "multiallelic"])
    return VariantBlock(table, dos.copy())


def read_plink(path: str | os.PathLike) -> tuple[list[str], Iterator[VariantBlock]]:
    """Open a PLINK .bed (with .bim/.fam beside it); dosages count allele 1 (the .bim's A1)."""
    from bed_reader import open_bed

    path = require_file(path, "genotype PLINK .bed")
    try:
        bed = open_bed(path, num_threads=1)
        table = pd.DataFrame({
            "chrom": bed.chromosome, "pos": bed.bp_position.astype(np.int64), "snp_id": bed.sid,
            "ref": bed.allele_2, "alt": bed.allele_1, "multiallelic": False})
        samples = [str(s) for s in bed.iid]
    except (OSError, ValueError) as err:
        raise InputError(path, f"the PLINK file set cannot be read ({err})",
                         f"give {GENOTYPES_EXPECTED}") from None

    def blocks() -> Iterator[VariantBlock]:
        for start in range(0, bed.sid_count, BLOCK):
            stop = min(start + BLOCK, bed.sid_count)
            dos = bed.read(index=np.s_[:, start:stop], dtype="float32", order="C")
            yield VariantBlock(table.iloc[start:stop].reset_index(drop=True),
                               np.ascontiguousarray(dos.T))

    return samples, blocks()


def read_genotypes(path: str | os.PathLike) -> tuple[list[str], Iterator[VariantBlock]]:
    """Dispatch on the file name: ``.bed`` is PLINK, anything else VCF/BCF."""
    return read_plink(path) if str(path).endswith(".bed") else read_vcf(path)


def filter_block(block: VariantBlock, min_maf: float, candidates: set[str] | None,
                 counts: GenotypeCounts) -> VariantBlock:
    """Drop multi-allelic, non-autosomal, non-candidate and rare variants; mean-fill NaNs."""
    t = block.table
    t["chrom"] = normalise_chrom(t["chrom"])
    unnamed = t["snp_id"].isna() | (t["snp_id"] == ".")
    t.loc[unnamed, "snp_id"] = ("chr" + t["chrom"] + "_" + t["pos"].astype(str) + "_"
                                + t["ref"] + "_" + t["alt"])[unnamed]
    keep = ~t["multiallelic"].to_numpy()
    counts.multiallelic += int((~keep).sum())
    auto = t["chrom"].isin(AUTOSOMES).to_numpy()
    counts.not_autosomal += int((keep & ~auto).sum())
    keep &= auto
    if candidates is not None:
        cand = t["snp_id"].isin(candidates).to_numpy()
        counts.not_candidate += int((keep & ~cand).sum())
        keep &= cand
    dos = block.dosages[keep]
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(dos, axis=1) if dos.shape[1] else np.zeros(len(dos))
    af = mean / 2
    maf = np.minimum(af, 1 - af)
    common = np.nan_to_num(maf) >= min_maf
    counts.low_maf += int((~common).sum())
    dos, af, maf = dos[common], af[common], maf[common]
    missing = np.isnan(dos)
    counts.missing_imputed += int(missing.sum())
    if missing.any():
        dos[missing] = np.take(2 * af, np.nonzero(missing)[0])
    table = t.loc[keep].loc[common].drop(columns="multiallelic").reset_index(drop=True)
    table["af"] = af.astype(np.float32)
    table["maf"] = maf.astype(np.float32)
    table["n_missing"] = missing.sum(axis=1)
    return VariantBlock(table, dos)


class NpyRowWriter:
    """Append rows of one dtype to a .npy file whose row count is known only at the end.

    np.save needs the shape first; rather than hold the whole matrix in memory (8.4 GB at
    GTEx v8 size) or copy it once more, a fixed 128-byte header slot is reserved and filled
    in on close. A .npy 1.0 header for any 2-D shape pads to exactly 128 bytes.
    """

    def __init__(self, fh, n_cols: int, dtype: np.dtype = CODE) -> None:
        self.fh, self.n_cols, self.n_rows, self.dtype = fh, n_cols, 0, np.dtype(dtype)
        fh.write(b"\0" * _NPY_HEADER_BYTES)

    def write(self, rows: np.ndarray) -> None:
        self.fh.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.n_rows += len(rows)

    def close(self) -> None:
        buf = _io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.n_rows, self.n_cols)})
        header = buf.getvalue()
        if len(header) != _NPY_HEADER_BYTES:  # pragma: no cover - a numpy format change
            raise RuntimeError(f"unexpected .npy header length {len(header)}")
        self.fh.seek(0)
        self.fh.write(header)


def read_id_list(path: str | os.PathLike, what: str) -> set[str]:
    """Read one ID per line (blank lines and '#' comments ignored)."""
    path = require_file(path, what)
    ids = [line.split()[0] for line in path.read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    return set(ids)


def check_sorted(snps: pd.DataFrame, path: str | os.PathLike) -> None:
    """Raise unless SNPs are sorted by position within contiguous chromosome runs."""
    chrom, pos = snps["chrom"].to_numpy(), snps["pos"].to_numpy()
    new_run = np.r_[True, chrom[1:] != chrom[:-1]]
    revisited = new_run & pd.Series(chrom).duplicated().to_numpy()
    backwards = ~new_run & (pos < np.r_[0, pos[:-1]])
    bad = np.nonzero(revisited | backwards)[0]
    if len(bad):
        i = bad[0]
        raise InputError(path, f"variant {snps['snp_id'].iat[i]} at chr{chrom[i]}:{pos[i]} is "
                         "out of order (variants must be sorted by chromosome and position)",
                         "sort the file, e.g. `bcftools sort` or `plink2 --sort-vars`")


def check_range(block: VariantBlock, path: str | os.PathLike) -> None:
    """Raise naming the first variant with a dosage outside [0, 2]."""
    bad = np.nonzero(out_of_range(block.dosages))[0]
    if len(bad):
        row = block.dosages[bad[0]]
        value = row[(row < 0) | (row > 2)][0]
        raise InputError(path, f"variant {block.table['snp_id'].iat[bad[0]]} has dosage "
                         f"{value:g}, outside [0, 2] ({len(bad)} such variants in this "
                         "block)", "give dosages of the ALT allele, between 0 and 2")


def check_unique(ids: pd.Series, path: str | os.PathLike, what: str) -> None:
    """Raise naming the first duplicated ID."""
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(path, f"{what} ID {dup.iat[0]!r} appears more than once "
                         f"({dup.nunique()} duplicated IDs)", f"make every {what} ID unique")


def prepare_genotypes(path: str | os.PathLike, dosages_out: str | os.PathLike,
                      snps_out: str | os.PathLike, individuals_out: str | os.PathLike, *,
                      min_maf: float = 0.01,
                      candidates: str | os.PathLike | None = None,
                      dtype: np.dtype = CODE) -> GenotypeCounts:
    """Filter genotypes and write the SNP-major dosage matrix, the SNP table and sample IDs.

    Parameters
    ----------
    path : VCF/BCF (DS, else GT) or PLINK .bed.
    dosages_out : .npy, SNPs x individuals (:mod:`milage.dosages` codes), missing values
        set to the SNP mean.
    snps_out : table with chrom, pos, snp_id, ref, alt, af, maf, n_missing.
    individuals_out : one column ``individual``, in the matrix's column order.
    min_maf : SNPs with minor allele frequency below this are dropped.
    candidates : optional file of SNP IDs to keep (one per line); others are dropped.
    dtype : the dosages' encoding on disk: the one-byte codes, or float32 (as they are, for
        measuring what the codes change: benchmarks/dosage_encoding.py).
    """
    cand = read_id_list(candidates, "candidate SNP list") if candidates else None
    samples, blocks = read_genotypes(path)
    check_unique(pd.Series(samples), path, "sample")
    counts, tables = GenotypeCounts(), []
    with atomic_output(dosages_out) as tmp, open(tmp, "wb") as fh:
        writer = NpyRowWriter(fh, len(samples), dtype)
        for block in tqdm(blocks, desc="variant blocks", unit="block", mininterval=5):
            counts.read += len(block.table)
            kept = filter_block(block, min_maf, cand, counts)
            check_range(kept, path)
            writer.write(encode(kept.dosages) if dtype == CODE else kept.dosages)
            tables.append(kept.table)
        writer.close()
        fh.close()
        snps = pd.concat(tables, ignore_index=True)
        counts.kept = len(snps)
        _log_counts(path, counts, min_maf)
        if not counts.kept:
            raise EmptyAfterFilterError(
                path, f"no SNP is left after the filters (MAF >= {min_maf}, autosomes 1-22, "
                "biallelic, candidate list)",
                "lower genotypes.min_maf or check the chromosome names and the candidate list")
        check_unique(snps["snp_id"], path, "SNP")
        check_sorted(snps, path)
        write_table(snps, snps_out)
        write_table(pd.DataFrame({"individual": samples}), individuals_out)
    return counts


def _log_counts(path, c: GenotypeCounts, min_maf: float) -> None:
    log.info("%s: read %d variants; dropped %d multi-allelic, %d not autosomal, %d not candidates, "
             "%d with MAF < %g; kept %d; %d missing dosages set to the SNP mean",
             path, c.read, c.multiallelic, c.not_autosomal, c.not_candidate, c.low_maf, min_maf,
             c.kept, c.missing_imputed)
