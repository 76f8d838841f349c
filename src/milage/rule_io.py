"""Glue between Snakemake rules and the library: logging and one-line error reports."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from milage.errors import MilageError

DEMO_FILES = {"vcf": "genotypes.vcf.gz", "gct": "expression_tpm.gct.gz",
              "attributes": "sample_attributes.tsv", "gtf": "genes.gtf",
              "gmt": "gene_sets.gmt", "truth": "truth.npz"}


def raw_inputs(config: dict, results: str) -> dict[str, object]:
    """The raw input paths of a run: the config's files, or the simulated demo's.

    Returns keys genotypes, gct, attributes, annotation, beds, gene_sets, candidates,
    covariates, truth (None without planted truth) and demo (bool).
    """
    inp = config.get("inputs") or {}
    if not inp.get("genotypes"):
        given = sorted(k for k, v in inp.items() if v)
        if given:
            raise MilageError(f"config inputs: {given} given without inputs.genotypes. Fix: name "
                              "the genotype file, or clear inputs to run the simulated demo")
        raw = f"{results}/raw"
        return {"genotypes": f"{raw}/{DEMO_FILES['vcf']}", "gct": f"{raw}/{DEMO_FILES['gct']}",
                "attributes": f"{raw}/{DEMO_FILES['attributes']}",
                "annotation": f"{raw}/{DEMO_FILES['gtf']}", "beds": {},
                "gene_sets": f"{raw}/{DEMO_FILES['gmt']}", "candidates": None,
                "covariates": {}, "truth": f"{raw}/{DEMO_FILES['truth']}", "demo": True}
    beds = inp.get("expression_beds") or {}
    if not beds and not (inp.get("expression_gct") and inp.get("sample_attributes")
                         and inp.get("gene_annotation")):
        raise MilageError("config inputs: real data needs expression_gct, sample_attributes and "
                          "gene_annotation, or expression_beds. Fix: name those files")
    return {"genotypes": inp["genotypes"], "gct": inp.get("expression_gct"),
            "attributes": inp.get("sample_attributes"), "annotation": inp.get("gene_annotation"),
            "beds": beds, "gene_sets": inp.get("gene_sets"),
            "candidates": inp.get("candidate_snps"), "covariates": inp.get("covariates") or {},
            "truth": None, "demo": False}


def run(snakemake, main: Callable) -> None:
    """Send stderr and logging to the rule's log file, then call ``main(snakemake)``.

    File descriptor 2 goes to the log too, so what compiled libraries print there (htslib's
    message on a malformed VCF record, TensorFlow's) is kept beside milage's own lines.
    A MilageError (bad input) is logged as its one-line message and exits with status 1;
    anything else keeps its traceback.
    """
    log_path = Path(snakemake.log[0])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr = open(log_path, "w", buffering=1)
    os.dup2(sys.stderr.fileno(), 2)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(snakemake)
    except MilageError as err:
        logging.getLogger("milage").error("%s", err)
        sys.exit(1)
