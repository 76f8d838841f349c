"""Expression ingest: GCT + attributes or BED, sample and gene filters, errors."""

import gzip
import logging

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

from milage.errors import EmptyAfterFilterError, InputError
from milage.expression import (
    individual_of,
    prepare_expression,
    read_gct,
    read_gene_annotation,
)
from milage.settings import ExpressionSettings

SAMPLES = ["GTEX-A-0001-SM-1", "GTEX-B-0001-SM-2", "GTEX-C-0001-SM-3", "GTEX-A-0002-SM-4",
           "GTEX-B-0002-SM-5", "GTEX-A-0001-SM-6"]
TISSUES = ["Lung", "Lung", "Lung", "Thyroid", "Thyroid", "Lung"]  # SM-6: A's second lung


def write_inputs(tmp_path, values=None, gene_ids=("G1", "G2", "G3"), chroms=("1", "2", "X")):
    values = np.arange(18, dtype=float).reshape(3, 6) + 1 if values is None else values
    gct = tmp_path / "e.gct"
    with open(gct, "w") as fh:
        fh.write(f"#1.2\n{len(gene_ids)}\t{len(SAMPLES)}\nName\tDescription\t"
                 + "\t".join(SAMPLES) + "\n")
        for g, row in zip(gene_ids, values, strict=True):
            fh.write(f"{g}\t{g.lower()}\t" + "\t".join(map(str, row)) + "\n")
    attrs = tmp_path / "a.tsv"
    pd.DataFrame({"SAMPID": SAMPLES + ["GTEX-Z-0004-SM-9"], "SMTSD": TISSUES + ["Whole Blood"],
                  "SMAFRZE": "RNASEQ"}).to_csv(attrs, sep="\t", index=False)
    bed = tmp_path / "genes.bed"
    bed.write_text("".join(f"chr{c}\t{100 * i}\t{100 * i + 50}\t{g}\t0\t{'+-'[i % 2]}\n"
                           for i, (g, c) in enumerate(zip(gene_ids, chroms, strict=True))))
    return {"gct": gct, "attributes": attrs, "annotation": bed}


def settings(**kw):
    return ExpressionSettings(**{"min_samples": 1, "threshold": 0.0,
                                 "min_expressed_fraction": 0.0, **kw})


def test_individual_ids_from_sample_ids():
    ids = pd.Series(["GTEX-1117F-0226-SM-5GZZ7", "GTEX-ZZPU-2626-SM-5E45Y", "K-562-SM-1"])
    assert individual_of(ids).tolist() == ["GTEX-1117F", "GTEX-ZZPU", "K-562"]


def test_filters_duplicates_and_transform(tmp_path, caplog):
    files = write_inputs(tmp_path)
    with caplog.at_level(logging.INFO):
        expr = prepare_expression(settings(), {"GTEX-A", "GTEX-B"}, **files)
    # C has no genotype; A's second lung sample (listed last) is a duplicate; G3 is on chrX
    assert expr.samples["sample_id"].tolist() == SAMPLES[:2] + SAMPLES[3:5]
    assert expr.genes["gene_id"].tolist() == ["G1", "G2"]
    assert expr.genes["tss"].tolist() == [1, 150]  # plus strand start + 1; minus strand end
    raw = np.arange(18).reshape(3, 6) + 1
    np.testing.assert_allclose(expr.values, np.log2(raw[:2, [0, 1, 3, 4]].T + 1), rtol=1e-6)
    assert "1 samples of 1 individuals without genotypes are dropped" in caplog.text
    assert "keeps the sample listed first in the expression file: GTEX-A-0001-SM-6" in caplog.text


def test_min_samples_threshold_and_empty_filters(tmp_path):
    files = write_inputs(tmp_path)
    expr = prepare_expression(settings(min_samples=3), {"GTEX-A", "GTEX-B", "GTEX-C"}, **files)
    assert set(expr.samples["tissue"]) == {"Lung"}
    with pytest.raises(EmptyAfterFilterError) as err:
        prepare_expression(settings(min_samples=4), {"GTEX-A", "GTEX-B", "GTEX-C"}, **files)
    assert "no tissue has at least min_samples = 4 samples (largest: 3)" in str(err.value)
    values = np.full((3, 6), 0.05)
    values[0, :3] = 1.0
    files = write_inputs(tmp_path, values=values)
    expr = prepare_expression(settings(threshold=0.1, min_expressed_fraction=0.5),
                              {"GTEX-A", "GTEX-B", "GTEX-C"}, **files)
    assert expr.genes["gene_id"].tolist() == ["G1"]  # 3 of 5 samples >= 0.1
    with pytest.raises(EmptyAfterFilterError,
                       match=r"no gene passes the expression filter \(>= 2 in >= 0.5 of samples"):
        prepare_expression(settings(threshold=2.0, min_expressed_fraction=0.5),
                           {"GTEX-A", "GTEX-B", "GTEX-C"}, **files)


