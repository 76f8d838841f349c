"""Helpers of tests/cluster/slurm.sh: write the tiny cohort's config, and compare two runs.

    python tests/cluster/compare.py config DIR      writes DIR/config.yaml (tests' tiny config)
    python tests/cluster/compare.py compare A B     A and B: results/tiny of two runs
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pandas as pd

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

# what slurm.sh asks for: the data rules, the cis stage and the PredictDB export
TARGETS = ("results/tiny/predictdb", "results/tiny/evaluation/variance_explained_cis.tsv",
           "results/tiny/evaluation/cis_vs_elastic_net.tsv")


def write_config(directory: Path) -> None:
    from test_workflow import tiny_config

    directory.mkdir(parents=True, exist_ok=True)
    tiny_config(directory, chunk_size=40)   # three cis chunks: three cis_fit_chunk jobs


def tables(db: Path) -> dict[str, pd.DataFrame]:
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: pd.read_sql_query(f"SELECT * FROM `{n}`", conn) for n in sorted(names)}


def compare(a: Path, b: Path) -> None:
    """Prepared arrays byte-equal, cis weights and evaluation tables frame-equal, every
    PredictDB database table-equal and every covariance file equal."""
    checked = 0
    for npy in sorted((a / "prepared").glob("*.npy")):
        assert npy.read_bytes() == (b / "prepared" / npy.name).read_bytes(), npy.name
        checked += 1
    for name in ("cis/weights.parquet", "cis/intercepts.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))
        checked += 1
    for name in ("evaluation/variance_explained_cis.tsv", "evaluation/cis_vs_elastic_net.tsv",
                 "evaluation/cis_r2.tsv"):
        pd.testing.assert_frame_equal(pd.read_csv(a / name, sep="\t"),
                                      pd.read_csv(b / name, sep="\t"))
        checked += 1
    dbs = sorted((a / "predictdb").glob("*.db"))
    assert dbs and [p.name for p in dbs] == sorted(p.name for p in (b / "predictdb").glob("*.db"))
    for db in dbs:
        ta, tb = tables(db), tables(b / "predictdb" / db.name)
        assert list(ta) == list(tb), db.name
        for name in ta:
            pd.testing.assert_frame_equal(ta[name], tb[name], obj=f"{db.name}:{name}")
        cov = db.with_suffix(".txt.gz")
        pd.testing.assert_frame_equal(pd.read_csv(cov, sep=r"\s+"),
                                      pd.read_csv(b / "predictdb" / cov.name, sep=r"\s+"))
        checked += 2
    print(f"compare: {checked} files equal between {a} and {b} "
          f"({len(dbs)} PredictDB databases with their covariance files)")


if __name__ == "__main__":
    if sys.argv[1] == "config":
        write_config(Path(sys.argv[2]))
    elif sys.argv[1] == "targets":
        print(" ".join(TARGETS))
    else:
        compare(Path(sys.argv[2]), Path(sys.argv[3]))
