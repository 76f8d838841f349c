"""Test VE of cis, the planted truth and each trans model, with the default configuration,
on the simulated cohorts of :data:`milage.cohort_check.COHORTS`; the learning rate and the
alpha penalty training chose; the largest fall of training VE between epochs; and what
misses issue 16's targets. Cohorts are kept under --out (a rerun reuses their data and
cis fit).

    python benchmarks/cohorts.py [--out results/cohorts] [--working-set] [--seed N] [NAME ...]

``--working-set`` trains alpha on a working set of SNPs (``trans.train.working_set``);
``--seed`` draws other cohorts of the same shapes (kept under --out/seedN).
"""

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
import yaml

from milage.cohort_check import COHORTS, check_cohort, cohort_config, shortfalls

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(COHORTS))
    parser.add_argument("--out", default="results/cohorts")
    parser.add_argument("--working-set", action="store_true")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    tissues = pd.read_csv(REPO / "resources" / "tissues.tsv", sep="\t")
    rows = []
    for name in args.names:
        config = cohort_config(base, name)
        train = {**config["trans"]["train"], "working_set": args.working_set}
        config["trans"] = {**config["trans"], "train": train}
        if args.seed is not None:
            config["seed"] = args.seed
        directory = Path(args.out) / (f"seed{args.seed}" if args.seed is not None else "") / name
        directory.mkdir(parents=True, exist_ok=True)
        start = time.time()
        row = check_cohort(directory, config, tissues)
        models = config["trans"]["models"]
        row.update(cohort=name, seconds=round(time.time() - start),
                   misses="; ".join(shortfalls(row, models)) or "-")
        share = row["oracle"] - row["oracle_cis"]
        row.update({f"{m}_gain": (row[m] - row["cis"]) / share for m in models})
        rows.append(row)
        print(pd.Series(row).to_string(), flush=True)
    table = pd.DataFrame(rows).set_index("cohort")
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
