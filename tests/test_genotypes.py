"""Genotype ingest: VCF (DS or GT) and PLINK, filters, errors, the streamed .npy."""

import io

import numpy as np
import pandas as pd
import pytest

from milage import genotypes
from milage.dosages import STEP, DosageMatrix
from milage.errors import EmptyAfterFilterError, InputError
from milage.genotypes import NpyRowWriter, prepare_genotypes

HEADER = """##fileformat=VCFv4.2
##contig=<ID=1>
##contig=<ID=2>
##contig=<ID=X>
{formats}#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\ts4
"""
GT = '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
DS = '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">\n'


def write_vcf(path, rows, formats=GT + DS):
    path.write_text(HEADER.format(formats=formats) + "".join("\t".join(map(str, r)) + "\n"
                                                              for r in rows))
    return path


def run(tmp_path, vcf, **kwargs):
    out = {k: tmp_path / f"out.{k}" for k in ("npy", "tsv.gz", "ind.tsv")}
    counts = prepare_genotypes(vcf, out["npy"], out["tsv.gz"], out["ind.tsv"], **kwargs)
    snps = pd.read_csv(out["tsv.gz"], sep="\t", dtype={"chrom": str})
    assert np.load(out["npy"], mmap_mode="r").dtype == np.uint8    # one byte per dosage
    return counts, DosageMatrix(out["npy"])[:], snps, out


def test_ds_filters_and_missing(tmp_path):
    rows = [
        ("chr1", 100, "rs1", "A", "G", ".", "PASS", ".", "GT:DS", "0/0:0.1", "0/1:0.9", "1/1:2",
         "./.:."),
        ("chr1", 200, "rs2", "A", "G,T", ".", "PASS", ".", "GT:DS", "0/0:0", "0/1:1", "0/0:0",
         "0/0:0"),                                            # multi-allelic
        ("chr1", 300, "rs3", "C", "T", ".", "PASS", ".", "GT:DS", "0/0:0", "0/0:0", "0/0:0",
         "0/0:0"),                                            # monomorphic: MAF 0
        ("chr2", 50, ".", "G", "A", ".", "PASS", ".", "GT:DS", "0/1:1", "0/1:1", "0/0:0",
         "1/1:2"),                                            # no ID: a varID is made
        ("chrX", 10, "rsX", "G", "A", ".", "PASS", ".", "GT:DS", "0/1:1", "0/1:1", "0/0:0",
         "0/0:0"),                                            # not autosomal
    ]
    counts, dos, snps, out = run(tmp_path, write_vcf(tmp_path / "a.vcf", rows))
    assert (counts.read, counts.multiallelic, counts.not_autosomal, counts.low_maf,
            counts.kept, counts.missing_imputed) == (5, 1, 1, 1, 2, 1)
    assert list(snps["snp_id"]) == ["rs1", "chr2_50_G_A"]
    mean = (0.1 + 0.9 + 2) / 3
    np.testing.assert_allclose(dos, [[0.1, 0.9, 2, mean], [1, 1, 0, 2]], atol=STEP / 2)
    assert snps["n_missing"].tolist() == [1, 0]
    np.testing.assert_allclose(snps["af"], [mean / 2, 0.5], rtol=1e-6)
    assert pd.read_csv(out["ind.tsv"], sep="\t")["individual"].tolist() == ["s1", "s2", "s3",
                                                                             "s4"]


def test_gt_only_vcf(tmp_path):
    rows = [("1", 100, "rs1", "A", "G", ".", "PASS", ".", "GT", "0/0", "0|1", "1/1", "./.")]
    _, dos, _, _ = run(tmp_path, write_vcf(tmp_path / "gt.vcf", rows, formats=GT))
    np.testing.assert_allclose(dos, [[0, 1, 2, 1]])


def test_vcf_without_ds_or_gt(tmp_path):
    ad = '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depth">\n'
    rows = [("1", 100, "rs1", "A", "G", ".", "PASS", ".", "AD", "1,0", "1,0", "1,0", "1,0")]
    vcf = write_vcf(tmp_path / "ad.vcf", rows, formats=ad)
    with pytest.raises(InputError) as err:
        run(tmp_path, vcf)
    assert str(err.value) == (f"{vcf}: the VCF declares neither a DS nor a GT FORMAT field. "
                              "Fix: export imputed dosages as FORMAT/DS (or genotype calls as GT)")
    assert not list(tmp_path.glob("out.*")) and not list(tmp_path.glob(".out*"))


