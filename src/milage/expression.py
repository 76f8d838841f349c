"""Expression ingest: GTEx GCT + sample attributes (or per-tissue BED) to a filtered matrix.

The result is a samples x genes matrix (one sample per individual and tissue) with a sample
table (sample_id, individual, tissue) and a gene table (gene_id, gene_name, chrom, tss).
"""

from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from milage.errors import EmptyAfterFilterError, InputError
from milage.files import read_input_table, require_file
from milage.genotypes import AUTOSOMES, check_unique, normalise_chrom
from milage.settings import ExpressionSettings

log = logging.getLogger(__name__)

_FIX_FILTER = "relax the threshold in config/config.yaml (section expression)"


@dataclass
class Expression:
    """Samples x genes values with their sample and gene tables (rows aligned)."""

    values: np.ndarray
    samples: pd.DataFrame
    genes: pd.DataFrame

    def subset(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None):
        """Keep the sample rows and gene columns selected by boolean masks."""
        rows = np.ones(len(self.samples), bool) if rows is None else rows
        cols = np.ones(len(self.genes), bool) if cols is None else cols
        return Expression(self.values[np.ix_(rows, cols)],
                          self.samples[rows].reset_index(drop=True),
                          self.genes[cols].reset_index(drop=True))


def individual_of(sample_ids: pd.Series) -> pd.Series:
    """GTEx individual ID of each sample ID: its first two dash-separated fields."""
    return sample_ids.str.split("-", n=2).str[:2].str.join("-")


def read_sample_attributes(path: str | os.PathLike) -> pd.DataFrame:
    """Read a SampleAttributesDS-style table; return sample_id and tissue (SMTSD)."""
    path = require_file(path, "sample attributes")
    fix = "use the GTEx SampleAttributesDS layout (tab-separated, SAMPID and SMTSD columns)"
    table = read_input_table(path, "sample attributes", fix, sep="\t", dtype=str,
                             usecols=lambda c: c in ("SAMPID", "SMTSD"))
    missing = {"SAMPID", "SMTSD"} - set(table.columns)
    if missing:
        raise InputError(path, f"column(s) {sorted(missing)} are missing", fix)
    check_unique(table["SAMPID"], path, "sample")
    return table.rename(columns={"SAMPID": "sample_id", "SMTSD": "tissue"})


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_gct(path: str | os.PathLike, keep: set[str]):
    """Read the columns named in ``keep`` of a GCT v1.2 matrix of TPM.

    Empty cells are missing values (NaN); negative or infinite TPM, and a matrix whose size
    differs from its dimensions line (a truncated file), stop with the file named.

    Returns
    -------
    genes : table with gene_id and gene_name (the Name and Description columns; an empty
        Description is the ID).
    sample_ids : the kept sample columns, in file order.
    values : samples x genes float32.
    dropped : the sample columns not in ``keep``.
    """
    path = require_file(path, "expression GCT")
    fix = "give a GCT v1.2 file as GTEx distributes it"
    version, dims, names = _gct_header(path)
    check_unique(pd.Series(names[2:]), path, "sample")
    wanted = [n for n in names[2:] if n in keep]
    table = read_input_table(path, "expression GCT", fix, sep="\t", skiprows=2,
                             usecols=["Name", "Description", *wanted],
                             dtype={"Name": str, "Description": str})
    if (len(table), len(names) - 2) != dims:
        raise InputError(path, f"the matrix has {len(table)} genes x {len(names) - 2} samples "
                         f"but line 2 declares {dims[0]} x {dims[1]}: the file is truncated "
                         "or its dimensions line is wrong", "copy the file again, or correct "
                         "line 2 (genes, then samples, tab-separated)")
    check_unique(table["Name"], path, "gene")
    values = _numeric(table[wanted], table["Name"], path)
    _check_values(values, table["Name"], wanted, path, tpm=True)
    genes = table[["Name", "Description"]].set_axis(["gene_id", "gene_name"], axis=1)
    genes["gene_name"] = genes["gene_name"].fillna(genes["gene_id"])
    return genes, wanted, values.T, [n for n in names[2:] if n not in keep]


def _gct_header(path: Path) -> tuple[str, tuple[int, int], list[str]]:
    """The version line, the declared (genes, samples) and the column names of a GCT."""
    fix = "give a GCT v1.2 file (GTEx gene TPM) or per-tissue BED files"
    try:
        with _open_text(path) as fh:
            version, dims, header = fh.readline(), fh.readline(), fh.readline()
    except (EOFError, OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"the GCT header cannot be read ({err})", fix) from None
    if not version.startswith("#1.2"):
        raise InputError(path, f"first line is {version.strip()!r}, not '#1.2'", fix)
    try:
        n_genes, n_samples = (int(v) for v in dims.split()[:2])
    except ValueError:
        raise InputError(path, f"line 2 is {dims.strip()!r}, not the numbers of genes and "
                         "samples", fix) from None
    names = header.rstrip("\n").split("\t")
    if names[:2] != ["Name", "Description"]:
        raise InputError(path, "line 3 must start with the columns Name and Description",
                         "give a GCT v1.2 file as GTEx distributes it")
    return version, (n_genes, n_samples), names


