"""The paper's figures (Figs 4-10) with matplotlib's Agg backend: one function per figure.

Each function takes the numbers computed by :mod:`milage.analysis` and returns a Figure;
:func:`save` writes it (PNG and PDF) atomically. Tissues are drawn in the colours of
``resources/tissues.tsv``.
"""

from __future__ import annotations

import logging
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy.cluster import hierarchy  # noqa: E402

from milage.analysis import TissueSimilarity  # noqa: E402
from milage.files import atomic_output, write_table  # noqa: E402

log = logging.getLogger(__name__)
UNKNOWN_COLOUR = "#BBBBBB"
MODEL_COLOURS = {"cis": "#555555", "ml": "#1f77b4", "nn": "#d62728", "tm": "#2ca02c"}
SPLIT_STYLES = {"train": "-", "valid": "--"}


def tissue_colours(tissues: list[str], table: pd.DataFrame) -> list[str]:
    """Each tissue's colour from a table with columns tissue, colour (grey if absent)."""
    colour = dict(zip(table["tissue"], table["colour"], strict=True))
    return [colour.get(t, UNKNOWN_COLOUR) for t in tissues]


def save(fig: plt.Figure, *paths: str | os.PathLike) -> None:
    """Write ``fig`` to each path (format from the suffix) atomically, then close it."""
    for path in paths:
        kind = os.path.splitext(path)[1][1:]
        with atomic_output(path) as tmp:
            # no creation date in the PDF: the same numbers give the same bytes
            fig.savefig(tmp, format=kind, dpi=150, bbox_inches="tight",
                        metadata={"CreationDate": None} if kind == "pdf" else None)
    plt.close(fig)


def skipped_for_one_tissue(outputs, tissues: list[str], figure: str) -> bool:
    """True (after writing its outputs as notes) when ``figure`` compares tissues and the
    dataset has only one: the PNG and PDF say why, each TSV holds the reason, the log too."""
    if len(tissues) > 1:
        return False
    reason = (f"{figure} compares tissues; this dataset has one ({tissues[0]}), so it is "
              "not drawn")
    log.warning("%s", reason)
    fig = plt.figure(figsize=(6, 1))
    fig.text(0.5, 0.5, reason, ha="center", va="center", wrap=True)
    paths = [str(p) for p in outputs]
    save(fig, *(p for p in paths if p.endswith((".png", ".pdf"))))
    for path in (p for p in paths if p.endswith(".tsv")):
        write_table(pd.DataFrame({"note": [reason]}), path)
    return True


def _ve_bottom(curves: pd.DataFrame) -> float:
    """The lower VE limit of Fig 4: a little below the cis lines and every curve's start, so
    that a diverging epoch does not squash the curves (it is noted as off scale)."""
    anchors = curves[curves["curve"].eq("cis") | curves["epoch"].eq(0)
                     | curves["split"].eq("test")]["ve"]
    return float(anchors.min()) - 0.03


def _plot_curve(ax: plt.Axes, part: pd.DataFrame, bottom: float, name: str,
                **style) -> str | None:
    """Draw one VE curve; return a note on its minimum when that falls below ``bottom``."""
    ax.plot(part["epoch"], part["ve"], **style)
    low = part.loc[part["ve"].idxmin()]
    if low["ve"] < bottom:
        return f"{name} down to {low['ve']:.3g} (epoch {low['epoch']:.0f})"
    return None


def _note_off_scale(ax: plt.Axes, notes: list[str | None]) -> None:
    """List the curves that leave the panel at the bottom, in its lower right corner."""
    notes = [n for n in notes if n]
    if notes:
        ax.text(0.98, 0.03, "off scale below:\n" + "\n".join(notes), transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "#999999", "alpha": 0.9})