def _rows(*specs):
    return [(c, p, i, "A", "G", ".", "PASS", ".", "DS", "0", "1", "2", "1") for c, p, i in specs]


def test_unsorted_and_duplicate_ids(tmp_path):
    vcf = write_vcf(tmp_path / "u.vcf", _rows(("1", 200, "rs1"), ("1", 100, "rs2")))
    with pytest.raises(InputError, match=r"variant rs2 at chr1:100 is out of order.*bcftools sort"):
        run(tmp_path, vcf)
    vcf = write_vcf(tmp_path / "r.vcf", _rows(("1", 100, "rs1"), ("2", 100, "rs2"),
                                              ("1", 300, "rs3")))
    with pytest.raises(InputError, match=r"variant rs3 at chr1:300 is out of order"):
        run(tmp_path, vcf)
    vcf = write_vcf(tmp_path / "d.vcf", _rows(("1", 100, "rs1"), ("1", 200, "rs1")))
    with pytest.raises(InputError, match=r"SNP ID 'rs1' appears more than once"):
        run(tmp_path, vcf, dedupe=False)
    assert not (tmp_path / "out.npy").exists()


def _row(pos, snp, ref="A", alt="G", fmt="DS", ds=("0", "1", "2", "1")):
    return ("1", pos, snp, ref, alt, ".", "PASS", ".", fmt, *ds)


def test_snps_only_counts_indels_multiallelic_and_no_alt(tmp_path, caplog):
    """Indels and other alleles are dropped with snps_only (the default), multi-allelic
    records and records without ALT always; each is counted apart in the one log line."""
    rows = [_row(100, "rs1"), _row(200, "ins", alt="AT"), _row(300, "del", ref="GC"),
            _row(400, "n", ref="N"), _row(500, "sym", alt="<DEL>"), _row(600, "multi", alt="G,T"),
            _row(700, "mono", alt="."), _row(800, "rs8", ref="c", alt="t")]
    vcf = write_vcf(tmp_path / "i.vcf", rows)
    caplog.set_level("INFO", logger="milage.genotypes")
    counts, _, snps, _ = run(tmp_path, vcf)
    assert (counts.read, counts.multiallelic, counts.no_alt, counts.indels, counts.kept) == (
        8, 1, 1, 4, 2)
    assert snps["snp_id"].tolist() == ["rs1", "rs8"]
    assert caplog.messages[-1] == (
        f"{vcf}: read 8 variants; dropped 1 multi-allelic, 1 without ALT, 4 indels (or alleles "
        "other than A/C/G/T), 0 not autosomal, 0 not candidates, 0 with MAF < 0.01; kept 2; "
        "0 missing dosages set to the SNP mean; 0 records without a DS value read as missing; "
        "0 PLINK variants flipped to the ref/alt of their varID; 0 repeated SNP IDs renamed")
    counts, _, snps, _ = run(tmp_path, vcf, snps_only=False)
    assert (counts.multiallelic, counts.no_alt, counts.indels, counts.kept) == (1, 1, 0, 6)
    assert snps["snp_id"].tolist() == ["rs1", "ins", "del", "n", "sym", "rs8"]


@pytest.mark.parametrize("min_maf", [0.01, 0.0])
def test_record_without_ds_is_missing(tmp_path, min_maf):
    """A record whose FORMAT lacks the DS the header declares (a TypeError before) is all
    missing: dropped as rare whatever min_maf; a missing DS of one sample is mean-filled."""
    rows = [_row(100, "rs1", fmt="GT:DS", ds=("0/0:0", "0/1:1", "1/1:2", "./.:.")),
            _row(200, "rs2", fmt="GT", ds=("0/0", "0/1", "1/1", "0/1")),
            _row(300, "rs3", fmt="GT:DS", ds=("0/0:0", "0/1:1", "1/1:2", "0/1:1"))]
    counts, dos, snps, _ = run(tmp_path, write_vcf(tmp_path / "n.vcf", rows), min_maf=min_maf)
    assert (counts.no_ds, counts.low_maf, counts.missing_imputed, counts.kept) == (1, 1, 1, 2)
    assert snps["snp_id"].tolist() == ["rs1", "rs3"]
    np.testing.assert_allclose(dos, [[0, 1, 2, 1], [0, 1, 2, 1]])