def _check_values(values: np.ndarray, gene_ids: pd.Series, samples: list[str], path,
                  tpm: bool) -> None:
    """Values (genes x samples) are finite, and TPM not negative; empty cells (NaN) are
    missing values."""
    bad = np.isinf(values) | ((values < 0) if tpm else False)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        what = "TPM" if tpm else "value"
        raise InputError(path, f"{what} {values[row, col]:g} for gene {gene_ids.iat[row]} in "
                         f"sample {samples[col]} ({int(bad.sum())} "
                         f"{'negative or infinite' if tpm else 'infinite'} values)",
                         f"{what} cannot be {'negative or ' if tpm else ''}infinite: fix or "
                         "empty those cells (empty cells are missing values)")


def _numeric(table: pd.DataFrame, gene_ids: pd.Series, path) -> np.ndarray:
    """The table as float32, or an error naming the first non-numeric cell."""
    for col in table.columns:
        if not pd.api.types.is_numeric_dtype(table[col]):
            parsed = pd.to_numeric(table[col], errors="coerce")
            row = int(np.nonzero(parsed.isna() & table[col].notna())[0][0])
            raise InputError(path, f"non-numeric value {table[col].iat[row]!r} for gene "
                             f"{gene_ids.iat[row]} in sample {col}",
                             "fix or remove that value (missing values may be left empty)")
    return table.to_numpy(dtype=np.float32)


GTF_FIX = "give a GTF: 9 tab-separated columns, gene records with gene_id and gene_name"
BED_FIX = "give a BED: chrom, start, end, gene_id[, score, strand], tab-separated"


def read_gene_annotation(path: str | os.PathLike) -> pd.DataFrame:
    """Gene ID, name, chromosome and TSS from a GTF (gene records) or a BED file.

    BED columns: chrom, start, end, gene_id[, score, strand]; TSS = start + 1 on the plus
    strand (or with no strand), end on the minus strand. Chromosomes lose any 'chr' prefix.
    gene_name is missing (NaN) for a BED and for GTF genes without a gene_name attribute.
    """
    path = require_file(path, "gene annotation")
    name = path.name.removesuffix(".gz")
    if name.endswith((".gtf", ".gff")):
        table = read_input_table(path, "GTF gene annotation", GTF_FIX, sep="\t", comment="#",
                                 header=None, dtype=str, usecols=[0, 2, 3, 4, 6, 8],
                                 names=["chrom", "feature", "start", "end", "strand", "attr"])
        table = table[table["feature"] == "gene"]
        ids = table["attr"].str.extract(r'gene_id "([^"]+)"', expand=False)
        genes = pd.DataFrame({
            "gene_id": ids,
            "gene_name": table["attr"].str.extract(r'gene_name "([^"]+)"', expand=False),
            "chrom": table["chrom"], "start": _positions(table["start"], ids, path, GTF_FIX) - 1,
            "end": _positions(table["end"], ids, path, GTF_FIX), "strand": table["strand"]})
    else:
        table = read_input_table(path, "BED gene annotation", BED_FIX, sep="\t", comment="#",
                                 header=None, dtype=str)
        if table.shape[1] < 4:
            raise InputError(path, f"a BED annotation needs at least 4 columns, found "
                             f"{table.shape[1]}", BED_FIX)
        no_names = pd.Series(None, table.index, str)     # the GCT's Description fills them
        genes = pd.DataFrame({"gene_id": table[3], "gene_name": no_names, "chrom": table[0],
                              "start": _positions(table[1], table[3], path, BED_FIX),
                              "end": _positions(table[2], table[3], path, BED_FIX),
                              "strand": table[5] if table.shape[1] > 5 else "+"})
    check_unique(genes["gene_id"], path, "gene")
    genes["chrom"] = normalise_chrom(genes["chrom"])
    genes["tss"] = np.where(genes["strand"] == "-", genes["end"], genes["start"] + 1)
    return genes[["gene_id", "gene_name", "chrom", "tss"]].reset_index(drop=True)


def _positions(column: pd.Series, gene_ids: pd.Series, path, fix: str) -> np.ndarray:
    """A column of base-pair positions as int64, or an error naming the first bad one."""
    parsed = pd.to_numeric(column, errors="coerce")
    bad = (parsed.isna() | (parsed != parsed.round())).to_numpy()
    if bad.any():
        raise InputError(path, f"gene {gene_ids.to_numpy()[bad][0]}: position "
                         f"{column.to_numpy()[bad][0]!r} is not a whole number", fix)
    return parsed.to_numpy(np.int64)


