"""What the trans models train on, and their predictions and variance explained.

The data stay compact: cis residuals as samples x genes, plus a table ``sample_of``
(individuals x tissues) giving each observed sample's row, and the genotypes as stored (one
byte per dosage). A mini-batch gathers the dense batch x tissues x genes block and its
mask, and standardises its individuals' genotypes; no dense tensor of the whole cohort, and
no standardised copy of the genotypes, is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from milage.dataset import Dataset
from milage.dosages import release
from milage.evaluate import SPLITS, split_sst
from milage.trans_network import aligned_empty, device_array, host_array


@dataclass
class TransData:
    """Cis residuals and genotypes of the individuals of a dataset. The models see the
    genotypes standardised by the training individuals' moments (:meth:`standardised`)."""

    genotypes: np.ndarray     # individuals x SNPs as stored: codes, or float32 dosages
    snp_mean: np.ndarray      # SNPs: mean dosage of the training individuals
    snp_sd: np.ndarray        # SNPs: its SD (1 where that is 0)
    residuals: np.ndarray     # samples x genes, float32
    sample_of: np.ndarray     # individuals x tissues: row of residuals, -1 if not sampled
    split: np.ndarray         # individuals: train / valid / test
    sst: dict[str, float]     # split: total sum of squares around the training means
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # SNP, gene, tissue names
    units: int = 1            # stored units per dosage of ``genotypes`` (milage.dosages)

    def __post_init__(self) -> None:
        # x_std = (value / units - mean) / sd = (value - centre) x scale - shift, with the
        # centre the stored value nearest the mean: value - centre is exact and the shift
        # small, so a rare SNP (small sd, large mean / sd) loses no float32 precision
        self._centre = np.rint(self.snp_mean * self.units).astype(np.float32)
        self._scale = (1 / (self.units * self.snp_sd)).astype(np.float32)
        self._shift = ((self.snp_mean * self.units - self._centre) * self._scale
                       ).astype(np.float32)

    def rows(self, split: str) -> np.ndarray:
        """Indices of the individuals of one split."""
        return np.nonzero(self.split == split)[0]

    def samples(self, split: str) -> np.ndarray:
        """Rows of residuals of the samples of one split's individuals."""
        rows = self.sample_of[self.split == split]
        return rows[rows >= 0]

    def standardised(self, rows: np.ndarray, snps=slice(None)) -> np.ndarray:
        """Standardised genotypes (float32) of individuals ``rows`` x ``snps`` (a slice or
        indices); only those entries are read."""
        block = (self.genotypes[:, snps][rows] if isinstance(snps, slice)
                 else self.genotypes[np.ix_(rows, snps)])
        out = np.subtract(block, self._centre[snps], dtype=np.float32,
                          out=aligned_empty(block.shape))
        out *= self._scale[snps]
        out -= self._shift[snps]
        return out

    def over(self, snps: np.ndarray | None, known: np.ndarray | None = None) -> TransData:
        """This data over the SNPs ``snps`` (indices) only, or itself for None: what a
        network of those SNPs' rows of alpha is fed (a trained working set's,
        ``network.snps``: :func:`milage.trans_train.fit_model`). Trailing -1s are free
        slots: zero genotypes, mean 0, SD 1, no label. The genotypes of the first SNPs may
        be given as ``known`` (individuals x some), which are then not read again."""
        if snps is None:
            return self
        n = int(np.count_nonzero(snps >= 0))
        first = 0 if known is None else known.shape[1]
        genotypes = np.zeros((len(self.split), len(snps)), self.genotypes.dtype)
        if known is not None:
            genotypes[:, :first] = known
        gather(self.genotypes, snps[first:n], genotypes[:, first:n])
        free, real = len(snps) - n, snps[:n]
        labels = {k: np.concatenate([np.asarray(v)[real], np.full(free, "")]) if k == "SNP"
                  else v for k, v in self.labels.items()}
        return replace(self, genotypes=genotypes,
                       snp_mean=np.concatenate([self.snp_mean[real], np.zeros(free)]),
                       snp_sd=np.concatenate([self.snp_sd[real], np.ones(free)]),
                       labels=labels)

    def targets(self, rows: np.ndarray):
        """(residuals, mask) of some individuals: batch x tissues x genes (0 where not
        sampled) and batch x tissues (1 where sampled), float32."""
        idx = self.sample_of[rows]                                  # batch x tissues
        mask = idx >= 0
        y = aligned_empty(idx.shape + self.residuals.shape[1:])
        # mode clip: the rows are valid, and numpy buffers a take into out otherwise (20x)
        np.take(self.residuals, np.where(mask, idx, 0), axis=0, out=y, mode="clip")
        y[~mask] = 0.0      # in place: half the time of "* mask" and a copy (10% shape)
        return y, mask.astype(np.float32)

    def batch(self, rows: np.ndarray):
        """(genotypes, (residuals, mask)) of some individuals: float32 backend tensors,
        which on TensorFlow share the arrays (:func:`device_array`)."""
        x, (y, mask) = self.standardised(rows), self.targets(rows)
        return device_array(x), (device_array(y), device_array(mask))


