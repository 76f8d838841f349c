"""Trans-eQTL calls against a simulated cohort's planted truth, with LD taken into account:
a call is true when its SNP is a planted trans-eQTL SNP (of any factor: a model's factors
need not match the planted ones one to one) or has r^2 > ``PLANTED_R2`` with one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from milage.dataset import Dataset
from milage.files import read_table
from milage.trans_eqtls import standardise

PLANTED_R2 = 0.5


def planted_ids(truth: dict) -> np.ndarray:
    """IDs of the planted trans-eQTL SNPs: non-zero in any factor of the planted alpha
    (factors x SNPs)."""
    return np.asarray(truth["snp_ids"])[np.asarray(truth["alpha"]).any(axis=0)]


def ld_r2(ds: Dataset, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """r^2 over the genotyped individuals between SNPs ``rows_a`` and ``rows_b`` (rows of
    ds.snps): len(a) x len(b)."""
    def standard(rows):                                                 # people x SNPs
        return standardise(ds.dosages[np.asarray(rows, dtype=int)].astype(np.float64).T)

    return (standard(rows_a).T @ standard(rows_b) / ds.dosages.shape[1]) ** 2


def _snp_rows(ds: Dataset, ids) -> np.ndarray:
    rows = pd.Index(ds.snps["snp_id"]).get_indexer(ids)
    return rows[rows >= 0]


def planted_flags(table: pd.DataFrame, ds: Dataset, truth: dict) -> np.ndarray:
    """Per row of a trans-eQTL table: "true" (its SNP is planted), "ld_proxy" (r^2 >
    PLANTED_R2 with a planted SNP) or "false"."""
    planted = _snp_rows(ds, planted_ids(truth))
    rows = _snp_rows(ds, table["snp_id"])
    near = (ld_r2(ds, rows, planted) > PLANTED_R2).any(axis=1) if len(planted) else False
    return np.where(np.isin(rows, planted), "true", np.where(near, "ld_proxy", "false"))


def read_calls(path) -> pd.DataFrame:
    """A trans-eQTL table as written (``planted`` kept as the words true / ld_proxy /
    false)."""
    return read_table(path, dtype={"snp_id": str, "chrom": str, "planted": str})


def recovery(tables: dict[str, pd.DataFrame], ds: Dataset, truth: dict,
             fdr: float) -> pd.DataFrame:
    """Per model (its table with ``called`` and ``planted``): tested pairs, calls, planted
    SNPs, recall (planted SNPs with a called SNP that is it or has r^2 > PLANTED_R2 with
    it), precision exact and LD-aware, the FDR level and the observed FDR (1 -
    precision_ld)."""
    ids = planted_ids(truth)
    planted = _snp_rows(ds, ids)
    out = []
    for model, table in tables.items():
        calls = table[table["called"]]
        found = np.zeros(len(planted), dtype=bool)
        if len(calls) and len(planted):
            found = (ld_r2(ds, _snp_rows(ds, calls["snp_id"]), planted) > PLANTED_R2).any(0)
        n = len(calls)
        precision_ld = (calls["planted"] != "false").mean() if n else np.nan
        out.append({"model": model, "tested": len(table), "calls": n, "planted": len(ids),
                    "recall": found.sum() / len(ids) if len(ids) else np.nan,
                    "precision_exact": (calls["planted"] == "true").mean() if n else np.nan,
                    "precision_ld": precision_ld, "reported_fdr": fdr,
                    "observed_fdr": 1 - precision_ld})
    return pd.DataFrame(out)