def read_gtex(gct: str | os.PathLike, attributes: str | os.PathLike) -> Expression:
    """Join a GCT matrix with its sample attributes (samples without attributes are dropped)."""
    attrs = read_sample_attributes(attributes)
    genes, sample_ids, values, without = read_gct(gct, set(attrs["sample_id"]))
    if not sample_ids:
        raise InputError(gct, f"no sample column has a row in {attributes} (e.g. GCT column "
                         f"{without[0]}, attributes SAMPID {attrs['sample_id'].iat[0]})",
                         "give the SampleAttributesDS file of the same release")
    if without:
        log.warning("%d samples of %s have no row in %s and are dropped (e.g. %s)",
                    len(without), gct, attributes, without[0])
    tissue = attrs.set_index("sample_id")["tissue"]
    samples = pd.DataFrame({"sample_id": sample_ids, "individual": individual_of(
        pd.Series(sample_ids, dtype=str)), "tissue": tissue.loc[sample_ids].to_numpy()})
    return Expression(values, samples, genes)


def read_expression_beds(beds: dict[str, str | os.PathLike]) -> Expression:
    """Per-tissue normalised-expression BED files (GTEx / tensorQTL layout: #chr, start, end,
    gene_id, then one column per individual). Genes present in every tissue are kept."""
    frames, tables = [], {}
    for tissue, bed in beds.items():
        path = require_file(bed, f"expression BED of tissue {tissue!r}")
        table = read_input_table(path, f"expression BED of tissue {tissue!r}", "give the GTEx "
                                 "/ tensorQTL layout: #chr, start, end, gene_id, then one column "
                                 "per individual", sep="\t", dtype={0: str, 3: str})
        table.columns = ["chrom", "start", "end", "gene_id", *table.columns[4:]]
        check_unique(table["gene_id"], path, "gene")
        check_unique(pd.Series(table.columns[4:]), path, "individual")
        tables[tissue] = (path, table.set_index("gene_id"))
    common = sorted(set.intersection(*(set(t.index) for _, t in tables.values())),
                    key=list(next(iter(tables.values()))[1].index).index)
    if not common:
        raise EmptyAfterFilterError(", ".join(map(str, beds.values())), "no gene is present "
                                    "in every tissue's BED file", "check the gene IDs agree")
    values = []
    for tissue, (path, table) in tables.items():
        table = table.loc[common]
        individuals = list(table.columns[3:])
        values.append(_numeric(table[individuals], pd.Series(common), path).T)
        _check_values(values[-1].T, pd.Series(common), individuals, path, tpm=False)
        frames.append(pd.DataFrame({"sample_id": [f"{i}:{tissue}" for i in individuals],
                                    "individual": individuals, "tissue": tissue}))
    first = next(iter(tables.values()))[1].loc[common]
    genes = pd.DataFrame({"gene_id": common, "gene_name": common,
                          "chrom": normalise_chrom(first["chrom"]),
                          "tss": first["end"].astype(np.int64).to_numpy()})
    return Expression(np.vstack(values), pd.concat(frames, ignore_index=True), genes)


def annotate_genes(expr: Expression, annotation: pd.DataFrame | None, source) -> Expression:
    """Attach chrom and TSS from the annotation; genes it lacks are dropped with a warning.

    gene_name is the annotation's, else the expression input's (the GCT's Description).
    """
    if annotation is None:
        return expr
    known = expr.genes["gene_id"].isin(annotation["gene_id"]).to_numpy()
    if not known.all():
        log.warning("%d genes of the expression data are not in %s and are dropped (e.g. %s)",
                    (~known).sum(), source, expr.genes["gene_id"][~known].iat[0])
    if not known.any():
        raise EmptyAfterFilterError(source, "no expression gene ID is in the gene annotation",
                                    "use the annotation the expression was quantified with")
    expr = expr.subset(cols=known)
    ann = annotation.set_index("gene_id").loc[expr.genes["gene_id"]]
    expr.genes = pd.DataFrame({"gene_id": expr.genes["gene_id"],
                               "gene_name": ann["gene_name"].reset_index(drop=True)
                               .fillna(expr.genes["gene_name"]),
                               "chrom": ann["chrom"].to_numpy(), "tss": ann["tss"].to_numpy()})
    return expr


