"""A GTEx-shaped demo cohort with planted truth, written in the real input formats.

Genotypes have LD blocks and a realistic allele-frequency spectrum; expression follows the
MILAGE generative model (sparse tissue-shared cis effects plus trans effects through sparse
SNP-driven factors whose loadings carry planted tissue clusters and gene modules) and is
written as TPM, so the same ingest path serves the demo and GTEx.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit, ndtri

from milage.files import atomic_output, gzip_text
from milage.prepare import cis_windows
from milage.settings import SimulationSettings

log = logging.getLogger(__name__)

# GRCh38 chromosome lengths in bp (1-22, X)
CHROM_LENGTHS = {
    "1": 248_956_422, "2": 242_193_529, "3": 198_295_559, "4": 190_214_555,
    "5": 181_538_259, "6": 170_805_979, "7": 159_345_973, "8": 145_138_636,
    "9": 138_394_717, "10": 133_797_422, "11": 135_086_622, "12": 133_275_309,
    "13": 114_364_328, "14": 107_043_718, "15": 101_991_189, "16": 90_338_345,
    "17": 83_257_441, "18": 80_373_285, "19": 58_617_616, "20": 64_444_167,
    "21": 46_709_983, "22": 50_818_468, "X": 156_040_895,
}
AUTOSOMES = [str(c) for c in range(1, 23)]
MIN_CAUSAL_MAF = 0.05


@dataclass
class Cohort:
    """The simulated arrays, before they are written to files."""

    snps: pd.DataFrame           # chrom, pos, snp_id, ref, alt
    dosages: np.ndarray          # SNPs x all individuals, float32, NaN = missing
    individuals: np.ndarray      # all individual IDs; the first n_genotyped are genotyped
    n_genotyped: int
    genes: pd.DataFrame          # gene_id, gene_name, chrom, start, end, strand, tss, kind
    tissues: pd.DataFrame        # tissue, group, colour, outlier
    samples: pd.DataFrame        # sample_id, individual, tissue
    tpm: np.ndarray              # samples x genes
    truth: dict[str, np.ndarray]
    modules: dict[str, list[str]]


def simulate_cohort(settings: SimulationSettings, tissue_table: pd.DataFrame) -> Cohort:
    """Simulate genotypes, expression and planted truth."""
    s = settings
    if s.n_tissues > len(tissue_table):
        raise ValueError(f"n_tissues={s.n_tissues} but the tissue table has {len(tissue_table)}")
    rng = np.random.default_rng(s.seed)
    tissues = tissue_table.iloc[: s.n_tissues].reset_index(drop=True).copy()
    tissues["outlier"] = tissues["tissue"] == "Testis"
    snps, deserts = _snp_layout(s, rng)
    individuals = _individual_ids(s.n_individuals + s.n_ungenotyped, rng)
    dosages = simulate_dosages(snps, len(individuals), s.missing_rate, rng)
    genes = _gene_layout(s, deserts, rng)
    x = np.where(np.isnan(dosages), np.nanmean(dosages, axis=1, keepdims=True), dosages).T
    samples, sample_ind, sample_tis = _samples(s, individuals, tissues, rng)
    truth = _plant_effects(s, x, snps, genes, tissues, rng)
    tpm, shares = _expression(s, x, truth, genes, sample_ind, sample_tis, rng)
    truth.update(shares)
    truth.update(individuals=individuals, snp_ids=snps["snp_id"].to_numpy(),
                 gene_ids=genes["gene_id"].to_numpy(), tissues=tissues["tissue"].to_numpy(),
                 tissue_group=tissues["group"].to_numpy(),
                 tissue_outlier=tissues["outlier"].to_numpy(),
                 gene_kind=genes["kind"].to_numpy(), activation=np.array(s.activation))
    modules = _gene_sets(s, genes, truth["module"], rng)
    return Cohort(snps, dosages, individuals, s.n_individuals, genes, tissues, samples, tpm,
                  truth, modules)


def _snp_layout(s: SimulationSettings, rng) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    """SNP positions per chromosome (proportional to length) avoiding a few SNP deserts."""
    lengths = {c: int(CHROM_LENGTHS[c] * s.genome_scale) for c in AUTOSOMES}
    width = int(2.5 * s.cis_window)
    deserts = {}
    for i in range(s.n_desert_genes):
        chrom = AUTOSOMES[i % 22]
        if lengths[chrom] < 2 * width:
            raise ValueError(f"chromosome {chrom} is too short for a SNP desert: raise "
                             "genome_scale or lower cis_window")
        deserts[chrom] = (lengths[chrom] // 2 - width // 2, width)
    total = np.array([lengths[c] for c in AUTOSOMES], dtype=float)
    per_chrom = rng.multinomial(s.n_snps, total / total.sum())
    frames = []
    for chrom, n in zip(AUTOSOMES, per_chrom, strict=True):
        start, w = deserts.get(chrom, (lengths[chrom], 0))
        pos = np.sort(rng.choice(lengths[chrom] - w, size=n, replace=False) + 1)
        pos[pos >= start] += w
        frames.append(pd.DataFrame({"chrom": chrom, "pos": pos}))
    snps = pd.concat(frames, ignore_index=True)
    bases = np.array(list("ACGT"))
    ref = rng.integers(0, 4, len(snps))
    snps["snp_id"] = [f"rs{100_000 + i}" for i in range(len(snps))]
    snps["ref"] = bases[ref]
    snps["alt"] = bases[(ref + rng.integers(1, 4, len(snps))) % 4]
    return snps, deserts


def simulate_dosages(snps: pd.DataFrame, n_individuals: int, missing_rate: float,
                     rng) -> np.ndarray:
    """Imputed-style dosages (SNPs x individuals, float32 in [0, 2], NaN = missing).

    Haplotypes threshold a Gaussian AR(1) process that restarts at LD-block boundaries
    (mean block length 15 SNPs), so neighbouring SNPs are in LD; alternate-allele
    frequencies follow a spectrum rich in rare variants (about 5% below MAF 0.01).
    Imputed SNPs (70%) shrink the genotype towards its mean by their imputation quality.
    """
    n = len(snps)
    freq = 0.005 + 0.495 * rng.random(n) ** 1.5
    freq = np.where(rng.random(n) < 0.3, 1 - freq, freq)
    chrom = snps["chrom"].to_numpy()
    restart = np.r_[True, chrom[1:] != chrom[:-1]] | (rng.random(n) < 1 / 15)
    block_rho = rng.uniform(0.6, 0.95, restart.sum())
    rho = np.where(restart, 0.0, block_rho[np.cumsum(restart) - 1])
    threshold = ndtri(1 - freq)
    z = rng.standard_normal((2 * n_individuals,))
    noise = np.sqrt(1 - rho**2)
    geno = np.empty((n, n_individuals), dtype=np.float32)
    for i in range(n):  # sequential along the chromosome: an AR(1) recursion
        z = rho[i] * z + noise[i] * rng.standard_normal(z.shape)
        h = z > threshold[i]
        geno[i] = h[:n_individuals].astype(np.float32) + h[n_individuals:]
    quality = np.where(rng.random(n) < 0.7, rng.uniform(0.8, 1.0, n), 1.0).astype(np.float32)
    mean = (2 * freq).astype(np.float32)
    dos = quality[:, None] * geno + (1 - quality[:, None]) * mean[:, None]
    dos = np.round(np.clip(dos, 0, 2), 3)
    dos[rng.random(dos.shape) < missing_rate] = np.nan
    return dos


def _individual_ids(n: int, rng) -> np.ndarray:
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    ids: list[str] = []
    while len(ids) < n:
        new = ["GTEX-" + "".join(rng.choice(alphabet, 5)) for _ in range(n - len(ids))]
        ids = list(dict.fromkeys(ids + new))
    return np.array(ids)


def _gene_layout(s: SimulationSettings, deserts: dict, rng) -> pd.DataFrame:
    """Genes sorted by chromosome and TSS; kind is expressed, low, desert or chrX."""
    chroms = AUTOSOMES + ["X"]
    lengths = np.array([CHROM_LENGTHS[c] * s.genome_scale for c in AUTOSOMES])
    n_regular = s.n_genes - s.n_desert_genes
    per_chrom = rng.multinomial(n_regular, lengths / lengths.sum())
    rows = []
    for chrom, n in zip(AUTOSOMES, per_chrom, strict=True):
        length = int(CHROM_LENGTHS[chrom] * s.genome_scale)
        start, width = deserts.get(chrom, (length, 0))
        tss = rng.integers(1, length - width, n)
        tss[tss >= start] += width
        rows += [(chrom, int(t), "expressed") for t in tss]
    rows += [(c, start + width // 2, "desert") for c, (start, width) in deserts.items()]
    x_len = int(CHROM_LENGTHS["X"] * s.genome_scale)
    rows += [("X", int(t), "chrX") for t in rng.integers(1, x_len, s.n_chrx_genes)]
    genes = pd.DataFrame(rows, columns=["chrom", "tss", "kind"])
    genes["order"] = genes["chrom"].map(chroms.index)
    genes = genes.sort_values(["order", "tss"], kind="stable").drop(columns="order")
    genes = genes.reset_index(drop=True)
    regular = np.nonzero(genes["kind"].to_numpy() == "expressed")[0]
    genes.loc[rng.choice(regular, s.n_low_genes, replace=False), "kind"] = "low"
    genes["gene_id"] = [f"ENSG{i + 1:011d}.1" for i in range(len(genes))]
    genes["gene_name"] = [f"SIM{i + 1:05d}" for i in range(len(genes))]
    genes["strand"] = np.where(rng.random(len(genes)) < 0.5, "+", "-")
    body = rng.integers(5_000, 80_000, len(genes))
    plus = genes["strand"] == "+"
    genes["start"] = np.where(plus, genes["tss"], np.maximum(genes["tss"] - body, 1))
    genes["end"] = np.where(plus, genes["tss"] + body, genes["tss"])
    return genes


def _samples(s: SimulationSettings, individuals: np.ndarray, tissues: pd.DataFrame, rng):
    """Unequal tissue sampling with donor-level propensities, plus a few replicates."""
    n_ind, n_tis = len(individuals), len(tissues)
    fractions = rng.permutation(np.linspace(s.max_tissue_fraction, s.min_tissue_fraction, n_tis))
    propensity = rng.lognormal(0.0, 0.5, n_ind)
    ind, tis = [], []
    for k, frac in enumerate(fractions):
        chosen = rng.choice(n_ind, int(round(frac * n_ind)), replace=False,
                            p=propensity / propensity.sum())
        ind.append(np.sort(chosen))
        tis.append(np.full(len(chosen), k))
    ind, tis = np.concatenate(ind), np.concatenate(tis)
    reps = rng.choice(len(ind), s.n_replicates, replace=False)
    ind, tis = np.r_[ind, ind[reps]], np.r_[tis, tis[reps]]
    site = rng.integers(1, 3000, n_tis)
    aliquot = _individual_ids(len(ind), rng)
    sample_id = [f"{individuals[i]}-{site[k]:04d}-SM-{a[5:]}"
                 for i, k, a in zip(ind, tis, aliquot, strict=True)]
    samples = pd.DataFrame({"sample_id": sample_id, "individual": individuals[ind],
                            "tissue": tissues["tissue"].to_numpy()[tis]})
    return samples, ind, tis


def _pick_causal(rng, candidates: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(candidates, min(n, len(candidates)), replace=False)


def _plant_effects(s: SimulationSettings, x: np.ndarray, snps: pd.DataFrame,
                   genes: pd.DataFrame, tissues: pd.DataFrame, rng) -> dict[str, np.ndarray]:
    """Sparse cis effects, SNP-to-factor effects and tissue x gene x factor loadings (unscaled)."""
    n_tis, n_genes, n_fac = len(tissues), len(genes), s.n_factors
    af = x.mean(axis=0) / 2
    sd = x.std(axis=0) + 1e-6
    common = np.minimum(af, 1 - af) >= MIN_CAUSAL_MAF
    # cis: 1-4 causal common SNPs per gene in its window, shared by tissues with +-20% spread
    windows = cis_windows(genes, snps, s.cis_window)
    cis_gene, cis_snp = [], []
    for j, (kind, start, stop) in enumerate(zip(genes["kind"], windows["cis_start"],
                                                windows["cis_stop"], strict=True)):
        if kind == "chrX":
            continue
        window = start + np.nonzero(common[start:stop])[0]
        chosen = _pick_causal(rng, window, 1 + min(rng.poisson(1.0), 3))
        cis_gene += [j] * len(chosen)
        cis_snp += list(chosen)
    cis_gene, cis_snp = np.array(cis_gene, dtype=int), np.array(cis_snp, dtype=int)
    effect = rng.choice([-1, 1], len(cis_snp)) * rng.uniform(0.5, 1.5, len(cis_snp))
    spread = 1 + 0.2 * rng.standard_normal((len(cis_snp), n_tis))
    cis_weight = effect[:, None] * spread / sd[cis_snp, None]
    gain = s.sigmoid_gain if s.activation == "sigmoid" else 1.0
    alpha, a = factor_effects(x, common, n_fac, s.snps_per_factor, gain, rng)
    # loadings: gene modules (B) times tissue activations (A) with planted groups and outlier
    kept = np.nonzero(genes["kind"].to_numpy() == "expressed")[0]
    module = np.zeros((n_genes, n_fac), dtype=bool)
    loading = np.zeros((n_genes, n_fac))
    for t in range(n_fac):
        members = rng.choice(kept, min(s.module_size, len(kept)), replace=False)
        module[members, t] = True
        loading[members, t] = rng.choice([-1, 1], len(members)) * rng.uniform(0.5, 1.5,
                                                                                len(members))
    groups = tissues["group"].to_numpy()
    centroid = {g: rng.standard_normal(n_fac) for g in dict.fromkeys(groups)}
    activation = np.stack([centroid[g] for g in groups])
    activation += s.within_group_sd * rng.standard_normal(activation.shape)
    outlier = tissues["outlier"].to_numpy()
    activation[outlier] = s.outlier_scale * rng.standard_normal((outlier.sum(), n_fac))
    return {"cis_gene": cis_gene, "cis_snp": cis_snp, "cis_weight": cis_weight,
            "alpha": alpha, "a": a, "module": module, "gene_loading": loading,
            "tissue_activation": activation}


def factor_effects(x: np.ndarray, common: np.ndarray, n_factors: int, snps_per_factor: int,
                   gain: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Sparse SNP-to-factor effects: each factor driven by ``snps_per_factor`` common SNPs.

    Parameters
    ----------
    x : dosages, individuals x SNPs.
    common : SNPs, True where a SNP may be causal.
    gain : standard deviation of every factor's pre-activation ``x @ alpha.T + a``
        (which has mean zero over the individuals of ``x``).

    Returns
    -------
    alpha : factors x SNPs.
    a : factors.
    """
    sd = x.std(axis=0) + 1e-6
    alpha = np.zeros((n_factors, x.shape[1]))
    for t in range(n_factors):
        chosen = _pick_causal(rng, np.nonzero(common)[0], snps_per_factor)
        alpha[t, chosen] = rng.standard_normal(len(chosen)) / sd[chosen]
    pre = x @ alpha.T
    scale = gain / pre.std(axis=0)
    alpha *= scale[:, None]
    return alpha, -pre.mean(axis=0) * scale