GATHER_SNPS = 8      # SNPs read at a time by gather: in a memory-mapped file of
                     # individuals x SNPs, each maps a page (and up to 15 cached
                     # neighbours) per individual until released (dosages.release)


def gather(genotypes: np.ndarray, snps: np.ndarray, out: np.ndarray) -> None:
    """Read the columns ``snps`` of ``genotypes`` (individuals x SNPs) into ``out``,
    ``GATHER_SNPS`` at a time."""
    for lo in range(0, len(snps), GATHER_SNPS):
        out[:, lo:lo + GATHER_SNPS] = genotypes[:, snps[lo:lo + GATHER_SNPS]]
        release(genotypes)


MOMENT_SNPS = 2**16   # SNPs per block of the moments' pass (a float64 copy of the block)
MIN_SD = 1e-9         # a SNP's SD below this is a constant SNP's round-off: taken as 1


def genotype_moments(genotypes: np.ndarray, train: np.ndarray, units: int = 1):
    """Mean and SD (1 where 0, :data:`MIN_SD`) of every SNP's dosage over the ``train`` individuals
    (a boolean mask) of individuals x SNPs stored values, a block of SNPs at a time."""
    n_snps = genotypes.shape[1]
    mean, sd = np.empty(n_snps), np.empty(n_snps)
    rows = np.nonzero(train)[0]
    for lo in range(0, n_snps, MOMENT_SNPS):
        block = genotypes[rows, lo:lo + MOMENT_SNPS].astype(np.float64) / units
        mean[lo:lo + MOMENT_SNPS], sd[lo:lo + MOMENT_SNPS] = block.mean(axis=0), block.std(axis=0)
        release(genotypes)
    sd[sd < MIN_SD] = 1.0
    return mean, sd


def trans_data(ds: Dataset, residuals: np.ndarray) -> TransData:
    """Assemble the trans training data."""
    codes, units = ds.genotype_codes()
    split = ds.individuals["split"].to_numpy()
    mean, sd = genotype_moments(codes, split == "train", units)
    sample_of = ds.sample_of()
    labels = {"SNP": ds.snps["snp_id"].to_numpy(), "gene": ds.genes["gene_id"].to_numpy(),
              "tissue": np.asarray(ds.tissues)}
    return TransData(codes, mean, sd, np.asarray(residuals, dtype=np.float32), sample_of, split,
                     split_sst(ds), labels, units)


PREDICT_BATCH_VALUES = 2**23   # predicted values per batch (at least one individual's)


