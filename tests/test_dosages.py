"""The one-byte dosage encoding: round trip, the float32 files of before, bad files and
dosages outside [0, 2]."""

import errno
import re
import tempfile

import numpy as np
import pandas as pd
import pytest
from test_genotypes import DS, GT, run, write_vcf

from milage import dataset
from milage.dosages import STEP, DosageMatrix, decode, encode
from milage.errors import InputError, MilageError
from milage.predict import read_model_snps


def test_codes_round_trip_within_half_a_step():
    rng = np.random.default_rng(0)
    dosages = np.r_[0, 2, 0.01, 1.99, rng.uniform(0, 2, 10_000)].astype(np.float32)
    codes = encode(dosages)
    assert codes.dtype == np.uint8 and codes.max() == 200
    back = decode(codes, 100)
    assert np.abs(back - dosages).max() <= STEP / 2 + 1e-6
    two_decimals = np.round(dosages, 2)
    np.testing.assert_array_equal(decode(encode(two_decimals), 100), two_decimals)
    assert encode(np.array([2.004, -0.004])).tolist() == [200, 0]


def test_a_float32_file_is_read_as_it_is_and_others_refused(tmp_path):
    dosages = np.array([[0.123, 1.5], [2.0, 0.0]], dtype=np.float32)
    np.save(tmp_path / "old.npy", dosages)
    old = DosageMatrix(tmp_path / "old.npy")
    np.testing.assert_array_equal(old[:], dosages)
    np.testing.assert_array_equal(old.take(slice(0, 2), np.array([1])), dosages[:, [1]])
    np.save(tmp_path / "f64.npy", dosages.astype(np.float64))
    with pytest.raises(InputError, match=r"f64\.npy: a dosage matrix of dtype float64 and 2 "
                                         r"dimensions is no encoding milage reads .* Fix: rerun "
                                         r"the prepare_genotypes rule"):
        DosageMatrix(tmp_path / "f64.npy")


def test_a_dosage_outside_0_2_names_the_variant_and_leaves_nothing(tmp_path):
    rows = [("chr1", 100, "rs1", "A", "G", ".", "PASS", ".", "GT:DS", "0/0:0", "0/1:1",
             "1/1:2", "0/1:1"),
            ("chr1", 200, "rs2", "A", "G", ".", "PASS", ".", "GT:DS", "0/0:0", "0/1:1",
             "1/1:2.5", "0/1:1")]
    with pytest.raises(InputError, match=r"a\.vcf: variant rs2 has dosage 2\.5, outside "
                                         r"\[0, 2\] .* Fix: give dosages of the ALT allele"):
        run(tmp_path, write_vcf(tmp_path / "a.vcf", rows, formats=GT + DS))
    assert not list(tmp_path.glob("out.*")) and not list(tmp_path.glob(".out*"))


def test_trans_data_keep_the_codes_and_standardise_a_block_at_a_time(tiny_trans):
    """The trans models' genotypes stay one byte each; a block of individuals is
    standardised on demand by the training individuals' moments of the decoded dosages."""
    ds, data = tiny_trans
    assert data.genotypes.dtype == np.uint8 and data.units == 100
    dosages = ds.genotypes().astype(np.float64)
    train = data.split == "train"
    mean, sd = dosages[train].mean(axis=0), dosages[train].std(axis=0)
    sd[sd == 0] = 1
    np.testing.assert_allclose(data.snp_mean, mean, atol=1e-12)
    rows = np.array([0, 5, 7])
    np.testing.assert_allclose(data.standardised(rows), (dosages[rows] - mean) / sd,
                               rtol=1e-5, atol=1e-5)
    cols = np.array([3, 1])
    np.testing.assert_allclose(data.standardised(rows, cols),
                               ((dosages[rows] - mean) / sd)[:, cols], rtol=1e-5, atol=1e-5)


def test_the_trans_models_genotypes_are_a_memory_map_of_the_codes(tiny_trans, monkeypatch):
    """The individuals x SNPs copy of the codes is memory-mapped from a temporary file
    (GTEx v8: 8.4 GB), written a block of SNPs at a time; a disk too full for it is one
    error naming TMPDIR."""
    ds, _ = tiny_trans
    monkeypatch.setattr(dataset, "TRANSPOSE_SNPS", 7)
    rows = np.array([4, 0, 2])
    codes, units = ds.genotype_codes(rows)
    assert isinstance(codes, np.memmap) and units == 100
    np.testing.assert_array_equal(codes, ds.dosages.codes[:, rows].T)

    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dataset.os, "posix_fallocate", full)
    with pytest.raises(MilageError, match=(
            rf"^the trans models' copy of the genotypes \(0\.0 GB\) does not fit in "
            rf"{re.escape(tempfile.gettempdir())}: No space left on device\. Fix: set TMPDIR "
            r"to a folder on a disk with more free space$")):
        ds.genotype_codes(rows)


def test_new_genotypes_are_rounded_as_ingest_stores_them_and_checked(tmp_path):
    """``milage predict`` reads new genotypes as ingest stores the training ones (so a
    training individual is predicted as in the workflow), and refuses a dosage above 2."""
    snps = pd.DataFrame({"snp_id": ["rs1"], "ref": ["A"], "alt": ["G"], "af": [0.5]})
    rows = [("chr1", 100, "rs1", "A", "G", ".", "PASS", ".", "GT:DS", "0/0:0.123", "0/1:1",
             "1/1:1.996", "0/1:1")]
    _, x = read_model_snps(write_vcf(tmp_path / "ok.vcf", rows, formats=GT + DS), snps)
    np.testing.assert_array_equal(x[:, 0], np.float32([0.12, 1, 2, 1]))
    rows[0] = rows[0][:-1] + ("0/1:2.2",)
    with pytest.raises(InputError, match=r"bad\.vcf: SNP rs1 has a dosage outside \[0, 2\] "
                                         r"\(1 such SNPs\)\. Fix: give dosages of the ALT"):
        read_model_snps(write_vcf(tmp_path / "bad.vcf", rows, formats=GT + DS), snps)
