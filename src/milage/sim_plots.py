"""Figures of the simulation studies: Fig 2 (linear vs nonlinear recovery) and Fig 3
(speed of a training step). One function per figure, saved by :func:`milage.plots.save`."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

SOLVER_COLOURS = {"ml": "tab:blue", "nn": "tab:orange"}
IMPLEMENTATION_COLOURS = {"keras": "tab:red", "numpy": "tab:grey"}
LABELS = {"ml": "ML", "nn": "NN"}


def recovery_figure(histories: pd.DataFrame, runs: pd.DataFrame):
    """Fig 2: VE over training epochs, one panel per (sample size, generator), one colour
    per solver; solid training, dashed test; thin lines are replicates, thick their
    median; the dotted line is the oracle test VE of the planted signal.

    ``histories``: epoch, ve_train, ve_test with generator, solver, n_individuals and
    replicate; ``runs``: one row per run with oracle_ve_test.
    """
    sizes = sorted(histories["n_individuals"].unique())
    gens = sorted(histories["generator"].unique())
    fig, axes = plt.subplots(len(sizes), len(gens), figsize=(4.2 * len(gens), 3.3 * len(sizes)),
                             squeeze=False, sharey="row")
    for (r, n), (c, gen) in ((rn, cg) for rn in enumerate(sizes) for cg in enumerate(gens)):
        ax = axes[r, c]
        here = histories[(histories["n_individuals"] == n) & (histories["generator"] == gen)]
        for solver, runs_of in here.groupby("solver"):
            _solver_curves(ax, runs_of, SOLVER_COLOURS.get(solver, "k"), LABELS.get(solver,
                                                                                     solver))
        oracle = runs[(runs["n_individuals"] == n) & (runs["generator"] == gen)]
        ax.axhline(oracle["oracle_ve_test"].mean(), color="k", ls=":", lw=1, label="oracle (test)")
        ax.set_title(f"{LABELS.get(gen, gen)} data, {n:,} individuals", fontsize=10)
        ax.set_xlabel("epoch (full-batch step)")
        if c == 0:
            ax.set_ylabel("variance explained")
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8,
               bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout()
    return fig


def _solver_curves(ax, runs_of: pd.DataFrame, colour: str, label: str) -> None:
    """Replicate curves (thin) and their per-epoch median (thick) of train and test VE."""
    for split, ls in (("train", "-"), ("test", "--")):
        col = f"ve_{split}"
        for _, rep in runs_of.groupby("replicate"):
            ax.plot(rep["epoch"], rep[col], color=colour, ls=ls, lw=0.6, alpha=0.35)
        median = runs_of.groupby("epoch")[col].median()
        ax.plot(median.index, median.to_numpy(), color=colour, ls=ls, lw=1.8,
                label=f"{label} solver, {split}")


def timing_figure(timings: pd.DataFrame):
    """Fig 3: seconds per training step against data size (S and J, T fixed) and against
    the number of factors T, per implementation, with the device of each in the legend.

    ``timings``: rows of :func:`milage.sim_timing.time_grid` (panel, x, S, J, T,
    implementation, backend, device, device_name, step_s).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panels = {"size": ("S and J as a fraction of the real data", "size"),
              "factors": ("factors T", "factors")}
    for ax, (panel, (xlabel, _)) in zip(axes, panels.items(), strict=True):
        here = timings[timings["panel"] == panel]
        for (impl, backend, device, name), rows in here.groupby(
                ["implementation", "backend", "device", "device_name"], sort=False):
            rows = rows.sort_values("x")
            ax.plot(rows["x"], rows["step_s"], "o-", color=IMPLEMENTATION_COLOURS.get(impl, "k"),
                    label=f"{'Keras (' + backend + ')' if impl == 'keras' else 'NumPy'} "
                          f"on {device.upper()}: {name}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds per training step")
        ax.grid(alpha=0.3, which="both")
        ax.set_title(_panel_title(here, panel), fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _panel_title(rows: pd.DataFrame, panel: str) -> str:
    if rows.empty:
        return panel
    first = rows.iloc[0]
    if panel == "size":
        return f"T = {first['T']}, K = {first['K']}, I = {first['I']}"
    return f"S = {first['S']:,}, J = {first['J']:,}, K = {first['K']}, I = {first['I']}"