def filter_samples(expr: Expression, genotyped: set[str], settings: ExpressionSettings,
                   source) -> Expression:
    """Genotyped individuals, configured tissues, one sample per (individual, tissue),
    tissues with at least ``min_samples`` samples."""
    s = expr.samples
    if settings.tissues:
        absent = sorted(set(settings.tissues) - set(s["tissue"]))
        if absent:
            raise InputError("config expression.tissues", f"tissue {absent[0]!r} is not in "
                             f"the expression data ({source})", "use a tissue name (SMTSD) "
                             f"from the data, e.g. {s['tissue'].iat[0]!r}")
        expr = expr.subset(rows=s["tissue"].isin(settings.tissues).to_numpy())
    has_geno = expr.samples["individual"].isin(genotyped).to_numpy()
    if not has_geno.any():
        raise InputError(source, "no expression sample belongs to a genotyped individual "
                         f"(e.g. {expr.samples['individual'].iat[0]!r} is not in the genotypes)",
                         "check that sample IDs start with the genotype file's individual IDs")
    if not has_geno.all():
        log.warning("%d samples of %d individuals without genotypes are dropped",
                    (~has_geno).sum(), expr.samples["individual"][~has_geno].nunique())
    expr = expr.subset(rows=has_geno)
    dup = expr.samples.duplicated(["individual", "tissue"]).to_numpy()
    if dup.any():
        log.warning("%d duplicate (individual, tissue) samples dropped; the rule keeps the sample "
                    "listed first in the expression file: %s", dup.sum(),
                    ", ".join(expr.samples["sample_id"][dup]))
    expr = expr.subset(rows=~dup)
    counts = expr.samples["tissue"].value_counts()
    small = counts[counts < settings.min_samples]
    if len(small):
        log.info("tissues with fewer than %d samples dropped: %s", settings.min_samples,
                 ", ".join(f"{t} ({n})" for t, n in small.items()))
    if len(small) == len(counts):
        raise EmptyAfterFilterError(source, f"no tissue has at least min_samples = "
                                    f"{settings.min_samples} samples (largest: {counts.max()})",
                                    _FIX_FILTER)
    return expr.subset(rows=~expr.samples["tissue"].isin(small.index).to_numpy())


def filter_genes(expr: Expression, settings: ExpressionSettings, source,
                 apply_threshold: bool = True) -> Expression:
    """Autosomal genes expressed >= threshold in >= min_expressed_fraction of the samples."""
    auto = expr.genes["chrom"].isin(AUTOSOMES).to_numpy()
    log.info("%d genes not on autosomes 1-22 dropped", (~auto).sum())
    if not auto.any():
        raise EmptyAfterFilterError(source, "no gene is on autosomes 1-22",
                                    "check the chromosome names of the gene annotation")
    keep = auto
    if apply_threshold:       # over a gene's observed samples (empty cells are missing)
        observed = np.maximum((~np.isnan(expr.values)).sum(axis=0), 1)
        frac = (expr.values >= settings.threshold).sum(axis=0) / observed
        expressed = frac >= settings.min_expressed_fraction
        log.info("%d autosomal genes expressed below %g in %g of samples dropped",
                 (auto & ~expressed).sum(), settings.threshold, settings.min_expressed_fraction)
        keep = auto & expressed
        if not keep.any():
            raise EmptyAfterFilterError(
                source, f"no gene passes the expression filter (>= {settings.threshold:g} in >= "
                f"{settings.min_expressed_fraction:g} of samples)", _FIX_FILTER)
    return expr.subset(cols=keep)


def transform(values: np.ndarray, how: str) -> np.ndarray:
    """log2(x + 1) for "log2"; the values unchanged for "none"."""
    return np.log2(values + 1.0) if how == "log2" else values


def prepare_expression(settings: ExpressionSettings, genotyped: set[str], *,
                       gct: str | None = None, attributes: str | None = None,
                       beds: dict[str, str] | None = None,
                       annotation: str | None = None) -> Expression:
    """Read GCT + attributes (or per-tissue BEDs) and apply every sample and gene filter.

    GCT values are TPM: the expression threshold applies, then the transform. BED values are
    already normalised: they are used as they are.
    """
    if beds:
        expr, source = read_expression_beds(beds), "expression BED files"
    else:
        expr, source = read_gtex(gct, attributes), gct
    ann = read_gene_annotation(annotation) if annotation else None
    if ann is None and not beds:
        raise InputError("config inputs.gene_annotation", "a GCT input needs a gene annotation",
                         "name a GTF or BED file with gene TSS positions")
    expr = annotate_genes(expr, ann, annotation)
    expr = filter_samples(expr, genotyped, settings, source)
    expr = filter_genes(expr, settings, source, apply_threshold=not beds)
    if not beds:
        expr.values = transform(expr.values, settings.transform).astype(np.float32)
    missing = np.isnan(expr.values)
    if missing.any():
        log.info("%d expression cells of %d genes are empty in the input: each is a missing "
                 "sample of its gene", missing.sum(), missing.any(axis=0).sum())
    log.info("expression: %d samples of %d individuals in %d tissues, %d genes",
             len(expr.samples), expr.samples["individual"].nunique(),
             expr.samples["tissue"].nunique(), len(expr.genes))
    return expr