def factors(x: np.ndarray, alpha: np.ndarray, a: np.ndarray, activation: str) -> np.ndarray:
    """Individual factors F (individuals x factors) from dosages and SNP effects."""
    pre = x @ alpha.T + a
    return expit(pre) if activation == "sigmoid" else pre


def _cis_component(x, truth, n_genes, ind, tis) -> np.ndarray:
    """Cis signal for each sample (samples x genes)."""
    out = np.zeros((len(ind), n_genes))
    for k in np.unique(tis):
        w = sparse.csc_matrix((truth["cis_weight"][:, k], (truth["cis_snp"], truth["cis_gene"])),
                              shape=(x.shape[1], n_genes))
        rows = tis == k
        out[rows] = (w.T @ x[ind[rows]].T).T
    return out


def centred_variance(values: np.ndarray, tis: np.ndarray, cols: np.ndarray) -> float:
    """Mean over (tissue, gene) of the variance across individuals."""
    v = pd.DataFrame(values[:, cols]).groupby(tis).var(ddof=0)
    return float(v.to_numpy().mean())


def _expression(s: SimulationSettings, x, truth, genes, ind, tis, rng):
    """TPM for every sample; scales the planted effects so cis and trans reach their shares."""
    n_genes = len(genes)
    kind = genes["kind"].to_numpy()
    scored = np.nonzero(np.isin(kind, ["expressed", "desert"]))[0]
    cis = _cis_component(x, truth, n_genes, ind, tis)
    f = factors(x, truth["alpha"], truth["a"], s.activation)
    trans = (f[ind] * truth["tissue_activation"][tis]) @ truth["gene_loading"].T
    c_scale = np.sqrt(s.cis_share / centred_variance(cis, tis, scored))
    t_scale = np.sqrt(s.trans_share / centred_variance(trans, tis, scored))
    noise_sd = np.sqrt(1.0 - s.cis_share - s.trans_share)
    noise = noise_sd * rng.standard_normal(cis.shape)
    latent = c_scale * cis + t_scale * trans + noise
    n_tis = len(truth["tissue_activation"])
    log_mean = rng.uniform(3, 8, n_genes)[None, :] + 0.3 * rng.standard_normal((n_tis, n_genes))
    low = kind == "low"
    on = np.argsort(rng.random((n_tis, low.sum())), axis=0) < max(1, round(0.2 * n_tis))
    log_mean[:, low] = np.where(on, 2.0, -3.0)  # expressed in a fifth of the tissues
    log_sd = rng.uniform(0.3, 0.6, n_genes)
    log_expr = log_mean[tis] + log_sd * latent
    tpm = np.clip(np.exp2(log_expr) - 1, 0, None)
    total = centred_variance(latent, tis, scored)
    truth["cis_weight"] *= c_scale
    truth["beta"] = t_scale * np.einsum("kt,jt->kjt", truth["tissue_activation"],
                                        truth["gene_loading"])
    shares = {"F": f, "log_mean": log_mean, "log_sd": log_sd, "noise_sd": np.array(noise_sd),
              "cis_share": np.array(s.cis_share / total),
              "trans_share": np.array(s.trans_share / total)}
    return tpm.astype(np.float32), shares