def fig4_training(curves: pd.DataFrame) -> plt.Figure:
    """Fig 4: variance explained over training (a) per model, (b) per alpha-init penalty.

    ``curves`` is :func:`milage.analysis.training_curves`: cis as horizontal lines, models as
    train (solid) and validation (dashed) curves with the test VE as a star at the kept epoch.
    """
    fig, (ax_m, ax_s) = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True,
                                     layout="constrained")
    bottom = _ve_bottom(curves)
    models = curves[curves["panel"] == "models"]
    notes = []
    for (curve, split), part in models.groupby(["curve", "split"], sort=False):
        colour = MODEL_COLOURS.get(curve, "black")
        if curve == "cis":
            ax_m.axhline(part["ve"].iloc[0], color=colour, lw=1.2,
                         ls={"test": ":"}.get(split, SPLIT_STYLES.get(split)))
        elif split == "test":
            ax_m.plot(part["epoch"], part["ve"], "*", ms=14, color=colour, mec="black")
        else:
            notes.append(_plot_curve(ax_m, part, bottom, f"{curve.upper()} {split}",
                                     color=colour, ls=SPLIT_STYLES[split]))
    _note_off_scale(ax_m, notes)
    handles = [Line2D([], [], color=c, lw=2, label=m.upper() if m != "cis" else "cis only")
               for m, c in MODEL_COLOURS.items() if m in set(models["curve"])]
    handles += [Line2D([], [], color="black", ls="-", label="train"),
                Line2D([], [], color="black", ls="--", label="validation"),
                Line2D([], [], color="black", ls=":", label="test (cis)"),
                Line2D([], [], color="black", marker="*", ls="", ms=12,
                       label="test (kept epoch)")]
    ax_m.legend(handles=handles, fontsize=9, loc="upper center", ncol=4,
                bbox_to_anchor=(0.5, -0.13))
    ax_m.set(title="(a) cis and the three trans models", xlabel="epoch",
             ylabel="variance explained (cis + trans)")
    sweep = curves[(curves["panel"] == "sweep") & (curves["split"] == "valid")]
    penalties = list(dict.fromkeys(sweep["curve"]))
    notes = [_plot_curve(ax_s, sweep[sweep["curve"] == penalty], bottom, f"penalty {penalty}",
                         color=plt.cm.viridis(0.85 * i / max(1, len(penalties) - 1)),
                         label=f"alpha penalty {penalty}")
             for i, penalty in enumerate(penalties)]
    _note_off_scale(ax_s, notes)
    cis_valid = models[(models["curve"] == "cis") & (models["split"] == "valid")]["ve"]
    ax_s.axhline(cis_valid.iloc[0], color=MODEL_COLOURS["cis"], ls="--", lw=1.2,
                 label="cis only (validation)")
    ax_s.legend(fontsize=9, loc="upper center", ncol=3, bbox_to_anchor=(0.5, -0.13))
    ax_s.set(title="(b) alpha-initialisation penalty sweep (validation)", xlabel="epoch")
    drawn = pd.concat([models["ve"], sweep["ve"]])
    ax_m.set_ylim(bottom, float(drawn[drawn >= bottom].max()) + 0.02)
    for ax in (ax_m, ax_s):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def _dendrogram(ax: plt.Axes, similarity: TissueSimilarity, colours: list[str]) -> None:
    """A horizontal WPGMA dendrogram with tissue labels on coloured backgrounds; outlier
    tissues in bold."""
    table = similarity.table
    hierarchy.dendrogram(similarity.linkage, labels=list(table["tissue"]), orientation="left",
                         ax=ax, color_threshold=0, above_threshold_color="#333333",
                         leaf_font_size=9)
    colour = dict(zip(table["tissue"], colours, strict=True))
    outlier = dict(zip(table["tissue"], table["outlier"], strict=True))
    for label in ax.get_yticklabels():
        name = label.get_text()
        label.set_bbox({"facecolor": to_rgba(colour[name], 0.45), "edgecolor": "none",
                        "pad": 1.5})
        if outlier[name]:
            label.set_fontweight("bold")
    ax.set_xlabel("WPGMA merge height (Euclidean distance)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _representation(model: str) -> str:
    """What a tissue is in Figs 5, 6 and 8 (see milage.analysis.tissue_representation)."""
    return "its row of W" if model == "tm" else r"its loadings $\beta_k$"


def fig5_dendrogram(similarity: TissueSimilarity, colours: list[str],
                    model: str) -> plt.Figure:
    """Fig 5: WPGMA clustering of the tissues (outliers by the MDS rule in bold)."""
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(colours) + 1.5))
    _dendrogram(ax, similarity, colours)
    ax.set_title(f"{model.upper()}: WPGMA clustering of tissues, each by "
                 f"{_representation(model)}")
    fig.tight_layout()
    return fig


