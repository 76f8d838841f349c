"""The MTGSEA permutation null: the vectorised kernel against a loop of gseapy calls.

Demo-shaped input: 1,900 genes with sparse, heavy-tailed loadings; 20 sets of 60 genes and
40 of 15-200 (the demo's .gmt). Times `milage.enrichment.permutation_null` (every set, a
block of permutations at once) per 1,000 permutations of one ranking, and one
`gseapy.prerank` call on a permuted ranking (what a per-permutation loop would cost; each
call is given 1 permutation of its own, the least it accepts) extrapolated to 1,000. Prints
one JSON line.

    python benchmarks/mtgsea_permutations.py [--genes 1900] [--permutations 1000] [--gseapy 20]
"""

import argparse
import json
import logging
import time

import numpy as np
import pandas as pd

from milage.enrichment import index_gene_sets, permutation_null


def demo_like(n_genes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    genes = [f"G{i:05d}" for i in range(n_genes)]
    scores = rng.standard_normal(n_genes) * (rng.random(n_genes) < 0.7) * 0.05
    module = rng.choice(n_genes, 60, replace=False)
    scores[module] = rng.choice([-1, 1], 60) * rng.uniform(0.5, 1.5, 60)
    sets = {f"MODULE_F{t:02d}": list(np.array(genes)[rng.choice(n_genes, 60, replace=False)])
            for t in range(20)}
    sets.update({f"DECOY_{d:03d}": list(rng.choice(genes, int(rng.integers(15, 200)),
                                                   replace=False)) for d in range(40)})
    return genes, scores, sets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--genes", type=int, default=1900)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--gseapy", type=int, default=20, help="gseapy calls timed")
    args = ap.parse_args()
    logging.disable(logging.INFO)
    genes, scores, sets = demo_like(args.genes)
    gene_sets = index_gene_sets(sets, genes)
    rng = np.random.default_rng(1)
    permutation_null(scores, gene_sets, 10, rng)                   # warm-up
    started = time.perf_counter()
    permutation_null(scores, gene_sets, args.permutations, rng)
    ours = (time.perf_counter() - started) * 1000 / args.permutations
    import gseapy
    started = time.perf_counter()
    for _ in range(args.gseapy):
        gseapy.prerank(pd.Series(rng.permutation(scores), index=genes), sets,
                       permutation_num=1, weight=1.0, threads=1, no_plot=True, outdir=None,
                       seed=1, verbose=False)
    loop = (time.perf_counter() - started) * 1000 / args.gseapy
    print(json.dumps({"genes": args.genes, "sets": len(gene_sets.names),
                      "set_genes": int(gene_sets.sizes.sum()),
                      "vectorised_s_per_1000": round(ours, 2),
                      "gseapy_loop_s_per_1000": round(loop, 1),
                      "speedup": round(loop / ours, 1)}))


if __name__ == "__main__":
    main()