def test_no_genotyped_individual(tmp_path):
    files = write_inputs(tmp_path)
    with pytest.raises(InputError, match="no expression sample belongs to a genotyped individual"):
        prepare_expression(settings(), {"NA12878"}, **files)


def test_tissue_named_in_config_is_absent(tmp_path):
    files = write_inputs(tmp_path)
    with pytest.raises(InputError) as err:
        prepare_expression(settings(tissues=["Lung", "Liver"]), {"GTEX-A"}, **files)
    assert str(err.value).startswith("config expression.tissues: tissue 'Liver' is not in the "
                                     "expression data")


def test_non_numeric_value_names_gene_and_sample(tmp_path):
    files = write_inputs(tmp_path)
    text = files["gct"].read_text().replace("\t9.0\t", "\tNA?\t")
    files["gct"].write_text(text)
    with pytest.raises(InputError) as err:
        read_gct(files["gct"], set(SAMPLES))
    assert str(err.value) == (f"{files['gct']}: non-numeric value 'NA?' for gene G2 in sample "
                              "GTEX-C-0001-SM-3. Fix: fix or remove that value (missing values "
                              "may be left empty)")


@pytest.mark.parametrize("value, shown", [("-3.0", "-3"), ("inf", "inf"), ("-inf", "-inf")])
def test_negative_or_infinite_tpm_names_gene_and_sample(tmp_path, value, shown):
    files = write_inputs(tmp_path)
    files["gct"].write_text(files["gct"].read_text().replace("\t9.0\t", f"\t{value}\t"))
    with pytest.raises(InputError) as err:
        read_gct(files["gct"], set(SAMPLES))
    assert str(err.value) == (f"{files['gct']}: TPM {shown} for gene G2 in sample "
                              "GTEX-C-0001-SM-3 (1 negative or infinite values). Fix: TPM cannot "
                              "be negative or infinite: fix or empty those cells (empty cells "
                              "are missing values)")


def test_truncated_gct_is_refused(tmp_path):
    """The dimensions line is checked: a file cut after 2 of 3 genes (before, read without a
    word), and a .gct.gz cut inside its compressed stream."""
    files = write_inputs(tmp_path)
    lines = files["gct"].read_text().splitlines(keepends=True)
    files["gct"].write_text("".join(lines[:-1]))
    with pytest.raises(InputError) as err:
        read_gct(files["gct"], set(SAMPLES))
    assert str(err.value) == (f"{files['gct']}: the matrix has 2 genes x 6 samples but line 2 "
                              "declares 3 x 6: the file is truncated or its dimensions line is "
                              "wrong. Fix: copy the file again, or correct line 2 (genes, then "
                              "samples, tab-separated)")
    big = tmp_path / "big.gct.gz"
    with gzip.open(big, "wt") as fh:
        fh.write(f"#1.2\n2000\t{len(SAMPLES)}\nName\tDescription\t" + "\t".join(SAMPLES) + "\n")
        rng = np.random.default_rng(0)
        for g in range(2000):
            fh.write(f"G{g}\tg\t" + "\t".join(f"{v:.6f}" for v in rng.random(6)) + "\n")
    data = big.read_bytes()
    big.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"big.gct.gz: the compressed expression GCT file is "
                                         r"truncated or corrupt \(.*\)\. Fix: copy or download it "
                                         r"again$"):
        read_gct(big, set(SAMPLES))


def test_empty_or_ragged_tables_name_the_file(tmp_path):
    files = write_inputs(tmp_path)
    files["attributes"].write_text("")
    with pytest.raises(InputError) as err:
        prepare_expression(settings(), {"GTEX-A"}, **files)
    assert str(err.value) == (f"{files['attributes']}: the sample attributes file is empty. "
                              "Fix: use the GTEx SampleAttributesDS layout (tab-separated, SAMPID "
                              "and SMTSD columns)")
    files["annotation"].write_text("chr1\t100\t150\tG1\nchr2\t200\t250\tG2\t0\t+\n")
    with pytest.raises(InputError, match=r"genes.bed: the BED gene annotation file cannot be "
                                         r"read: Expected 4 fields in line 2, saw 6\. Fix: give"):
        read_gene_annotation(files["annotation"])
    files["annotation"].write_text("chr1\t100\tabc\tG1\n")
    with pytest.raises(InputError, match=r"genes.bed: gene G1: position 'abc' is not a whole "
                                         r"number. Fix: give a BED"):
        read_gene_annotation(files["annotation"])


def test_gct_and_attributes_without_a_common_sample(tmp_path):
    files = write_inputs(tmp_path)
    files["attributes"].write_text("SAMPID\tSMTSD\nGTEX-Q-0001-SM-1\tLung\n")
    with pytest.raises(InputError) as err:
        prepare_expression(settings(), {"GTEX-A"}, **files)
    assert str(err.value) == (f"{files['gct']}: no sample column has a row in "
                              f"{files['attributes']} (e.g. GCT column GTEX-A-0001-SM-1, "
                              "attributes SAMPID GTEX-Q-0001-SM-1). Fix: give the "
                              "SampleAttributesDS file of the same release")


