"""Numbers behind the figures and tables: tissue and factor summaries of trained models."""

from __future__ import annotations

import numpy as np


def factor_activity(params: dict[str, np.ndarray]) -> np.ndarray:
    """How active each factor is in each tissue (tissues x factors).

    ML/NN: the mean |beta| over genes; TM: |W| times the mean |V| over genes.
    """
    if "V" in params:
        return np.abs(params["W"]) * np.abs(params["V"]).mean(axis=0)
    return np.abs(params["beta"]).mean(axis=2).T          # beta: factors x tissues x genes


def most_active_factor(params: dict[str, np.ndarray]) -> np.ndarray:
    """Each tissue's most active factor (0-based), by :func:`factor_activity`."""
    return np.argmax(factor_activity(params), axis=1)