def _text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    r, g, b, _ = to_rgba(background)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _mds(ax: plt.Axes, table: pd.DataFrame, columns: list[str], colours: list[str],
         title: str) -> None:
    """Tissues as numbered points on two MDS coordinates (rows with NaN skipped), one unit
    the same length on both axes."""
    shown = np.nonzero(table[columns].notna().all(axis=1).to_numpy())[0]
    xy = table.loc[shown, columns].to_numpy()
    ax.scatter(xy[:, 0], xy[:, 1], s=170, c=np.asarray(colours)[shown], edgecolors="black",
               linewidths=0.6, zorder=2)
    for row, (x, y) in zip(shown, xy, strict=True):
        ax.annotate(str(row + 1), (x, y), ha="center", va="center", fontsize=7, zorder=3,
                    color=_text_colour(colours[row]))
    ax.set(title=title, xlabel="MDS 1", ylabel="MDS 2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.08)
    ax.grid(alpha=0.3)


def _tissue_key(fig: plt.Figure, table: pd.DataFrame, colours: list[str]) -> None:
    """The legend that names the numbered tissues of the MDS panels (outliers marked)."""
    handles = [Line2D([], [], marker="o", ls="", ms=8, mfc=c, mec="black",
                      label=f"{i}  {t}" + (" (outlier)" if o else ""))
               for i, (t, o, c) in enumerate(zip(table["tissue"], table["outlier"], colours,
                                                 strict=True), start=1)]
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False,
               title="tissue", title_fontsize=9)


def fig6_mds(similarity: TissueSimilarity, colours: list[str], model: str) -> plt.Figure:
    """Fig 6: MDS of all tissues, and of the tissues that are not outliers."""
    table = similarity.table
    fig, axes = plt.subplots(1, 2, figsize=(15, 6), layout="constrained")
    _mds(axes[0], table, ["mds1", "mds2"], colours, "(a) all tissues")
    _mds(axes[1], table, ["mds1_inliers", "mds2_inliers"], colours,
         _without_outliers(table, "(b)"))
    fig.suptitle(f"{model.upper()}: MDS of tissues, each by {_representation(model)}")
    _tissue_key(fig, table, colours)
    return fig


def _without_outliers(table: pd.DataFrame, prefix: str) -> str:
    """The title of an MDS panel without the outliers, after ``prefix``."""
    n = int(table["outlier"].sum())
    return f"{prefix} without the {n} outlier tissue{'s' * (n != 1)}"


def _heatmap(ax: plt.Axes, values: np.ndarray, rows: list[str], columns: list[str],
             label: str) -> None:
    """A diverging heat map centred on zero with a labelled colour bar.

    The colour scale ends at the 99th percentile of |value|, so that a few extreme cells do
    not wash out the rest; larger values take the end colours (arrows on the colour bar).
    """
    magnitude = np.abs(values)
    bound = float(np.quantile(magnitude, 0.99)) or float(magnitude.max()) or 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto",
                      interpolation="nearest")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xticks(range(len(columns)), columns, fontsize=7, rotation=90)
    ax.figure.colorbar(image, ax=ax, label=label, fraction=0.04, pad=0.02, aspect=35,
                       extend="both" if magnitude.max() > bound else "neither")


def fig7_activation(activation: pd.DataFrame) -> plt.Figure:
    """Fig 7: TM's tissue x factor activation W (rows in the WPGMA order of Fig 8)."""
    factors = list(activation.columns[1:])
    fig, ax = plt.subplots(figsize=(3 + 0.3 * len(factors), 0.28 * len(activation) + 1.5))
    # bottom to top, as the leaves of Fig 8's dendrogram
    _heatmap(ax, activation[factors].to_numpy()[::-1], list(activation["tissue"])[::-1],
             factors, "W: activation of the factor in the tissue")
    ax.set(xlabel="factor", title="TM tissue activation of factors")
    fig.tight_layout()
    return fig


