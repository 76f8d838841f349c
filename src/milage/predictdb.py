"""Export of cis weights as PredictDB-format SQLite databases (one per tissue), the format
that PrediXcan, S-PrediXcan and MetaXcan read."""

from __future__ import annotations

import contextlib
import os
import sqlite3

import pandas as pd

from milage.cis import CIS_FIX
from milage.files import atomic_output
from milage.guards import check_table


def write_predictdb(path: str | os.PathLike, weights: pd.DataFrame, snps: pd.DataFrame,
                    genes: pd.DataFrame, performance: pd.DataFrame) -> None:
    """Write one tissue's model.

    weights : gene_id, snp_id, weight (this tissue's non-zero weights)
    snps : snp_id, chrom, pos, ref, alt (alt is the counted, effect allele)
    genes : gene_id, gene_name
    performance : gene_id, r2, pvalue (held-out performance of this tissue's predictions)
    """
    check_table(weights, "weight", f"weights for {path}", {"gene": "gene_id", "SNP": "snp_id"},
                CIS_FIX)
    w = weights.merge(snps, on="snp_id", how="left", validate="m:1")
    table = pd.DataFrame({
        "gene": w["gene_id"], "rsid": w["snp_id"],
        "varID": "chr" + w["chrom"].astype(str) + "_" + w["pos"].astype(str) + "_" + w["ref"]
        + "_" + w["alt"] + "_b38",
        "ref_allele": w["ref"], "eff_allele": w["alt"], "weight": w["weight"]})
    n_snps = table.groupby("gene").size().rename("n.snps.in.model")
    extra = (genes[genes["gene_id"].isin(n_snps.index)]
             .merge(performance, on="gene_id", how="left")
             .rename(columns={"gene_id": "gene", "gene_name": "genename", "r2": "pred.perf.R2",
                              "pvalue": "pred.perf.pval"}))
    extra = extra.join(n_snps, on="gene")[["gene", "genename", "n.snps.in.model",
                                           "pred.perf.R2", "pred.perf.pval"]]
    with atomic_output(path) as tmp, contextlib.closing(sqlite3.connect(tmp)) as db:
        table.to_sql("weights", db, index=False)
        extra.to_sql("extra", db, index=False)
        db.execute("CREATE INDEX weights_rsid ON weights (rsid)")
        db.execute("CREATE INDEX weights_gene ON weights (gene)")
        db.execute("CREATE INDEX extra_gene ON extra (gene)")
        db.commit()