def _gene_sets(s: SimulationSettings, genes: pd.DataFrame, module: np.ndarray,
               rng) -> dict[str, list[str]]:
    """Planted modules (one per factor) and random decoy sets, by gene name."""
    names = genes["gene_name"].to_numpy()
    sets = {f"MODULE_F{t + 1:02d}": list(names[module[:, t]]) for t in range(module.shape[1])}
    kept = np.nonzero(genes["kind"].to_numpy() == "expressed")[0]
    for d in range(s.n_decoy_sets):
        size = int(rng.integers(15, 200))
        sets[f"DECOY_{d + 1:03d}"] = list(names[rng.choice(kept, min(size, len(kept)),
                                                            replace=False)])
    return sets


# ---------------------------------------------------------------- writers (real formats)

def write_vcf(path: str | os.PathLike, snps: pd.DataFrame, dosages: np.ndarray,
              samples, compresslevel: int = 4) -> None:
    """Write a gzipped VCF 4.2 with FORMAT GT:DS (dosages: SNPs x samples, NaN = missing).

    Each dosage is rounded to 3 decimals, so every cell is one of 2,002 strings: a lookup
    table turns the matrix into text far faster than formatting floats one by one.
    """
    token = np.array([f"{('0/0', '0/1', '1/1')[round(d / 1000)]}:"
                      f"{d / 1000:.3f}".rstrip("0").rstrip(".") for d in range(2001)]
                     + ["./.:."], dtype=object)
    code = np.where(np.isnan(dosages), 2001,
                    np.rint(np.nan_to_num(dosages) * 1000)).astype(np.int32)
    contigs = "".join(f"##contig=<ID=chr{c}>\n" for c in dict.fromkeys(snps["chrom"]))
    header = ("##fileformat=VCFv4.2\n##source=milage.sim_cohort\n" + contigs +
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
              '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Alternate allele dosage">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)
              + "\n")
    fixed = ("chr" + snps["chrom"].astype(str) + "\t" + snps["pos"].astype(str) + "\t"
             + snps["snp_id"] + "\t" + snps["ref"] + "\t" + snps["alt"] + "\t.\tPASS\t.\tGT:DS\t")
    with atomic_output(path) as tmp, gzip_text(tmp, compresslevel) as fh:
        fh.write(header)
        for prefix, row in zip(fixed, code, strict=True):
            fh.write(prefix + "\t".join(token[row]) + "\n")


