"""Wall time and peak memory of the data rules on the default demo (target: <= 60 s).

Runs `snakemake --cores N --until cis_windows` (simulation and data preparation only) with
config/config.yaml in a temporary folder and reads each rule's Snakemake benchmark file.
Prints one JSON line.

    python benchmarks/demo_data_rules.py [--cores 2]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow/Snakefile"),
                        "--configfile", str(REPO / "config/config.yaml"), "--cores",
                        str(args.cores), "--until", "cis_windows", "--directory", tmp, "-q"],
                       check=True, cwd=tmp,
                       capture_output=True)
        wall = time.perf_counter() - start
        rules = {p.stem: pd.read_csv(p, sep="\t").iloc[0]
                 for p in sorted(Path(tmp).glob("results/*/benchmarks/*.tsv"))}
    print(json.dumps({
        "benchmark": "demo_data_rules", "cores": args.cores, "wall_s": round(wall, 1),
        "rule_s": {k: round(float(v["s"]), 2) for k, v in rules.items()},
        "peak_rss_mb": round(max(float(v["max_rss"]) for v in rules.values())),
        "peak_rule": max(rules, key=lambda k: float(rules[k]["max_rss"])), "target_s": 60}))


if __name__ == "__main__":
    main()
