"""The exported PredictDB models read as MetaXcan (hakyimlab/MetaXcan, software/metax)
reads them: its SQL statements, and its parsing of S-PrediXcan's covariance file."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd

# metax/PredictionModel.py and metax/WeightDBUtilities.py
WEIGHTS_SQL = "SELECT rsid, gene, weight, ref_allele, eff_allele FROM weights"
EXTRA_SQL = ("SELECT gene, genename, `n.snps.in.model`, `pred.perf.R2`, `pred.perf.pval`, "
             "`pred.perf.qval` FROM extra")


def read_model(db) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The weights and extra tables of a PredictDB file, by MetaXcan's statements."""
    with sqlite3.connect(db) as conn:
        return pd.read_sql_query(WEIGHTS_SQL, conn), pd.read_sql_query(EXTRA_SQL, conn)


def read_covariance(path) -> dict[str, pd.DataFrame]:
    """Per gene, its SNPs' covariance matrix (SNP IDs as index and columns), as
    metax/MatrixManager.py builds it: whitespace-separated, genes contiguous, no duplicated
    row, each listed pair mirrored."""
    d = pd.read_table(path, sep=r"\s+")
    assert list(d.columns) == ["GENE", "RSID1", "RSID2", "VALUE"]
    runs = d["GENE"].ne(d["GENE"].shift()).cumsum()
    assert runs.groupby(d["GENE"]).nunique().le(1).all(), "a gene's rows are not contiguous"
    assert not d.duplicated().any()
    out = {}
    for gene, rows in d.groupby("GENE", sort=False):
        ids = list(dict.fromkeys(rows["RSID1"]).keys() | set(rows["RSID2"]))
        m = pd.DataFrame(np.nan, index=ids, columns=ids)
        for a, b, v in rows[["RSID1", "RSID2", "VALUE"]].itertuples(index=False):
            m.loc[a, b] = m.loc[b, a] = float(v)
        out[gene] = m
    return out
