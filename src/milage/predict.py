"""Expression of new individuals predicted from their genotypes alone by a trained model
(cis weights plus a trans model, or cis weights alone), the paper's stated future work."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from milage import cis
from milage.dosages import UNITS, decode, encode, out_of_range
from milage.errors import InputError
from milage.files import atomic_output, file_names, gzip_text, read_table, require_file
from milage.genotypes import read_genotypes
from milage.trans_models import TransModel

log = logging.getLogger(__name__)
MADE_BY = {  # what prediction reads from a results folder: the workflow rule that writes it
    "prepared/snps.tsv.gz": "prepare_genotypes",
    "prepared/genes.tsv": "normalise_expression",
    "prepared/samples.tsv": "normalise_expression",
    "cis/weights.parquet": "cis_gather",
    "cis/intercepts.parquet": "cis_gather",
    "trans/{model}/params.npz": "trans_train",
}


def read_model_snps(path: str | os.PathLike, snps: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Dosages (individuals x model SNPs) of a VCF/BCF or PLINK file, matched by SNP ID.

    Swapped ref/alt alleles are flipped (2 - dosage); SNPs absent from the file, with other
    alleles, or missing in an individual take 2 x the allele frequency of the training run's
    genotypes, the value ingest filled missing dosages with (counted in a warning). Dosages
    are rounded as ingest stores them (:mod:`milage.dosages`), so an individual of the
    training run is predicted as the workflow predicted it.
    """
    samples, blocks = read_genotypes(path)
    index = pd.Index(snps["snp_id"])
    out = np.full((len(snps), len(samples)), np.nan, dtype=np.float32)
    ref, alt = snps["ref"].to_numpy(), snps["alt"].to_numpy()
    for block in blocks:
        row = index.get_indexer(block.table["snp_id"])
        found = row >= 0
        same = found & (block.table["ref"].to_numpy() == ref[row]) \
            & (block.table["alt"].to_numpy() == alt[row])
        flip = found & (block.table["ref"].to_numpy() == alt[row]) \
            & (block.table["alt"].to_numpy() == ref[row])
        out[row[same]] = block.dosages[same]
        out[row[flip]] = 2.0 - block.dosages[flip]
    bad = np.nonzero(out_of_range(out))[0]
    if len(bad):
        raise InputError(path, f"SNP {snps['snp_id'].iat[bad[0]]} has a dosage outside [0, 2] "
                         f"({len(bad)} such SNPs)", "give dosages of the ALT allele, between "
                         "0 and 2")
    absent = np.isnan(out).all(axis=1)
    if absent.all():
        raise InputError(path, "none of the model's SNPs is in the file (matched by ID)",
                         "use the SNP IDs of the training genotypes (see prepared/snps.tsv.gz)")
    if np.isnan(out).any():
        warnings.warn(f"{path}: {absent.sum()} of {len(snps)} model SNPs absent (or with other "
                      f"alleles) and {np.isnan(out[~absent]).sum()} missing dosages: filled "
                      "with the training mean", stacklevel=2)
        mean = 2.0 * snps["af"].to_numpy(np.float32)
        out = np.where(np.isnan(out), mean[:, None], out)
    return samples, decode(encode(out), UNITS).T


def model_files(results: str | os.PathLike, model: str) -> dict[str, Path | None]:
    """Where the finished workflow run ``results`` (``milage predict --results``) keeps what
    :func:`predict_expression` reads (``model`` "cis": no trans model). A missing file stops
    naming the rule that writes it."""
    r = Path(results)
    for file, rule in MADE_BY.items():
        if model != "cis" or not file.startswith("trans/"):
            require_file(r / file.format(model=model), "results",
                         f"check --results (a finished workflow run's folder) or run the "
                         f"workflow's rule {rule} for it")
    return {"prepared": r / "prepared", "weights": r / "cis" / "weights.parquet",
            "intercepts": r / "cis" / "intercepts.parquet",
            "params": None if model == "cis" else r / "trans" / model / "params.npz"}


def trans_prediction(params: str | os.PathLike, x: np.ndarray) -> np.ndarray:
    """The saved trans model's prediction (individuals x tissues x genes) from dosages ``x``."""
    from keras import ops

    model = TransModel.load(params)
    snps = model.snps     # those with a non-zero row of alpha
    z = ((x[:, snps] - model.extras["snp_mean"][snps]) / model.extras["snp_sd"][snps])
    return ops.convert_to_numpy(model.network().predict_batch(z.astype(np.float32)))


def predict_expression(prepared: str | os.PathLike, weights: str | os.PathLike,
                       intercepts: str | os.PathLike, params: str | os.PathLike | None,
                       genotypes: str | os.PathLike, out: str | os.PathLike) -> list[Path]:
    """Write ``{out}/{tissue}.predicted_expression.tsv.gz`` (individual x genes, prepared
    units: Z-scores; the tissue named as in the PredictDB export, :func:`milage.files.file_names`)
    for every individual of ``genotypes``; return the paths.

    ``prepared`` is the training run's prepared folder; ``weights`` and ``intercepts`` its
    cis tables; ``params`` a trained trans model (``trans/{model}/params.npz``), or None for
    cis-only predictions.
    """
    prepared = Path(prepared)
    snps = read_table(prepared / "snps.tsv.gz", dtype={"chrom": str})
    genes = read_table(prepared / "genes.tsv", dtype={"chrom": str})
    tissues = list(dict.fromkeys(read_table(prepared / "samples.tsv")["tissue"]))
    samples, x = read_model_snps(genotypes, snps)
    trans = None if params is None else trans_prediction(params, x)
    weights, intercepts = pd.read_parquet(weights), pd.read_parquet(intercepts)
    snp_idx, gene_idx = pd.Index(snps["snp_id"]), pd.Index(genes["gene_id"])
    Path(out).mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (tissue, name) in enumerate(file_names(tissues).items()):
        used, w = cis.tissue_weights(weights, tissue, snp_idx, gene_idx)
        pred = np.asarray((w.T @ x[:, used].astype(np.float64).T).T) \
            + cis.tissue_intercepts(intercepts, tissue, gene_idx)
        if trans is not None:
            pred += trans[:, k]
        paths.append(Path(out) / f"{name}.predicted_expression.tsv.gz")
        table = pd.DataFrame(pred, columns=genes["gene_id"])
        table.insert(0, "individual", samples)
        with atomic_output(paths[-1]) as tmp, gzip_text(tmp) as fh:
            table.to_csv(fh, sep="\t", index=False, float_format="%.6g")
    log.info("predicted %d individuals x %d genes in %d tissues", len(samples), len(genes),
             len(tissues))
    return paths
