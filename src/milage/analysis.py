"""Numbers behind the figures and tables: tissue and factor summaries of trained models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist, squareform
from scipy.stats import median_abs_deviation
from sklearn.manifold import MDS
from sklearn.metrics import adjusted_rand_score

from milage.evaluate import SPLITS
from milage.trans_models import TransModel


def most_active_factor(model: TransModel) -> np.ndarray:
    """Each tissue's most active factor (0-based), by :meth:`TransModel.factor_activity`."""
    return np.argmax(model.factor_activity(), axis=1)


def robust_outliers(distances: np.ndarray, threshold: float) -> pd.DataFrame:
    """Outlier tissues by the robust z-score of their mean distance to the other tissues.

    z_k = (m_k - median(m)) / MAD(m), with m_k the mean distance of tissue k to the others and
    MAD the median absolute deviation scaled to a normal SD (1.4826 x); a tissue is an outlier
    when z_k > ``threshold`` (only far tissues: close ones are not outliers).

    Parameters
    ----------
    distances : (tissues, tissues) symmetric distance matrix with a zero diagonal.
    threshold : robust z-score above which a tissue is flagged.

    Returns
    -------
    DataFrame with one row per tissue: mean_distance, robust_z, outlier.
    """
    n = len(distances)
    mean_distance = distances.sum(axis=1) / (n - 1)
    deviation = mean_distance - np.median(mean_distance)
    mad = median_abs_deviation(mean_distance, scale="normal")
    robust_z = deviation / mad if mad > 0 else np.where(deviation > 0, np.inf, 0.0)
    return pd.DataFrame({"mean_distance": mean_distance, "robust_z": robust_z,
                         "outlier": robust_z > threshold})


def mds_coordinates(distances: np.ndarray, seed: int) -> np.ndarray:
    """Metric MDS (scikit-learn, classical-MDS start) of a distance matrix: points x 2."""
    mds = MDS(n_components=2, metric="precomputed", init="classical_mds", random_state=seed)
    return mds.fit_transform(distances)


@dataclass
class TissueSimilarity:
    """WPGMA clustering, outlier calls and MDS maps of the tissues of one model.

    linkage : (tissues - 1) x 4 linkage matrix of scipy (method 'weighted', Euclidean).
    table : one row per tissue: tissue, leaf (position in the dendrogram), mean_distance,
        robust_z, outlier, mds1, mds2 (all tissues), mds1_inliers, mds2_inliers (outliers
        removed; NaN for outliers, and for everyone when fewer than 3 tissues remain).
    """

    linkage: np.ndarray
    table: pd.DataFrame

    def linkage_table(self) -> pd.DataFrame:
        """The merges of the dendrogram: node, left, right (tissue or node), height, size."""
        names = list(self.table["tissue"])
        n = len(names)
        label = names + [f"node{i + 1}" for i in range(n - 1)]
        z = self.linkage
        return pd.DataFrame({"node": label[n:],
                             "left": [label[int(i)] for i in z[:, 0]],
                             "right": [label[int(i)] for i in z[:, 1]],
                             "height": z[:, 2], "n_tissues": z[:, 3].astype(int)})


def tissue_similarity(model: TransModel, tissues: list[str],
                      outlier_threshold: float, seed: int) -> TissueSimilarity:
    """Tissues compared by their representation (:meth:`TransModel.tissue_representation`).

    Euclidean distances; WPGMA clustering (``scipy.cluster.hierarchy.linkage``, method
    'weighted'); outliers by :func:`robust_outliers`; metric MDS of all tissues and of the
    tissues that are not outliers.
    """
    rep = model.tissue_representation()
    condensed = pdist(rep)
    distances = squareform(condensed)
    linkage = hierarchy.linkage(condensed, method="weighted")
    table = robust_outliers(distances, outlier_threshold)
    table.insert(0, "tissue", tissues)
    table.insert(1, "leaf", np.argsort(hierarchy.leaves_list(linkage)))
    table[["mds1", "mds2"]] = mds_coordinates(distances, seed)
    table[["mds1_inliers", "mds2_inliers"]] = np.nan
    inliers = np.nonzero(~table["outlier"].to_numpy())[0]
    if len(inliers) >= 3:
        table.loc[inliers, ["mds1_inliers", "mds2_inliers"]] = mds_coordinates(
            distances[np.ix_(inliers, inliers)], seed)
    return TissueSimilarity(linkage, table)


