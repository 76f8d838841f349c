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
import re
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
BASES = ["A", "C", "G", "T", "a", "c", "g", "t"]
NO_ALLELE = [".", "0"]  # PLINK writes a missing allele (a monomorphic variant's A1) as 0
FLAGS = ["n_alt", "no_ds", "flipped"]  # the readers' columns that filter_block counts and drops
MAX_EXAMPLES = 5        # duplicated IDs named in the warning
_VARID = re.compile(r"^(?:chr)?[^_]+_\d+_([^_]+)_([^_]+)(?:_b\d+)?$")  # GTEx's, build optional
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
    """What ingest read, removed and changed, for the log."""

    read: int = 0
    multiallelic: int = 0
    no_alt: int = 0           # ALT '.' (PLINK: allele 1 missing)
    indels: int = 0           # REF or ALT not one of A, C, G, T (with snps_only)
    not_autosomal: int = 0
    not_candidate: int = 0
    low_maf: int = 0
    kept: int = 0
    missing_imputed: int = 0
    no_ds: int = 0            # biallelic records without a DS value: read as missing
    flipped: int = 0          # PLINK variants turned to the ref/alt their varID names
    renamed: int = 0          # SNPs whose ID an earlier SNP has: renamed by their varID


def _vcf_format_ids(vcf) -> set[str]:
    return {h.info()["ID"] for h in vcf.header_iter() if h.type == "FORMAT"}


def read_vcf(path: str | os.PathLike) -> tuple[list[str], Iterator[VariantBlock]]:
    """Open a VCF/BCF; return its sample IDs and an iterator of variant blocks.

    Dosages come from FORMAT/DS when the header declares it, else from GT; a record
    without its DS value is all missing. Records with other than one ALT are given as
    ``n_alt`` (and ``alt`` "") for the caller to remove.
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
        biallelic = len(alts) == 1
        values, no_ds = _dosages(variant, field_) if biallelic else (np.nan, False)
        dos[len(rows)] = values
        rows.append((variant.CHROM, variant.POS, variant.ID, variant.REF,
                     alts[0] if biallelic else "", len(alts), no_ds, False))
        if len(rows) == BLOCK:
            yield _block(rows, dos)
            rows = []
    if rows:
        yield _block(rows, dos[: len(rows)])


def _dosages(variant, field_: str) -> tuple[np.ndarray | float, bool]:
    """A biallelic record's dosages, and whether its DS value is absent (then all NaN)."""
    if field_ == "GT":
        return _GT_TO_DOSAGE[variant.gt_types], False
    ds = variant.format("DS")
    return (np.nan, True) if ds is None else (ds[:, 0], False)


def _block(rows: list[tuple], dos: np.ndarray) -> VariantBlock:
    table = pd.DataFrame(rows, columns=["chrom", "pos", "snp_id", "ref", "alt", *FLAGS])
    return VariantBlock(table, dos.copy())


def read_plink(path: str | os.PathLike) -> tuple[list[str], Iterator[VariantBlock]]:
    """Open a PLINK .bed (with .bim/.fam beside it); return its sample IDs and an iterator
    of variant blocks.

    plink2's convention: the .bim's allele 2 is REF and allele 1, which the .bed counts, is
    ALT. A SNP whose ID is a GTEx varID naming allele 1 as its ref and allele 2 as its alt
    (``chr1_100_A_G_b38`` with A1 = A, A2 = G) is flipped to the ID's orientation: dosage
    2 - count, ``flipped`` True.
    """
    from bed_reader import open_bed

    path = require_file(path, "genotype PLINK .bed")
    try:
        bed = open_bed(path, num_threads=1)
        a1, a2 = bed.allele_1, bed.allele_2
        samples = [str(s) for s in bed.iid]
    except (OSError, ValueError) as err:
        raise InputError(path, f"the PLINK file set cannot be read ({err})",
                         f"give {GENOTYPES_EXPECTED}") from None
    flip = ref_is_allele_1(bed.sid, a1, a2)
    alt = np.where(flip, a2, a1)
    table = pd.DataFrame({
        "chrom": bed.chromosome, "pos": bed.bp_position.astype(np.int64), "snp_id": bed.sid,
        "ref": np.where(flip, a1, a2), "alt": alt, "n_alt": np.where(
            np.isin(alt, NO_ALLELE), 0, 1), "no_ds": False, "flipped": flip})

    def blocks() -> Iterator[VariantBlock]:
        for start in range(0, bed.sid_count, BLOCK):
            stop = min(start + BLOCK, bed.sid_count)
            dos = bed.read(index=np.s_[:, start:stop], dtype="float32", order="C")
            dos = np.ascontiguousarray(dos.T)
            dos[flip[start:stop]] = 2 - dos[flip[start:stop]]
            yield VariantBlock(table.iloc[start:stop].reset_index(drop=True), dos)

    return samples, blocks()


