"""Gene-set enrichment of the learned factors: the paper's Tables 1 and 2 (section 3.2.4).

Table 1 (:func:`overlap_table`): the top genes of each tissue's most active factor against
every gene set, by the hypergeometric test. Table 2 (:func:`mtgsea_table`, MTGSEA): for
(tissue, factor) pairs, every gene ranked by its least-squares loading; the GSEA
enrichment score (weight p) of every gene set in both directions (and on the ranking by
|loading|, for sets whose genes the factor moves either way), and the paper's p-value:
the chance that the best ES over all gene sets, under permutations of the genes, reaches
the observed ES.

The running-sum kernel (:func:`running_sum_extremes`) is written here rather than called from
gseapy because the null needs the ES of every gene set under the *same* gene permutation
(the maximum over sets), for thousands of permutations: gseapy permutes each set on its own
and would need one call per permutation. The kernel evaluates the running sum only at the
hits (where its extremes lie), for all sets and a block of permutations at once; the tests
check that it equals gseapy.prerank's ES.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, hypergeom

from milage.analysis import most_active_factor
from milage.errors import InputError
from milage.files import require_file
from milage.trans_models import TransModel

log = logging.getLogger(__name__)

GMT_FIX = ("write one gene set per line: name, a description (may be empty), then the "
           "genes, separated by tabs")
GENE_KEYS = ("gene_name", "gene_id")       # enrichment.gene_key: the genes.tsv column matched
_VERSION = re.compile(r"\.\d+$")


# ---------------------------------------------------------------- gene sets

def read_gmt(path: str | os.PathLike) -> dict[str, list[str]]:
    """Read a .gmt file: one gene set per line, ``name<TAB>description<TAB>gene...``.

    Blank lines are skipped; repeated genes within a set are kept once.

    Raises
    ------
    InputError
        naming the file and line of a set without a name or genes, or a repeated set name.
    """
    path = require_file(path, "gene set (.gmt)")
    sets: dict[str, list[str]] = {}
    with open(path) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            name = fields[0].strip()
            genes = [g.strip() for g in fields[2:] if g.strip()]
            problem = ("no set name" if not name else
                       f"set {name!r} has no genes" if not genes else
                       f"set {name!r} is listed twice" if name in sets else None)
            if problem:
                raise InputError(path, f"line {number}: {problem}", GMT_FIX)
            sets[name] = list(dict.fromkeys(genes))
    if not sets:
        raise InputError(path, "no gene sets in the file", GMT_FIX)
    return sets


@dataclass
class GeneSets:
    """Gene sets as indices into the dataset's genes, after the size filter.

    names : set names, in the order of the file.
    members : per set, the (sorted) indices of its genes among the dataset's genes.
    """

    names: list[str]
    members: list[np.ndarray]

    @property
    def sizes(self) -> np.ndarray:
        return np.array([len(m) for m in self.members])


def strip_version(ids: Iterable[str]) -> list[str]:
    """Ensembl IDs without their version suffix: 'ENSG00000141510.16' -> 'ENSG00000141510'."""
    return [_VERSION.sub("", i) for i in ids]


def gene_keys(genes: Iterable, key: str) -> list[str]:
    """Genes as matched by ``key``: gene_name as they are, gene_id without the version."""
    genes = [str(g) for g in genes]
    return strip_version(genes) if key == "gene_id" else genes


def _keyed(sets: dict[str, list[str]], genes: pd.DataFrame,
           key: str) -> tuple[dict[str, list[str]], list[str]]:
    """The sets' genes and the dataset's genes, as matched by ``key``."""
    return {n: gene_keys(g, key) for n, g in sets.items()}, gene_keys(genes[key], key)


def _any_match(sets: dict[str, list[str]], universe: list[str]) -> bool:
    """Whether any gene of the sets is in the universe."""
    universe = set(universe)
    return any(g in universe for listed in sets.values() for g in listed)


def match_gene_sets(sets: dict[str, list[str]], genes: pd.DataFrame, key: str, source,
                    min_size: int = 15, max_size: int = 500) -> GeneSets:
    """:func:`index_gene_sets` of the .gmt's sets (read from ``source``) on the dataset's
    genes (genes.tsv) by ``key``: gene_name (symbols) or gene_id (versions stripped on both
    sides, so 'ENSG00000141510.16' matches 'ENSG00000141510').

    Raises
    ------
    InputError
        naming the .gmt, a gene of each side and enrichment.gene_key when no gene matches.
    """
    keyed, universe = _keyed(sets, genes, key)
    if not _any_match(keyed, universe):
        other = GENE_KEYS[1 - GENE_KEYS.index(key)]
        fix = (f"set enrichment.gene_key to {other}: the .gmt's genes match the dataset's "
               f"{other}" if _any_match(*_keyed(sets, genes, other)) else
               f"give a .gmt of the dataset's {key} values (genes.tsv), or set "
               "enrichment.gene_key to the column its genes are")
        raise InputError(source, f"no gene of the .gmt matches a dataset gene by {key}: dataset "
                         f"has e.g. {genes[key].iat[0]!r}, the .gmt e.g. "
                         f"{next(iter(sets.values()))[0]!r}", fix)
    return index_gene_sets(keyed, universe, min_size, max_size, source)


def index_gene_sets(sets: dict[str, list[str]], genes: Sequence[str], min_size: int = 15,
                    max_size: int = 500, source="gene sets") -> GeneSets:
    """Map each set onto ``genes`` (the universe) and keep those with min_size to max_size
    genes there (as GSEA filters sets after the intersection). A name that several genes
    share (GTEx's symbols have a few) is ambiguous: it matches none of them."""
    index = pd.Index(genes)
    shared = index.duplicated(keep=False)
    if shared.any():
        log.warning("%d genes share their name with another and are in no gene set (e.g. %r)",
                    shared.sum(), index[shared][0])
    lookup, positions = index[~shared], np.flatnonzero(~shared)
    names, members = [], []
    for name, listed in sets.items():
        found = lookup.get_indexer(listed)
        found = np.unique(positions[found[found >= 0]])
        if min_size <= len(found) <= min(max_size, len(index) - 1):   # all genes: no test
            names.append(name)
            members.append(found)
    log.info("%d of %d gene sets have %d to %d genes among the %d genes", len(names),
             len(sets), min_size, max_size, len(index))
    if not names:
        raise InputError(source, f"no set has {min_size} to {max_size} genes among the "
                         "dataset's genes", "check that the .gmt uses the dataset's gene "
                         "names, or lower enrichment.min_size")
    return GeneSets(names, members)


# ---------------------------------------------------------------- factor loadings

def ranking_scores(model: TransModel, tissue: int, factor: int) -> np.ndarray:
    """Table 2's ranking of every gene: the least-squares loadings saved with the model
    (``loadings``: :func:`milage.trans_loadings.dense_loadings`), else its own
    (:meth:`TransModel.gene_scores`)."""
    if "loadings" in model.extras:
        return model.extras["loadings"][factor, tissue]
    return model.gene_scores(tissue, factor)


def default_pairs(model: TransModel, tissues: Sequence[str]) -> list[tuple[str, int]]:
    """Each tissue with its most active factor (numbered from 1)."""
    return [(t, int(f) + 1) for t, f in zip(tissues, most_active_factor(model), strict=True)]


def resolve_pairs(pairs: Iterable[Sequence], model: TransModel,
                  tissues: Sequence[str]) -> list[tuple[str, int]]:
    """Configured (tissue, factor from 1) pairs, checked; empty means :func:`default_pairs`."""
    pairs = [(str(t), int(f)) for t, f in pairs]
    if not pairs:
        return default_pairs(model, tissues)
    n_factors = model.n_factors
    for tissue, factor in pairs:
        if tissue not in tissues:
            raise InputError("enrichment.pairs", f"tissue {tissue!r} is not in the dataset",
                             f"use one of: {', '.join(tissues)}")
        if not 1 <= factor <= n_factors:
            raise InputError("enrichment.pairs", f"factor {factor} of {tissue!r} is not "
                             f"in 1..{n_factors}", "number factors from 1")
    return pairs


# ---------------------------------------------------------------- Table 1: overlaps

def top_genes(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` genes with the largest |score| (non-zero only), largest first."""
    order = np.argsort(-np.abs(scores), kind="stable")[:n]
    return order[scores[order] != 0]


def overlap_test(selected: np.ndarray, sets: GeneSets, n_genes: int) -> pd.DataFrame:
    """Hypergeometric overlap of the ``selected`` gene indices with every set.

    Columns gene_set, set_size, overlap, ratio (overlap / set_size), fold (overlap over its
    expectation), p (P[X >= overlap]) and q (Benjamini-Hochberg over the sets).
    """
    sizes = sets.sizes
    hit = np.zeros(n_genes, dtype=bool)
    hit[selected] = True
    overlap = np.array([hit[m].sum() for m in sets.members])
    p = hypergeom.sf(overlap - 1, n_genes, sizes, len(selected))
    expected = sizes * len(selected) / n_genes
    return pd.DataFrame({"gene_set": sets.names, "set_size": sizes, "overlap": overlap,
                         "ratio": overlap / sizes, "fold": overlap / expected, "p": p,
                         "q": false_discovery_control(p, method="bh")})


def overlap_table(model: TransModel, tissues: Sequence[str], sets: GeneSets,
                  n_genes: int, top: int = 200) -> pd.DataFrame:
    """Table 1: the top genes of each tissue's most active factor against every gene set.

    Returns one row per (tissue, gene set): tissue, factor (from 1), n_top (genes tested),
    then the columns of :func:`overlap_test`, sorted by tissue then p.
    """
    rows = []
    for tissue, factor in default_pairs(model, tissues):
        chosen = top_genes(model.gene_scores(list(tissues).index(tissue), factor - 1), top)
        table = overlap_test(chosen, sets, n_genes)
        table.insert(0, "n_top", len(chosen))
        table.insert(0, "factor", factor)
        table.insert(0, "tissue", tissue)
        rows.append(table.sort_values("p", kind="stable"))
    return pd.concat(rows, ignore_index=True)


# ---------------------------------------------------------------- Table 2: MTGSEA

@dataclass
class Hits:
    """Every set's genes as rank positions, concatenated set after set (shared by a block
    of P permutations; L = the summed set sizes).

    position : P x L rank positions (0 = largest score), ascending within each set.
    weight : P x L their weights |score|**p.
    starts : S offsets of the sets in L; sizes : S set sizes.
    """

    position: np.ndarray
    weight: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray


def running_sum_extremes(hits: Hits, n_genes: int) -> tuple[np.ndarray, np.ndarray]:
    """Maximum and minimum of the GSEA running sum of every set (P x S each).

    The running sum after rank position i is (weight of the set's genes up to i) / (their
    total weight) - (other genes up to i) / (n_genes - set size). Its maximum is reached at
    a hit and its minimum just before one (or at the end, where it is 0), so it is evaluated
    there only. A set whose genes all weigh 0 scores 0.
    """
    segment = np.repeat(np.arange(len(hits.sizes)), hits.sizes)  # L
    total = np.add.reduceat(hits.weight, hits.starts, axis=1)    # P x S
    with np.errstate(divide="ignore"):
        scale = np.where(total > 0, 1 / total, 0.0)              # P x S
    # running sum at each hit, after it: the set's weight so far, scaled, minus the misses
    up = np.cumsum(hits.weight, axis=1)                          # P x L
    before = np.concatenate([np.zeros((len(up), 1)), up[:, hits.starts[1:] - 1]], axis=1)
    up -= before[:, segment]
    up *= scale[:, segment]
    rank_in_set = np.arange(segment.size) - hits.starts[segment]
    misses = hits.position - rank_in_set                         # P x L
    up -= misses * (1.0 / (n_genes - hits.sizes))[segment]
    high = np.maximum.reduceat(up, hits.starts, axis=1)
    # and just before it
    up -= hits.weight * scale[:, segment]
    low = np.minimum(np.minimum.reduceat(up, hits.starts, axis=1), 0.0)
    zero = total == 0
    high[zero] = 0.0
    low[zero] = 0.0
    return high, low


def rank_positions(scores: np.ndarray) -> np.ndarray:
    """Rank position of every gene, largest score first (ties keep the gene order)."""
    order = np.argsort(-scores, kind="stable")
    position = np.empty(len(scores), dtype=np.int64)
    position[order] = np.arange(len(scores))
    return position


def _hits(positions: np.ndarray, sets: GeneSets, ranked_weight: np.ndarray) -> Hits:
    """Hits of every set for a block of gene -> position maps (P x genes)."""
    genes = np.concatenate(sets.members)
    sizes = sets.sizes
    segment = np.repeat(np.arange(len(sizes)), sizes)
    n = positions.shape[1]
    dtype = np.int32 if len(sizes) * n < 2**31 else np.int64     # a faster sort when it fits
    offset = (segment * n).astype(dtype)
    key = np.sort(positions[:, genes].astype(dtype) + offset, axis=1)  # ascending per set
    position = key - offset
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return Hits(position, ranked_weight[position], starts, sizes)


def enrichment_scores(scores: np.ndarray, sets: GeneSets,
                      weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """GSEA enrichment score of every set on one ranking, both directions.

    Returns (es_pos, es_neg): the running sum's maximum (>= 0, genes near the top: large
    positive scores) and minimum (<= 0, near the bottom). GSEA's signed ES is the one of
    larger magnitude.
    """
    high, low = set_extremes(scores, sets, rank_positions(scores)[None], weight)
    return high[0], low[0]


def set_extremes(scores: np.ndarray, sets: GeneSets, positions: np.ndarray,
                 weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Every set's (es_pos, es_neg) (P x S each) when gene g sits at rank position
    ``positions[p, g]`` (P x genes; the ranked scores stay where they are)."""
    # float64: the kernel sums weights across all sets, float32 loadings would lose digits
    ranked_weight = np.abs(scores.astype(float))[np.argsort(-scores, kind="stable")] ** weight
    return running_sum_extremes(_hits(positions, sets, ranked_weight), len(scores))


def permutation_null(scores: np.ndarray, sets: GeneSets, n_permutations: int,
                     rng: np.random.Generator, weight: float = 1.0,
                     block_bytes: int = 2**25) -> tuple[np.ndarray, np.ndarray]:
    """Every set's (es_pos, es_neg) under gene permutations (permutations x sets each).

    Each permutation assigns the genes to rank positions at random (the scores stay), the
    same permutation for every set, so overlaps between sets are kept and the best ES over
    the sets of one permutation is the paper's null. Permutations run in blocks of about
    ``block_bytes`` per P x L array.
    """
    n = len(scores)
    block = max(1, block_bytes // (8 * int(sets.sizes.sum())))
    highs, lows = [], []
    for start in range(0, n_permutations, block):
        size = min(block, n_permutations - start)
        positions = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)   # P x genes
        high, low = set_extremes(scores, sets, positions, weight)
        highs.append(high)
        lows.append(low)
    return np.concatenate(highs), np.concatenate(lows)


def max_null_pvalue(observed: np.ndarray, null_best: np.ndarray, sign: int = 1) -> np.ndarray:
    """(1 + #permutations whose best ES reaches the observed) / (1 + #permutations).

    ``sign`` 1: positive ES, reached by a null best >= the observed; -1: negative ES (the
    other direction), reached by one <= the observed.
    """
    observed = sign * np.asarray(observed, dtype=float)
    reached = (sign * null_best[None, :] >= observed[:, None] - 1e-12).sum(axis=1)
    return (1 + reached) / (1 + len(null_best))


# positive: sets among the largest loadings; negative: among the most negative (the paper's
# two directions); absolute: among the largest |loading| whatever their sign (a factor that
# raises some of a set's genes and lowers others, as the demo's planted modules do)
DIRECTIONS = ("positive", "negative", "absolute")


def direction_table(sets: GeneSets, direction: str, observed: tuple[np.ndarray, np.ndarray],
                    null: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    """ES and the paper's p-value of every set in one direction.

    ``observed`` is (es_pos, es_neg) of the sets (S each) on the direction's ranking, ``null``
    the same under the permutations (P x S each). Returns columns gene_set, set_size,
    direction, es (negative for ``negative``), p (the chance that the best ES over all sets
    under a permutation reaches es) and fdr (Benjamini-Hochberg over the sets).
    """
    index, sign = (1, -1) if direction == "negative" else (0, 1)
    es, null = observed[index], null[index]                      # S, P x S
    best = null.max(axis=1) if sign == 1 else null.min(axis=1)
    p = max_null_pvalue(es, best, sign)
    return pd.DataFrame({"gene_set": sets.names, "set_size": sets.sizes,
                         "direction": direction, "es": es, "p": p,
                         "fdr": false_discovery_control(p, method="bh")})


def mtgsea_pair(scores: np.ndarray, sets: GeneSets, n_permutations: int,
                rng: np.random.Generator, weight: float = 1.0,
                directions: Sequence[str] = DIRECTIONS) -> pd.DataFrame:
    """MTGSEA of one gene loading vector: :func:`direction_table` of each direction, stacked.

    ``positive`` and ``negative`` share the ranking by loading and its permutations;
    ``absolute`` ranks by |loading| with permutations of its own.
    """
    runs = {}
    tables = []
    for direction in directions:
        absolute = direction == "absolute"
        if absolute not in runs:
            ranking = np.abs(scores) if absolute else scores
            high, low = enrichment_scores(ranking, sets, weight)
            runs[absolute] = ((high, low),
                              permutation_null(ranking, sets, n_permutations, rng, weight))
        tables.append(direction_table(sets, direction, *runs[absolute]))
    return pd.concat(tables, ignore_index=True)


def mtgsea_table(model: TransModel, tissues: Sequence[str], sets: GeneSets,
                 pairs: Iterable[Sequence] = (), n_permutations: int = 1000, seed: int = 1,
                 fdr: float = 0.1, weight: float = 1.0,
                 directions: Sequence[str] = DIRECTIONS) -> pd.DataFrame:
    """Table 2 (MTGSEA) for (tissue, factor from 1) pairs; empty pairs: each tissue's most
    active factor (by the model's loadings). Genes are ranked by :func:`ranking_scores`.

    Returns one row per (pair, gene set, direction): tissue, factor, gene_set, set_size,
    direction, es, p, fdr, significant (fdr < ``fdr``); within a pair sorted by p, then
    |es| descending. Each pair's permutations are seeded by (seed, tissue index,
    factor), so a pair's numbers do not depend on the other pairs.
    """
    tissues = list(tissues)
    n_rankings = len({d == "absolute" for d in directions})     # +/- share one ranking
    tables = []
    for tissue, factor in resolve_pairs(pairs, model, tissues):
        k = tissues.index(tissue)
        rng = np.random.default_rng([seed, k, factor])
        started = time.perf_counter()
        table = mtgsea_pair(ranking_scores(model, k, factor - 1), sets, n_permutations, rng,
                            weight, directions)
        seconds = time.perf_counter() - started
        log.info("%s factor %d: %d rankings x %d permutations x %d sets in %.2f s "
                 "(%.2f s per 1,000 permutations of one ranking)", tissue, factor, n_rankings,
                 n_permutations, len(sets.names), seconds,
                 1000 * seconds / max(n_permutations * n_rankings, 1))
        table.insert(0, "factor", factor)
        table.insert(0, "tissue", tissue)
        order = np.lexsort((-table["es"].abs().to_numpy(), table["p"].to_numpy()))
        tables.append(table.iloc[order])
    out = pd.concat(tables, ignore_index=True)
    out["significant"] = out["fdr"] < fdr
    return out
