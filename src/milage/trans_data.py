"""What the trans models train on, and their predictions and variance explained.

The data stay compact: cis residuals as samples x genes, plus a table ``sample_of``
(individuals x tissues) giving each observed sample's row. A mini-batch gathers the dense
batch x tissues x genes block and its mask; no dense tensor of the whole cohort is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from keras import ops

from milage.dataset import Dataset
from milage.evaluate import SPLITS, split_sst


@dataclass
class TransData:
    """Cis residuals and standardised genotypes of the individuals of a dataset."""

    genotypes: np.ndarray     # individuals x SNPs, float32, (x - mean) / sd of training
    snp_mean: np.ndarray      # SNPs
    snp_sd: np.ndarray        # SNPs
    residuals: np.ndarray     # samples x genes, float32
    sample_of: np.ndarray     # individuals x tissues: row of residuals, -1 if not sampled
    split: np.ndarray         # individuals: train / valid / test
    sst: dict[str, float]     # split: total sum of squares around the training means
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # SNP, gene, tissue names

    def rows(self, split: str) -> np.ndarray:
        """Indices of the individuals of one split."""
        return np.nonzero(self.split == split)[0]

    def batch(self, rows: np.ndarray):
        """(genotypes, (residuals, mask)) of some individuals, as float32 arrays."""
        idx = self.sample_of[rows]                                  # batch x tissues
        mask = idx >= 0
        y = self.residuals[np.where(mask, idx, 0)] * mask[:, :, None]
        return self.genotypes[rows], (y.astype(np.float32), mask.astype(np.float32))


def standardise(dosages: np.ndarray, train: np.ndarray):
    """Individuals x SNPs float32 standardised by the training individuals' moments."""
    mean = dosages[train].mean(axis=0, dtype=np.float64)
    sd = dosages[train].std(axis=0, dtype=np.float64)
    sd[sd == 0] = 1.0
    x = ((dosages - mean) / sd).astype(np.float32)
    return x, mean, sd


def trans_data(ds: Dataset, residuals: np.ndarray, permute_seed: int | None = None) -> TransData:
    """Assemble the trans training data; ``permute_seed`` shuffles genotype rows across
    individuals (the permutation control for trans-eQTL calls)."""
    dosages = ds.genotypes()
    if permute_seed is not None:
        dosages = dosages[np.random.default_rng(permute_seed).permutation(len(dosages))]
    split = ds.individuals["split"].to_numpy()
    x, mean, sd = standardise(dosages, split == "train")
    sample_of = np.full((len(ds.individuals), len(ds.tissues)), -1)
    sample_of[ds.samples["ind_index"], ds.samples["tissue_index"]] = np.arange(len(ds.samples))
    labels = {"SNP": ds.snps["snp_id"].to_numpy(), "gene": ds.genes["gene_id"].to_numpy(),
              "tissue": np.asarray(ds.tissues)}
    return TransData(x, mean, sd, np.asarray(residuals, dtype=np.float32), sample_of, split,
                     split_sst(ds), labels)


PREDICT_BATCH_VALUES = 2**21   # predicted values per batch, at least 64 individuals


def predict_samples(model, data: TransData,
                    batch_size: int | None = None) -> np.ndarray:
    """Trans predictions of a network for every sample (samples x genes), batched over
    individuals (``batch_size``; default: 64, or more while a batch stays within
    ``PREDICT_BATCH_VALUES`` predicted values, so small models are not called per row)."""
    n_cells = data.sample_of.shape[1] * data.residuals.shape[1]      # tissues x genes
    batch_size = batch_size or max(64, PREDICT_BATCH_VALUES // n_cells)
    out = np.zeros(data.residuals.shape, dtype=np.float32)
    for start in range(0, len(data.sample_of), batch_size):
        rows = np.arange(start, min(start + batch_size, len(data.sample_of)))
        pred = ops.convert_to_numpy(model(data.genotypes[rows], training=False))
        idx = data.sample_of[rows]
        out[idx[idx >= 0]] = pred[idx >= 0]
    return out


def split_ve(data: TransData, trans_pred: np.ndarray,
             splits: tuple[str, ...] = SPLITS) -> dict[str, float]:
    """Variance explained by cis + trans per split: 1 - SSE / SST (missing cells, NaN
    residuals, left out)."""
    sse = np.nansum((data.residuals - trans_pred).astype(np.float64) ** 2, axis=1)
    out = {}
    for split in splits:
        rows = data.sample_of[data.split == split]
        if split in data.sst and (rows >= 0).any():
            out[split] = 1.0 - sse[rows[rows >= 0]].sum() / data.sst[split]
    return out


def score(ve: dict[str, float]) -> float:
    """The VE model selection maximises: validation, or training without a validation split."""
    return ve.get("valid", ve["train"])


def validation_score(model, data: TransData) -> float:
    """:func:`score` of a network's predictions."""
    return score(split_ve(data, predict_samples(model, data), ("train", "valid")))
