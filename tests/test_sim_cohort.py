"""The demo simulator: GTEx-like structure, planted truth consistent with the files."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, write_tiny
from cyvcf2 import VCF

from milage.expression import read_gct, read_sample_attributes
from milage.sim_cohort import factors


def test_missingness_and_tissue_sampling(tiny_cohort):
    c = tiny_cohort
    n_ind = len(c.individuals)
    pairs = c.samples.drop_duplicates(["individual", "tissue"])
    absent = 1 - len(pairs) / (n_ind * TINY["n_tissues"])
    assert 0.3 < absent < 0.6
    counts = pairs["tissue"].value_counts()
    assert counts.min() == round(TINY["min_tissue_fraction"] * n_ind)
    assert counts.max() == round(0.8 * n_ind)
    assert len(c.samples) - len(pairs) == TINY["n_replicates"]


def test_allele_frequency_spectrum_and_ld(tiny_cohort):
    dos = tiny_cohort.dosages[:, : tiny_cohort.n_genotyped]
    af = np.nanmean(dos, axis=1) / 2
    maf = np.minimum(af, 1 - af)
    assert 0.01 < (maf < 0.01).mean() < 0.15
    assert (maf > 0.3).mean() > 0.2
    x = np.where(np.isnan(dos), np.nanmean(dos, axis=1, keepdims=True), dos)
    common = np.nonzero(maf > 0.05)[0]
    x = x[common]
    r = np.array([abs(np.corrcoef(x[i], x[i + 1])[0, 1]) for i in range(len(x) - 1)])
    far = np.array([abs(np.corrcoef(x[i], x[(i + len(x) // 2) % len(x)])[0, 1])
                    for i in range(len(x))])
    assert np.median(r) > 0.25  # neighbours share LD blocks
    assert np.median(far) < 0.1


def test_dosages_are_imputed_style(tiny_cohort):
    dos = tiny_cohort.dosages
    ok = ~np.isnan(dos)
    assert dos[ok].min() >= 0 and dos[ok].max() <= 2
    fractional = (dos[ok] != np.round(dos[ok])).mean()
    assert 0.1 < fractional < 0.9
    assert 0 < np.isnan(dos).mean() < 0.01


def test_genes_include_chrx_low_and_desert(tiny_cohort):
    kinds = tiny_cohort.genes["kind"].value_counts()
    assert kinds["chrX"] == TINY["n_chrx_genes"]
    assert kinds["low"] == TINY["n_low_genes"]
    assert kinds["desert"] == TINY["n_desert_genes"]
    desert = tiny_cohort.genes[tiny_cohort.genes["kind"] == "desert"]
    for _, g in desert.iterrows():
        snps = tiny_cohort.snps
        near = (snps["chrom"] == g["chrom"]) & ((snps["pos"] - g["tss"]).abs() <= 100_000)
        assert not near.any()


def _latent(files, truth):
    """Expression on the simulator's latent scale, read back from the written files."""
    attrs = read_sample_attributes(files["attributes"])
    genes, ids, tpm, _ = read_gct(files["gct"], set(attrs["sample_id"]))
    tissue = attrs.set_index("sample_id").loc[ids, "tissue"].to_numpy()
    k = pd.Index(truth["tissues"]).get_indexer(tissue)
    log_expr = np.log2(tpm.astype(np.float64) + 1)
    return (log_expr - truth["log_mean"][k]) / truth["log_sd"], ids, k


def test_planted_shares_hold_in_the_written_files(tiny_files):
    """Predictions from truth.npz explain the planted shares of the GCT's variance."""
    truth = dict(np.load(tiny_files["truth"], allow_pickle=False))
    latent, ids, k = _latent(tiny_files, truth)
    vcf = VCF(str(tiny_files["vcf"]))
    geno = np.array([v.format("DS")[:, 0] for v in vcf]).T.astype(np.float64)
    geno = np.where(np.isnan(geno), np.nanmean(geno, axis=0), geno)
    ind_ids = list(vcf.samples)
    individual = pd.Series(ids).str.split("-").str[:2].str.join("-")
    genotyped = individual.isin(ind_ids).to_numpy()
    i = pd.Index(ind_ids).get_indexer(individual[genotyped])
    latent, k = latent[genotyped], k[genotyped]
    cis = np.zeros_like(latent)
    for g, s, w in zip(truth["cis_gene"], truth["cis_snp"], truth["cis_weight"], strict=True):
        cis[:, g] += geno[i, s] * w[k]
    f = factors(geno, truth["alpha"], truth["a"], str(truth["activation"]))
    trans = np.einsum("nt,njt->nj", f[i], truth["beta"][k])
    scored = np.isin(truth["gene_kind"], ["expressed", "desert"])

    def ve(pred):
        resid = latent - pred
        frame = lambda a: pd.DataFrame(a[:, scored]).groupby(k)  # noqa: E731
        return 1 - frame(resid).var(ddof=0).to_numpy().sum() / frame(latent).var(
            ddof=0).to_numpy().sum()

    # cis and trans are scaled to their shares on the generating individuals, noise is random
    assert ve(cis) == pytest.approx(0.43, abs=0.04)
    assert ve(cis + trans) == pytest.approx(0.60, abs=0.04)


def test_planted_tissue_groups_and_modules(tiny_cohort):
    t = tiny_cohort.truth
    act = t["tissue_activation"]
    groups = t["tissue_group"]
    artery = np.nonzero(groups == "artery")[0]
    others = np.nonzero((groups != "artery") & ~t["tissue_outlier"])[0]
    within = np.linalg.norm(act[artery[0]] - act[artery[1]])
    between = np.linalg.norm(act[artery[0]] - act[others[0]])
    assert within < between
    assert np.linalg.norm(act[t["tissue_outlier"]]) > 2 * np.linalg.norm(act[others[0]])
    names = tiny_cohort.genes["gene_name"].to_numpy()
    for f in range(TINY["n_factors"]):
        assert set(tiny_cohort.modules[f"MODULE_F{f + 1:02d}"]) == set(names[t["module"][:, f]])
    assert sum(n.startswith("DECOY") for n in tiny_cohort.modules) == TINY["n_decoy_sets"]


def test_same_seed_same_bytes(tmp_path):
    a, b = write_tiny(tmp_path / "a"), write_tiny(tmp_path / "b")
    c = write_tiny(tmp_path / "c", seed=8)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    for kind in ("vcf", "gct", "attributes", "gtf", "gmt", "truth"):
        assert digest(a[kind]) == digest(b[kind]), kind
    assert digest(a["vcf"]) != digest(c["vcf"])


def test_vcf_round_trip(tiny_cohort, tiny_files):
    vcf = VCF(str(tiny_files["vcf"]))
    assert list(vcf.samples) == list(tiny_cohort.individuals[: tiny_cohort.n_genotyped])
    ds = np.array([v.format("DS")[:, 0] for v in vcf])
    expected = tiny_cohort.dosages[:, : tiny_cohort.n_genotyped]
    np.testing.assert_array_equal(np.isnan(ds), np.isnan(expected))
    np.testing.assert_allclose(ds, expected, atol=1e-6)