def write_gct(path: str | os.PathLike, genes: pd.DataFrame, samples: pd.DataFrame,
              tpm: np.ndarray) -> None:
    """Write a GTEx GCT v1.2 TPM matrix (genes x samples), gzipped, TPM to 3 decimals.

    pyarrow's CSV writer formats the 14 M numbers about 5 times faster than pandas.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    values = np.round(tpm.astype(np.float64), 3)
    columns = {"Name": pa.array(genes["gene_id"].astype(str)),
               "Description": pa.array(genes["gene_name"].astype(str))}
    columns.update({str(sid): pa.array(values[n]) for n, sid in enumerate(samples["sample_id"])})
    header = "\t".join(columns) + "\n"
    with atomic_output(path) as tmp, gzip_text(tmp) as fh:
        fh.write(f"#1.2\n{len(genes)}\t{len(samples)}\n{header}")
        fh.flush()
        pacsv.write_csv(pa.table(columns), fh.buffer, pacsv.WriteOptions(
            delimiter="\t", include_header=False, quoting_style="none"))


def write_sample_attributes(path: str | os.PathLike, samples: pd.DataFrame,
                            genotyped: np.ndarray) -> None:
    """GTEx SampleAttributesDS-style table; WGS rows for the genotyped donors are included."""
    rna = pd.DataFrame({"SAMPID": samples["sample_id"], "SMTS": samples["tissue"].str.split(
        " - ").str[0], "SMTSD": samples["tissue"], "SMAFRZE": "RNASEQ"})
    wgs = pd.DataFrame({"SAMPID": [f"{i}-0004-SM-WGS{n:02d}" for n, i in enumerate(genotyped)],
                        "SMTS": "Blood", "SMTSD": "Whole Blood", "SMAFRZE": "WGS"})
    with atomic_output(path) as tmp:
        pd.concat([rna, wgs]).to_csv(tmp, sep="\t", index=False)


def write_gtf(path: str | os.PathLike, genes: pd.DataFrame) -> None:
    """GENCODE-style GTF with one gene record per gene."""
    attrs = ('gene_id "' + genes["gene_id"] + '"; gene_name "' + genes["gene_name"]
             + '"; gene_type "protein_coding";')
    table = pd.DataFrame({"seqname": "chr" + genes["chrom"], "source": "milage", "feature": "gene",
                          "start": genes["start"], "end": genes["end"], "score": ".",
                          "strand": genes["strand"], "frame": ".", "attribute": attrs})
    with atomic_output(path) as tmp:
        with open(tmp, "w") as fh:
            fh.write("##description: simulated annotation (milage demo)\n")
            table.to_csv(fh, sep="\t", index=False, header=False, quoting=3)


def write_gmt(path: str | os.PathLike, sets: dict[str, list[str]]) -> None:
    """Gene sets in GMT format (name, description, genes)."""
    lines = [f"{name}\t{'planted module' if name.startswith('MODULE') else 'decoy'}\t"
             + "\t".join(genes) for name, genes in sets.items()]
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


def write_truth(path: str | os.PathLike, truth: dict[str, np.ndarray]) -> None:
    """Every planted parameter, keyed by name, as a compressed .npz (no pickled objects)."""
    arrays = {k: np.asarray(v) for k, v in truth.items()}
    arrays = {k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()}
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def write_cohort(cohort: Cohort, out: dict[str, str | os.PathLike]) -> None:
    """Write every file of the cohort; ``out`` maps vcf, gct, attributes, gtf, gmt, truth."""
    genotyped = cohort.individuals[: cohort.n_genotyped]
    write_vcf(out["vcf"], cohort.snps, cohort.dosages[:, : len(genotyped)], genotyped)
    write_gct(out["gct"], cohort.genes, cohort.samples, cohort.tpm)
    write_sample_attributes(out["attributes"], cohort.samples, genotyped)
    write_gtf(out["gtf"], cohort.genes)
    write_gmt(out["gmt"], cohort.modules)
    write_truth(out["truth"], cohort.truth)