def _predicted(model, data: TransData, rows: np.ndarray, batch_size: int | None = None):
    """Yield (sample rows, their predictions: samples x genes) of a network for the sampled
    tissues of individuals ``rows``, batched over individuals (``batch_size``; default: as
    many as keep a batch within ``PREDICT_BATCH_VALUES`` predicted values, so small models
    are not called per row and large ones hold no large batch: at GTEx v8 an individual
    has 1.2 M values, and 64 of them were 0.3 GB, copied as their errors are summed)."""
    n_cells = data.sample_of.shape[1] * data.residuals.shape[1]      # tissues x genes
    batch_size = batch_size or max(1, PREDICT_BATCH_VALUES // n_cells)
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        pred = host_array(model.predict_batch(device_array(data.standardised(batch))))
        idx = data.sample_of[batch]
        yield idx[idx >= 0], pred[idx >= 0]


def predict_samples(model, data: TransData,
                    batch_size: int | None = None) -> np.ndarray:
    """Trans predictions of a network for every sample (samples x genes)."""
    out = np.zeros(data.residuals.shape, dtype=np.float32)
    for samples, pred in _predicted(model, data, np.arange(len(data.sample_of)), batch_size):
        out[samples] = pred
    return out


SSE_ROWS = 64    # samples whose squared errors are summed at a time: their float64 copy
                 # stays in the CPU's cache (at the 10% shape 3.3 ms per 2,150 samples, not 5.4)


def _sse(residuals: np.ndarray, pred: np.ndarray | None = None) -> np.ndarray:
    """Sum of squared errors of each sample (row), in float64; NaN residuals left out (a
    non-finite prediction makes it non-finite); no prediction: the residuals'."""
    error = (residuals if pred is None else residuals - pred).astype(np.float64)
    error[np.isnan(residuals)] = 0.0
    return np.einsum("ij,ij->i", error, error)     # no squared copy: half nansum's time


def split_ve(data: TransData, trans_pred: np.ndarray | None,
             splits: tuple[str, ...] = SPLITS) -> dict[str, float]:
    """Variance explained by cis + trans per split: 1 - SSE / SST (missing cells, NaN
    residuals, left out); ``trans_pred`` None: by cis alone. Summed ``SSE_ROWS`` samples
    at a time."""
    sse = np.concatenate([
        _sse(data.residuals[lo:lo + SSE_ROWS],
             None if trans_pred is None else trans_pred[lo:lo + SSE_ROWS])
        for lo in range(0, len(data.residuals), SSE_ROWS)])
    return {split: 1.0 - sse[data.samples(split)].sum() / data.sst[split]
            for split in _scored(data, splits)}


def network_ve(model, data: TransData, splits: tuple[str, ...] = SPLITS) -> dict[str, float]:
    """:func:`split_ve` of a network's predictions, made for the observed samples only and a
    group of tissues at a time (:func:`_tissue_blocks`); no samples x genes array is built
    (training computes this every epoch; at GTEx size that array is gigabytes). Why not
    :func:`_predicted`'s batches of individuals: at GTEx v8 a batch is 6 individuals, each
    batch read all 2 GB of beta, and half the predictions were of unsampled tissues (NN:
    the v8 epoch took 44 s, now 25 s; the v6p pass 2.5 s, now 0.9 s)."""
    scored = _scored(data, splits)
    if not scored:
        return {}
    parts = [data.rows(s) for s in scored]
    rows = np.concatenate(parts)
    split_of = np.repeat(np.arange(len(parts)), [len(p) for p in parts])   # index in scored
    factors = _factors(model, data, rows)
    sse = np.zeros(len(scored))
    for chunk, first, count in _tissue_blocks(data.sample_of[rows], data.residuals.shape[1]):
        idx = data.sample_of[rows[chunk], first:first + count].ravel()
        where = np.flatnonzero(idx >= 0)
        residuals = aligned_empty((len(where), data.residuals.shape[1]))
        np.take(data.residuals, idx[where], axis=0, out=residuals, mode="clip")
        errors = model.observed_sse(device_array(factors[chunk]),
                                    np.array([first, count], np.int32),
                                    where.astype(np.int32), device_array(residuals))
        sse += np.bincount(split_of[chunk][where // count], host_array(errors), len(scored))
    return {split: 1.0 - sse[i] / data.sst[split] for i, split in enumerate(scored)}


def _factors(model, data: TransData, rows: np.ndarray) -> np.ndarray:
    """A network's factors (rows x factors) of individuals ``rows``, standardising at most
    ``PREDICT_BATCH_VALUES`` genotypes at a time."""
    step = max(1, PREDICT_BATCH_VALUES // max(1, data.genotypes.shape[1]))
    return np.concatenate([host_array(model.factors_of(device_array(
        data.standardised(rows[lo:lo + step])))) for lo in range(0, len(rows), step)])


def _tissue_blocks(sample_of: np.ndarray, n_genes: int):
    """(rows, first tissue, tissue count) blocks of individuals x tissues ``sample_of``: as
    many tissues as keep all rows' predictions in them within ``PREDICT_BATCH_VALUES``
    values (one at GTEx size), the rows sampled in at least one of them, as many as keep
    the block within that bound."""
    n_rows, n_tissues = sample_of.shape
    group = max(1, PREDICT_BATCH_VALUES // max(1, n_rows * n_genes))
    for first in range(0, n_tissues, group):
        count = min(group, n_tissues - first)
        sampled = np.flatnonzero((sample_of[:, first:first + count] >= 0).any(axis=1))
        step = max(1, PREDICT_BATCH_VALUES // (count * n_genes))
        for lo in range(0, len(sampled), step):
            yield sampled[lo:lo + step], first, count


def _scored(data: TransData, splits: tuple[str, ...]) -> list[str]:
    """The ``splits`` with a total sum of squares and at least one sample."""
    return [s for s in splits if s in data.sst and len(data.samples(s))]


def score(ve: dict[str, float]) -> float:
    """The VE model selection maximises: validation, or training without a validation split."""
    return ve.get("valid", ve["train"])


def validation_score(model, data: TransData) -> float:
    """:func:`score` of a network's predictions."""
    return score(network_ve(model, data, ("train", "valid")))