def cluster_agreement(linkage: np.ndarray, labels: np.ndarray) -> float:
    """Adjusted Rand index between ``labels`` and the dendrogram cut into as many clusters."""
    n_clusters = len(np.unique(labels))
    found = hierarchy.fcluster(linkage, n_clusters, criterion="maxclust")
    return float(adjusted_rand_score(labels, found))


def factor_labels(n_factors: int) -> list[str]:
    """Factor names as in the paper and the tables: F1, F2, ... (numbered from 1)."""
    return [f"F{t + 1}" for t in range(n_factors)]


def factor_summary(model: TransModel, tissues: list[str], n_factors: int,
                   alpha_epsilon: float) -> pd.DataFrame:
    """Fig 9's numbers for the first ``n_factors`` factors, one row per factor.

    Columns: factor (F1, ...), n_snps (SNPs with |alpha| > ``alpha_epsilon``), then the mean
    loading (:meth:`TransModel.mean_loading`) in each tissue.
    """
    n = min(n_factors, model.n_factors)
    table = pd.DataFrame(model.mean_loading()[:, :n].T, columns=tissues)
    table.insert(0, "factor", factor_labels(n))
    table.insert(1, "n_snps", (np.abs(model.alpha[:, :n]) > alpha_epsilon).sum(axis=0))
    return table


def top_tissues(model: TransModel, tissues: list[str], n_factors: int,
                n_top: int = 3) -> pd.DataFrame:
    """Fig 10's numbers: the ``n_top`` most active tissues of each of the first factors.

    Tissues are ranked by :meth:`TransModel.factor_activity`. Returns one row per (factor, rank):
    factor (F1, ...), rank (1 = most active), tissue, activity, mean_loading (signed, as in
    Fig 9).
    """
    activity, loading = model.factor_activity(), model.mean_loading()  # tissues x factors
    n = min(n_factors, activity.shape[1])
    top = np.argsort(-activity[:, :n], axis=0, kind="stable")[:n_top]  # rank x factors
    rank, factor = np.indices(top.shape)
    return pd.DataFrame({"factor": np.array(factor_labels(n))[factor.T.ravel()],
                         "rank": rank.T.ravel() + 1,
                         "tissue": np.asarray(tissues)[top.T.ravel()],
                         "activity": activity[top, factor].T.ravel(),
                         "mean_loading": loading[top, factor].T.ravel()})


def tissue_activation(model: TransModel, tissues: list[str]) -> pd.DataFrame:
    """Fig 7's numbers: TM's tissue activation W as a table (tissue, F1, F2, ...), the rows
    in the leaf order of the tissues' WPGMA dendrogram (as in Fig 8), so similar tissues sit
    together."""
    w = model.tissue_activation()                             # tissues x factors
    order = hierarchy.leaves_list(hierarchy.linkage(w, method="weighted"))
    return pd.DataFrame(w[order], index=pd.Index(np.asarray(tissues)[order], name="tissue"),
                        columns=factor_labels(w.shape[1])).reset_index()


def training_curves(histories: dict[str, pd.DataFrame], sweep: dict[str, pd.DataFrame],
                    ve: pd.DataFrame) -> pd.DataFrame:
    """Fig 4's numbers: variance explained over training, one row per point.

    Parameters
    ----------
    histories : model -> its history.tsv (epoch, loss, ve_train, ve_valid).
    sweep : alpha-initialisation penalty -> the sweep run's history.
    ve : variance_explained.tsv (model, split, ve, ...): cis and the models' test VE.

    Returns
    -------
    DataFrame: panel (models, sweep), curve (cis, a model, or the penalty), split (train,
    valid, test), epoch (NaN for cis, which has no epochs), ve. A model's test point sits at
    its best validation epoch, whose weights are the ones kept and evaluated.
    """
    final = ve.set_index(["model", "split"])["ve"]
    rows = [pd.DataFrame({"panel": "models", "curve": "cis", "split": split,
                          "epoch": np.nan, "ve": [final["cis", split]]})
            for split in SPLITS]
    for panel, runs in (("models", histories), ("sweep", sweep)):
        for curve, h in runs.items():
            for split in ("train", "valid"):
                rows.append(pd.DataFrame({"panel": panel, "curve": curve, "split": split,
                                          "epoch": h["epoch"], "ve": h[f"ve_{split}"]}))
            if panel == "models":
                best = h["epoch"].iloc[int(np.argmax(h["ve_valid"].to_numpy()))]
                rows.append(pd.DataFrame({"panel": panel, "curve": curve, "split": "test",
                                          "epoch": [best], "ve": [final[curve, "test"]]}))
    return pd.concat(rows, ignore_index=True)