def ref_is_allele_1(ids: np.ndarray, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    """Whether each ID is a varID ``chr{chrom}_{pos}_{ref}_{alt}[_b38]`` (``chr`` optional)
    whose ref is allele 1 and alt allele 2."""
    named = pd.Series(ids, dtype=str).str.extract(_VARID)
    return ((named[0] == a1) & (named[1] == a2) & (a1 != a2)).to_numpy()


def read_genotypes(path: str | os.PathLike) -> tuple[list[str], Iterator[VariantBlock]]:
    """Dispatch on the file name: ``.bed`` is PLINK, anything else VCF/BCF."""
    return read_plink(path) if str(path).endswith(".bed") else read_vcf(path)


def var_ids(t: pd.DataFrame) -> pd.Series:
    """The varIDs ``chr{chrom}_{pos}_{ref}_{alt}`` of a table's variants."""
    return ("chr" + t["chrom"].astype(str) + "_" + t["pos"].astype(str) + "_" + t["ref"] + "_"
            + t["alt"])


def _allele_tests(t: pd.DataFrame, snps_only: bool) -> list[tuple[str, np.ndarray]]:
    """(counter, passes) of the allele filters, in the order they count."""
    n_alt = t["n_alt"].to_numpy()
    tests = [("multiallelic", n_alt <= 1), ("no_alt", n_alt >= 1)]
    if snps_only:
        tests.append(("indels", (t["ref"].isin(BASES) & t["alt"].isin(BASES)).to_numpy()))
    return tests


def filter_block(block: VariantBlock, min_maf: float, candidates: set[str] | None,
                 counts: GenotypeCounts, snps_only: bool = True) -> VariantBlock:
    """Drop multi-allelic, ALT-less, (with ``snps_only``) non-SNP, non-autosomal,
    non-candidate and rare variants (each counted under the first it fails); mean-fill
    NaNs. A variant with every dosage missing is dropped as rare."""
    t = block.table
    t["chrom"] = normalise_chrom(t["chrom"])
    unnamed = t["snp_id"].isna() | (t["snp_id"] == ".")
    t.loc[unnamed, "snp_id"] = var_ids(t)[unnamed]
    counts.no_ds += int(t["no_ds"].sum())
    counts.flipped += int(t["flipped"].sum())
    tests = [*_allele_tests(t, snps_only),
             ("not_autosomal", t["chrom"].isin(AUTOSOMES).to_numpy())]
    if candidates is not None:
        tests.append(("not_candidate", t["snp_id"].isin(candidates).to_numpy()))
    keep = np.ones(len(t), dtype=bool)
    for counter, passes in tests:
        setattr(counts, counter, getattr(counts, counter) + int((keep & ~passes).sum()))
        keep &= passes
    dos = block.dosages[keep]
    n = (~np.isnan(dos)).sum(axis=1)
    mean = np.divide(np.nansum(dos, axis=1), n, out=np.full(len(dos), np.nan, np.float32),
                     where=n > 0)
    af = mean / 2
    maf = np.minimum(af, 1 - af)
    common = maf >= min_maf
    counts.low_maf += int((~common).sum())
    dos, af, maf = dos[common], af[common], maf[common]
    missing = np.isnan(dos)
    counts.missing_imputed += int(missing.sum())
    if missing.any():
        dos[missing] = np.take(2 * af, np.nonzero(missing)[0])
    table = t.loc[keep].loc[common].drop(columns=FLAGS).reset_index(drop=True)
    table["af"] = af.astype(np.float32)
    table["maf"] = maf.astype(np.float32)
    table["n_missing"] = missing.sum(axis=1)
    return VariantBlock(table, dos)


class SnpIds:
    """The IDs of the SNPs kept so far, checked block by block as ingest streams.

    A repeated ID stops ingest, or with ``dedupe`` the SNP is renamed by its varID
    ``chr{chrom}_{pos}_{ref}_{alt}`` (counted, with the first IDs for :meth:`warn`); a
    varID that is taken too stops ingest. IDs are looked up by their 64-bit hashes (16
    bytes a SNP: a set of 10 M IDs would take a gigabyte) in sorted runs merged as they
    grow, and a hash found is confirmed on the ID itself.
    """

    def __init__(self, path: str | os.PathLike, dedupe: bool) -> None:
        self.path, self.dedupe, self.examples = path, dedupe, []
        self.blocks: list[pd.Series] = []   # the kept IDs, block by block
        self.starts = [0]                   # each block's first row, then the total
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []   # (sorted hashes, their rows)

    def add(self, table: pd.DataFrame, counts: GenotypeCounts) -> None:
        """Check (and with ``dedupe`` rename) a block's kept SNPs; remember their IDs."""
        repeated = self._repeated(table["snp_id"])
        if repeated.any():
            if not self.dedupe:
                self._stop(table, repeated, "make every SNP ID unique or set "
                           "genotypes.dedupe: true")
            ids = table.loc[repeated, "snp_id"].unique()
            self.examples = list(dict.fromkeys([*self.examples, *ids]))[:MAX_EXAMPLES]
            counts.renamed += int(repeated.sum())
            table.loc[repeated, "snp_id"] = var_ids(table)[repeated]
            clash = self._repeated(table["snp_id"])
            if clash.any():
                self._stop(table, clash, "make every SNP ID unique")
        self._remember(table["snp_id"])

    def warn(self, counts: GenotypeCounts) -> None:
        """One warning naming the first repeated IDs, if any SNP was renamed."""
        if counts.renamed:
            log.warning("%s: %d SNPs have the ID of an earlier SNP (first IDs: %s) and are "
                        "renamed chr{chrom}_{pos}_{ref}_{alt}", self.path, counts.renamed,
                        ", ".join(self.examples))

    def _repeated(self, ids: pd.Series) -> np.ndarray:
        """IDs seen before: in an earlier block, or earlier in this one."""
        out = ids.duplicated().to_numpy(copy=True)
        hashes = _hashes(ids)
        order = np.argsort(hashes)          # sorted needles: searchsorted's fast case
        hashes = hashes[order]
        for run, rows in self.runs:
            lo = np.searchsorted(run, hashes).clip(max=len(run) - 1)
            for i in np.flatnonzero(run[lo] == hashes):
                hi = np.searchsorted(run, hashes[i], "right")
                out[order[i]] |= any(self._id(r) == ids.iat[order[i]] for r in rows[lo[i]:hi])
        return out

    def _remember(self, ids: pd.Series) -> None:
        """Add a block's IDs as a run; merge runs while the one before is no larger."""
        if not len(ids):
            return
        hashes, rows = _hashes(ids), np.arange(self.starts[-1], self.starts[-1] + len(ids))
        self.blocks.append(ids)
        self.starts.append(self.starts[-1] + len(ids))
        self.runs.append((hashes, rows))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= len(self.runs[-1][0]):
            (h1, r1), (h2, r2) = self.runs.pop(-2), self.runs.pop()
            self.runs.append((np.concatenate([h1, h2]), np.concatenate([r1, r2])))
        order = np.argsort(self.runs[-1][0], kind="stable")
        self.runs[-1] = (self.runs[-1][0][order], self.runs[-1][1][order])

    def _id(self, row: int) -> str:
        block = np.searchsorted(self.starts, row, "right") - 1
        return self.blocks[block].iat[row - self.starts[block]]

    def _stop(self, table: pd.DataFrame, rows: np.ndarray, fix: str) -> None:
        i = np.flatnonzero(rows)[0]
        raise InputError(self.path, f"SNP ID {table['snp_id'].iat[i]!r} appears more than once "
                         f"(again at chr{table['chrom'].iat[i]}:{table['pos'].iat[i]})", fix)


def _hashes(ids: pd.Series) -> np.ndarray:
    return pd.util.hash_pandas_object(ids, index=False).to_numpy()


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
                      snps_only: bool = True, dedupe: bool = True,
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
    snps_only : drop variants whose REF or ALT is not one base A, C, G or T (indels).
    dedupe : rename a SNP whose ID an earlier kept SNP has by its varID (with one
        warning), instead of stopping there.
    dtype : the dosages' encoding on disk: the one-byte codes, or float32 (as they are, for
        measuring what the codes change: benchmarks/dosage_encoding.py).
    """
    cand = read_id_list(candidates, "candidate SNP list") if candidates else None
    samples, blocks = read_genotypes(path)
    check_unique(pd.Series(samples), path, "sample")
    counts, tables, ids = GenotypeCounts(), [], SnpIds(path, dedupe)
    with atomic_output(dosages_out) as tmp, open(tmp, "wb") as fh:
        writer = NpyRowWriter(fh, len(samples), dtype)
        for block in tqdm(blocks, desc="variant blocks", unit="block", mininterval=5):
            counts.read += len(block.table)
            kept = filter_block(block, min_maf, cand, counts, snps_only)
            check_range(kept, path)
            ids.add(kept.table, counts)
            writer.write(encode(kept.dosages) if dtype == CODE else kept.dosages)
            tables.append(kept.table)
        writer.close()
        fh.close()
        snps = pd.concat(tables, ignore_index=True)
        counts.kept = len(snps)
        ids.warn(counts)
        _log_counts(path, counts, min_maf)
        if not counts.kept:
            raise EmptyAfterFilterError(
                path, f"no SNP is left after the filters (MAF >= {min_maf}, autosomes 1-22, "
                "biallelic, candidate list)",
                "lower genotypes.min_maf or check the chromosome names and the candidate list")
        check_sorted(snps, path)
        write_table(snps, snps_out)
        write_table(pd.DataFrame({"individual": samples}), individuals_out)
    return counts


def _log_counts(path, c: GenotypeCounts, min_maf: float) -> None:
    log.info("%s: read %d variants; dropped %d multi-allelic, %d without ALT, %d indels (or "
             "alleles other than A/C/G/T), %d not autosomal, %d not candidates, %d with MAF < "
             "%g; kept %d; %d missing dosages set to the SNP mean; %d records without a DS value "
             "read as missing; %d PLINK variants flipped to the ref/alt of their varID; %d "
             "repeated SNP IDs renamed", path, c.read, c.multiallelic, c.no_alt, c.indels,
             c.not_autosomal, c.not_candidate, c.low_maf, min_maf, c.kept, c.missing_imputed,
             c.no_ds, c.flipped, c.renamed)