def test_duplicate_ids(tmp_path):
    files = write_inputs(tmp_path, gene_ids=("G1", "G1", "G3"))
    with pytest.raises(InputError, match="gene ID 'G1' appears more than once"):
        read_gct(files["gct"], set(SAMPLES))
    files = write_inputs(tmp_path)
    files["gct"].write_text(files["gct"].read_text().replace("GTEX-B-0002-SM-5",
                                                             "GTEX-A-0002-SM-4"))
    with pytest.raises(InputError, match="sample ID 'GTEX-A-0002-SM-4' appears more than once"):
        read_gct(files["gct"], set(SAMPLES))


def test_gtf_annotation(tmp_path):
    gtf = tmp_path / "a.gtf"
    gtf.write_text(
        "##comment\n"
        'chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id "E1.5"; gene_name "DDX11L1";\n'
        'chr1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tgene_id "E1.5"; gene_name "DDX11L1";\n'
        'chr1\tHAVANA\tgene\t14404\t29570\t.\t-\t.\tgene_id "E2.2"; gene_name "WASH7P";\n')
    genes = read_gene_annotation(gtf)
    assert genes.to_dict("list") == {"gene_id": ["E1.5", "E2.2"], "gene_name": ["DDX11L1",
                                     "WASH7P"], "chrom": ["1", "1"], "tss": [11869, 29570]}


def test_gene_names_from_the_gct_description_with_a_bed_annotation(tmp_path):
    """A BED annotation has no symbols: gene_name (genes.tsv) is the GCT's Description, an
    empty Description is the ID; a GTF's gene_name wins where it has one."""
    ids = ("ENSG00000141510.16", "ENSG00000012048.22", "ENSG00000139618.15")
    files = write_inputs(tmp_path, gene_ids=ids, chroms=("17", "17", "13"))
    text = files["gct"].read_text()
    for gene_id, symbol in zip(ids, ("TP53", "BRCA1", ""), strict=True):
        text = text.replace(f"{gene_id}\t{gene_id.lower()}\t", f"{gene_id}\t{symbol}\t")
    files["gct"].write_text(text)
    expr = prepare_expression(settings(), {"GTEX-A", "GTEX-B"}, **files)
    assert expr.genes["gene_id"].tolist() == list(ids)
    assert expr.genes["gene_name"].tolist() == ["TP53", "BRCA1", "ENSG00000139618.15"]
    gtf = tmp_path / "a.gtf"
    gtf.write_text("".join(f'chr{c}\tH\tgene\t{s}\t{s + 9}\t.\t+\t.\tgene_id "{i}";{n}\n'
                           for i, c, s, n in zip(ids, (17, 17, 13), (1, 50, 1), (
                               ' gene_name "TP53-GTF";', "", ""), strict=True)))
    expr = prepare_expression(settings(), {"GTEX-A"}, **{**files, "annotation": gtf})
    assert expr.genes["gene_name"].tolist() == ["TP53-GTF", "BRCA1", "ENSG00000139618.15"]


def test_expression_beds(tmp_path):
    for tissue, genes in [("Lung", ["G1", "G2", "G3"]), ("Liver", ["G2", "G1"])]:
        rows = [f"chr1\t{i}\t{i + 1}\t{g}\t{i}.5\t-{i}\n" for i, g in enumerate(genes)]
        (tmp_path / f"{tissue}.bed").write_text("#chr\tstart\tend\tgene_id\tGTEX-A\tGTEX-B\n"
                                                + "".join(rows))
    beds = {"Lung": tmp_path / "Lung.bed", "Liver": tmp_path / "Liver.bed"}
    expr = prepare_expression(settings(), {"GTEX-A"}, beds=beds)
    assert expr.genes["gene_id"].tolist() == ["G1", "G2"]  # in every tissue
    assert expr.samples["sample_id"].tolist() == ["GTEX-A:Lung", "GTEX-A:Liver"]
    np.testing.assert_allclose(expr.values, [[0.5, 1.5], [1.5, 0.5]])


def test_demo_ingest_keeps_the_planted_genes(tiny_cohort, tiny_files):
    genotyped = set(tiny_cohort.individuals[: tiny_cohort.n_genotyped])
    expr = prepare_expression(settings(min_samples=10, threshold=0.1,
                                       min_expressed_fraction=0.5), genotyped,
                              gct=tiny_files["gct"], attributes=tiny_files["attributes"],
                              annotation=tiny_files["gtf"])
    genes = tiny_cohort.genes
    expected = genes["gene_id"][genes["kind"].isin(["expressed", "desert"])]
    assert expr.genes["gene_id"].tolist() == expected.tolist()
    pairs = tiny_cohort.samples[tiny_cohort.samples["individual"].isin(genotyped)]
    assert len(expr.samples) == len(pairs.drop_duplicates(["individual", "tissue"]))
    assert expr.samples["tissue"].nunique() == TINY["n_tissues"]
