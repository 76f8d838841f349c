"""Checks that stop a rule before it writes a number that cannot be right.

Expression is Z-scored and the trans models' genotypes are standardised, so a fitted weight,
intercept or parameter above ``MAX_ABS`` in absolute value (or a non-finite one) is a
failure of the fit or of its input, never a finding: it stops the rule with a message
naming where it sits, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from milage.errors import MilageError

MAX_ABS = 1e3


class ImplausibleValueError(MilageError):
    """A fitted value that is non-finite or absurd in size."""


def check_plausible(values, what: str, name_of: Callable[[int], str], fix: str) -> None:
    """Raise :class:`ImplausibleValueError` naming the first non-finite value of ``values``
    or one above ``MAX_ABS`` in absolute value; ``name_of(i)`` says where the i-th value
    (flat index) sits."""
    values = np.asarray(values)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= MAX_ABS)            # NaN compares False
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ImplausibleValueError(
            f"{what}: {name_of(first)} is {values.flat[first]:.4g} ({int(bad.sum())} values "
            f"non-finite or above {MAX_ABS:g} in absolute value, which no fit of standardised "
            f"data can give; nothing was written). Fix: {fix}")


def check_table(table: pd.DataFrame, column: str, what: str, keys: dict[str, str],
                fix: str) -> None:
    """:func:`check_plausible` on one column of a table; the message names the row by
    ``keys``, {what to call it: its column} (e.g. {"gene": "gene_id", "SNP": "snp_id"})."""
    check_plausible(table[column].to_numpy(), what, lambda i: ", ".join(
        f"{name} {table[col].iat[i]}" for name, col in keys.items()), fix)


def check_array(values: np.ndarray, what: str, axes: tuple[str, ...],
                labels: dict[str, object], fix: str) -> None:
    """:func:`check_plausible` on an array whose axes are named (``axes``); an axis with
    ``labels`` is named by its label (a SNP or gene ID, a tissue), others by position from 1."""
    def name_of(i: int) -> str:
        index = np.unravel_index(i, np.shape(values))
        return ", ".join(f"{axis} {labels[axis][j]}" if axis in labels else f"{axis} {j + 1}"
                         for axis, j in zip(axes, index, strict=True))

    check_plausible(values, what, name_of, fix)
