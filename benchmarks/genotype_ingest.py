"""Genotype ingest throughput: a 100,000-variant x 449-sample VCF.gz through prepare_genotypes.

Targets (issue 2): <= 30 s and <= 2 GB peak memory on 2 cores. The ingest runs in a child
process that reports its own peak RSS (VmHWM: unlike ru_maxrss it does not carry the
parent's memory over the fork). Prints one JSON line.

    python benchmarks/genotype_ingest.py [--variants 100000] [--samples 449]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from milage.sim_cohort import CHROM_LENGTHS, simulate_dosages, write_vcf


def make_vcf(path: Path, n_variants: int, n_samples: int) -> None:
    rng = np.random.default_rng(0)
    chrom = np.repeat([str(c) for c in range(1, 23)], -(-n_variants // 22))[:n_variants]
    pos = np.concatenate([np.sort(rng.choice(CHROM_LENGTHS[c], (chrom == c).sum(), replace=False))
                          + 1 for c in dict.fromkeys(chrom)])
    snps = pd.DataFrame({"chrom": chrom, "pos": pos, "snp_id": [f"rs{i}" for i in
                                                                range(n_variants)],
                         "ref": "A", "alt": "G"})
    dosages = simulate_dosages(snps, n_samples, 0.001, rng)
    write_vcf(path, snps, dosages, [f"GTEX-{i:05d}" for i in range(n_samples)])


CHILD = """
import sys, time
from milage.genotypes import prepare_genotypes
vcf, out = sys.argv[1], sys.argv[2]
start = time.perf_counter()
counts = prepare_genotypes(vcf, out + "/d.npy", out + "/s.tsv.gz", out + "/i.tsv")
seconds = time.perf_counter() - start
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")]
print(seconds, counts.kept, int(hwm[0]) / 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=449)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vcf = Path(tmp) / "bench.vcf.gz"
        make_vcf(vcf, args.variants, args.samples)
        wall = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, str(vcf), tmp], check=True,
                             capture_output=True, text=True).stdout.split()
        wall = time.perf_counter() - wall
        peak_mb = float(out[2])
        print(json.dumps({
            "benchmark": "genotype_ingest", "n_variants": args.variants,
            "n_samples": args.samples, "vcf_mb": round(vcf.stat().st_size / 2**20, 1),
            "kept": int(out[1]), "ingest_s": round(float(out[0]), 2),
            "process_wall_s": round(wall, 2),
            "variants_per_s": round(args.variants / float(out[0])),
            "peak_rss_mb": round(peak_mb), "cores": os.cpu_count(),
            "target_s": 30, "target_peak_mb": 2048}))


if __name__ == "__main__":
    main()