def test_repeated_ids_are_renamed_while_streaming(tmp_path, monkeypatch, caplog):
    """With dedupe (the default) the second and later SNPs of an ID take their varID, across
    blocks too, with one warning naming the first five IDs; a varID already taken stops."""
    monkeypatch.setattr(genotypes, "BLOCK", 3)
    rare = [_row(i, f"rare{i}", ds=("0", "0", "0", "0")) for i in (1, 2, 3)]  # a block kept empty
    rows = rare + [_row(100 * (i + 1), f"r{i // 2 + 1}") for i in range(12)]
    vcf = write_vcf(tmp_path / "r.vcf", rows)
    counts, _, snps, _ = run(tmp_path, vcf)
    assert counts.renamed == 6
    assert snps["snp_id"].tolist() == [x for i in range(1, 7) for x in (
        f"r{i}", f"chr1_{200 * i}_A_G")]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"{vcf}: 6 SNPs have the ID of an earlier SNP (first IDs: r1, r2, r3, "
                        "r4, r5) and are renamed chr{chrom}_{pos}_{ref}_{alt}"]
    monkeypatch.setattr(genotypes, "_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    _, _, same, _ = run(tmp_path, vcf)       # every hash equal: the IDs themselves decide
    assert same["snp_id"].tolist() == snps["snp_id"].tolist()
    vcf = write_vcf(tmp_path / "c.vcf", [_row(100, "chr1_300_A_G"), _row(200, "rs1"),
                                         _row(300, "rs1")])
    with pytest.raises(InputError) as err:
        run(tmp_path, vcf)
    assert str(err.value) == (f"{vcf}: SNP ID 'chr1_300_A_G' appears more than once (again at "
                              "chr1:300). Fix: make every SNP ID unique")


def test_repeated_id_without_dedupe_stops_in_its_block(tmp_path, monkeypatch):
    """dedupe: false stops at the block of the first repeat: the malformed record after it
    is never read, and nothing is left behind."""
    monkeypatch.setattr(genotypes, "BLOCK", 2)
    rows = [_row(100, "rs1"), _row(200, "rs2"), _row(300, "rs2"), _row(400, "rs4"),
            _row(500, "rs5", ds=("0", "zz", "1", "1"))]
    vcf = write_vcf(tmp_path / "d.vcf", rows)
    with pytest.raises(InputError) as err:
        run(tmp_path, vcf, dedupe=False)
    assert str(err.value) == (f"{vcf}: SNP ID 'rs2' appears more than once (again at chr1:300). "
                              "Fix: make every SNP ID unique or set genotypes.dedupe: true")
    assert not list(tmp_path.glob("out.*")) and not list(tmp_path.glob(".out*"))


def test_candidates_and_nothing_left(tmp_path):
    vcf = write_vcf(tmp_path / "c.vcf", _rows(("1", 100, "rs1"), ("1", 200, "rs2")))
    (tmp_path / "cand.txt").write_text("# known eQTLs\nrs2\n")
    counts, dos, snps, _ = run(tmp_path, vcf, candidates=tmp_path / "cand.txt")
    assert counts.not_candidate == 1 and snps["snp_id"].tolist() == ["rs2"]
    with pytest.raises(EmptyAfterFilterError, match=r"no SNP is left after the filters "
                       r"\(MAF >= 0.6"):
        run(tmp_path, vcf, min_maf=0.6)


@pytest.mark.parametrize("damage", ["truncated", "bad_ds", "no_columns"])
def test_unreadable_records_are_named(tmp_path, tiny_files, damage):
    """A truncated .vcf.gz or a malformed record stops with the file, the record's number
    and the last good record (htslib prints which field; before, a bare cyvcf2 Exception or
    a segmentation fault); nothing is left behind."""
    if damage == "truncated":
        data = tiny_files["vcf"].read_bytes()
        vcf = tmp_path / "cut.vcf.gz"
        vcf.write_bytes(data[: len(data) // 2])
        match = (r"cut.vcf.gz: record \d+ \(after chr\d+:\d+\) cannot be read: the file is "
                 r"truncated or the record malformed \(htslib's message just above names the "
                 r"field\)\. Fix: check it with `bcftools view FILE > /dev/null`")
    else:
        rows = _rows(("1", 100, "rs1"), ("1", 200, "rs2"))
        vcf = write_vcf(tmp_path / "bad.vcf", rows)
        bad = "1\t300\trs3\tA\tG\t.\tPASS\t.\tDS\t0\tzz\t1\t1" if damage == "bad_ds" \
            else "garbage line"
        vcf.write_text(vcf.read_text() + bad + "\n" + "1\t400\trs4\tA\tG\t.\tPASS\t.\tDS\t0\t1\t2"
                       "\t1\n")
        match = (r"^\S+bad.vcf: record 3 \(after 1:200\) " + (
            "cannot be read: the file is truncated or the record malformed" if damage == "bad_ds"
            else r"has no readable CHROM, POS and REF. Fix: check the line with `bcftools view`"))
    with pytest.raises(InputError, match=match):
        run(tmp_path, vcf)
    assert not list(tmp_path.glob("out.*")) and not list(tmp_path.glob(".out*"))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="the genotype VCF file does not exist"):
        run(tmp_path, tmp_path / "nope.vcf.gz")


def test_plink_matches_vcf(tmp_path, tiny_files):
    from bed_reader import to_bed

    _, dos, snps, out = run(tmp_path, tiny_files["vcf"])
    hard = np.round(dos)  # a .bed holds hard calls
    hard[0, 0] = np.nan   # and may have missing ones
    to_bed(tmp_path / "g.bed", hard.T, properties={
        "iid": pd.read_csv(out["ind.tsv"], sep="\t")["individual"], "sid": snps["snp_id"],
        "chromosome": snps["chrom"], "bp_position": snps["pos"], "allele_1": snps["alt"],
        "allele_2": snps["ref"]})
    plink = tmp_path / "plink"
    plink.mkdir()
    counts, dos_bed, snps_bed, _ = run(plink, tmp_path / "g.bed", min_maf=0.0)
    assert counts.missing_imputed == 1
    hard[0, 0] = np.nanmean(hard[0])
    np.testing.assert_allclose(dos_bed, hard, atol=STEP / 2)
    pd.testing.assert_frame_equal(snps_bed[["chrom", "pos", "snp_id", "ref", "alt"]],
                                  snps[["chrom", "pos", "snp_id", "ref", "alt"]])


def test_plink_varid_with_allele_1_as_ref_is_flipped(tmp_path):
    """A .bim SNP whose GTEx varID names A1 as ref is turned to the ID's orientation
    (dosage 2 - count of A1); other SNPs keep A2 = REF, A1 = ALT; indels and a missing A1
    are dropped as from a VCF."""
    from bed_reader import to_bed

    a1 = ["A", "T", "G", "G", "AT", "0"]
    a2 = ["G", "C", "A", "T", "A", "C"]
    sid = ["chr1_100_A_G_b38", "1_200_C_T", "rs3", "chr1_400_G_T", "rs5", "rs6"]
    counted = np.array([[0, 1, 2, 1], [0, 0, 1, 2], [1, 1, 2, 0], [2, 2, 1, np.nan],
                        [0, 1, 1, 1], [0, 0, 0, 0]], dtype=np.float32)
    to_bed(tmp_path / "f.bed", counted.T, properties={
        "iid": ["i1", "i2", "i3", "i4"], "sid": sid, "chromosome": ["1"] * 6,
        "bp_position": [100, 200, 300, 400, 500, 600], "allele_1": a1, "allele_2": a2})
    counts, dos, snps, _ = run(tmp_path, tmp_path / "f.bed")
    assert (counts.flipped, counts.indels, counts.no_alt, counts.kept) == (2, 1, 1, 4)
    assert snps[["snp_id", "ref", "alt"]].values.tolist() == [
        ["chr1_100_A_G_b38", "A", "G"], ["1_200_C_T", "C", "T"], ["rs3", "A", "G"],
        ["chr1_400_G_T", "G", "T"]]
    np.testing.assert_allclose(dos, [[2, 1, 0, 1], [0, 0, 1, 2], [1, 1, 2, 0],
                                     [0, 0, 1, 1 / 3]], atol=STEP / 2)


def test_npy_row_writer_header():
    for n_cols, blocks in [(3, []), (449, [np.ones((5, 449))] * 3), (10**7, [])]:
        buf = io.BytesIO()
        writer = NpyRowWriter(buf, n_cols)
        for b in blocks:
            writer.write(b)
        writer.close()
        buf.seek(0)
        arr = np.load(buf)
        assert arr.shape == (sum(len(b) for b in blocks), n_cols)