def fig8_tm_tissues(similarity: TissueSimilarity, colours: list[str]) -> plt.Figure:
    """Fig 8: WPGMA clustering (left) and MDS (right: all tissues; outliers removed) of the
    rows of TM's W."""
    table = similarity.table
    fig = plt.figure(figsize=(16, max(8.0, 0.32 * len(table) + 1.5)), layout="constrained")
    axes = fig.subplot_mosaic([["a", "b"], ["a", "c"]], width_ratios=[1.1, 1])
    _dendrogram(axes["a"], similarity, colours)
    axes["a"].set_title("(a) WPGMA clustering")
    _mds(axes["b"], table, ["mds1", "mds2"], colours, "(b) MDS, all tissues")
    _mds(axes["c"], table, ["mds1_inliers", "mds2_inliers"], colours,
         _without_outliers(table, "(c) MDS"))
    fig.suptitle("TM: tissues by their activation of the factors (rows of W)")
    _tissue_key(fig, table, colours)
    return fig


def fig9_factors(summary: pd.DataFrame, model: str) -> plt.Figure:
    """Fig 9: mean loading per tissue and factor (heat map) over the number of SNPs with
    non-zero alpha per factor (bars), factors aligned."""
    tissues = list(summary.columns[2:])
    factors = list(summary["factor"])
    fig = plt.figure(figsize=(4 + 0.22 * len(factors), 0.28 * len(tissues) + 4))
    grid = fig.add_gridspec(2, 1, height_ratios=[0.28 * len(tissues), 1.8], hspace=0.08)
    ax_h = fig.add_subplot(grid[0])
    ax_b = fig.add_subplot(grid[1])
    _heatmap(ax_h, summary[tissues].to_numpy().T, tissues, factors,
             "mean loading over genes (mean beta)")
    ax_h.tick_params(labelbottom=False)
    ax_h.set_title(f"{model.upper()}: mean loading of each factor in each tissue")
    counts = summary["n_snps"].to_numpy()
    ax_b.bar(range(len(factors)), counts, color="#555555", width=0.7)
    ax_b.set_xlim(ax_h.get_xlim())
    ax_b.set_xticks(range(len(factors)), factors, fontsize=7, rotation=90)
    ax_b.set(xlabel="factor", ylabel="SNPs with\nnon-zero alpha")
    ax_b.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_b.grid(axis="y", alpha=0.3)
    # keep the bars under the heat map (not under its colour bar)
    fig.canvas.draw()
    h, b = ax_h.get_position(), ax_b.get_position()
    ax_b.set_position([h.x0, b.y0, h.width, b.height])
    return fig


def fig10_top_tissues(top: pd.DataFrame, colours: dict[str, str], model: str) -> plt.Figure:
    """Fig 10: for each factor (row), its most active tissues (columns by rank) on their
    tissue colour, with the activity (mean |loading|)."""
    factors = list(dict.fromkeys(top["factor"]))
    n_top = int(top["rank"].max())
    fig, ax = plt.subplots(figsize=(4.2 * n_top + 0.8, 0.32 * len(factors) + 1.2))
    for _, row in top.iterrows():
        y, x = factors.index(row["factor"]), row["rank"] - 1
        ax.add_patch(plt.Rectangle((x + 0.02, y - 0.45), 0.96, 0.9,
                                   color=to_rgba(colours.get(row["tissue"], UNKNOWN_COLOUR),
                                                 0.45)))
        ax.text(x + 0.05, y, row["tissue"], va="center", fontsize=8)
        ax.text(x + 0.95, y, f"{row['activity']:.3g}", va="center", ha="right", fontsize=7,
                color="#333333")
    ax.set_xlim(0, n_top)
    ax.set_ylim(len(factors) - 0.5, -0.5)
    ax.set_yticks(range(len(factors)), factors, fontsize=8)
    ax.set_xticks(np.arange(n_top) + 0.5, [f"rank {r + 1}" for r in range(n_top)])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"{model.upper()}: the {n_top} most active tissues of each factor "
                 "(number: mean |loading| over genes)", pad=24)
    fig.tight_layout()
    return fig
