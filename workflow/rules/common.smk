# Config validation, paths and every input function of the workflow.
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# The workflow reads its settings with the library of this checkout (scripts do the same).
sys.path.insert(0, str(Path(workflow.basedir).parent / "src"))

from milage.workflow import raw_inputs

validate(config, schema="../../config/schema.yaml")

R = f"results/{config['dataset']}"
RAW = raw_inputs(config, R)
RESOURCES = Path(workflow.basedir).parent / "resources"
PREP = f"{R}/prepared"
ENV = "../../envs/milage.yaml"


def genotype_inputs(wildcards):
    """The genotype file (with .bim/.fam beside a PLINK .bed) and the candidate list."""
    path = RAW["genotypes"]
    files = {"genotypes": path}
    if path.endswith(".bed"):
        files.update(bim=path[:-4] + ".bim", fam=path[:-4] + ".fam")
    if RAW["candidates"]:
        files["candidates"] = RAW["candidates"]
    return files


def expression_inputs(wildcards):
    """GCT, sample attributes and annotation, or the per-tissue BED files."""
    files = {"genotyped": f"{PREP}/genotyped.tsv"}
    for key in ("gct", "attributes", "annotation"):
        if RAW[key]:
            files[key] = RAW[key]
    files.update({f"bed_{i}": p for i, p in enumerate(RAW["beds"].values())})
    return files


def covariate_inputs(wildcards):
    return list(RAW["covariates"].values())


def all_outputs():
    """Every final output of the workflow for this dataset."""
    return [
        f"{PREP}/{name}"
        for name in (
            "dosages.npy",
            "snps.tsv.gz",
            "genotyped.tsv",
            "individuals.tsv",
            "expression.npy",
            "samples.tsv",
            "genes.tsv",
            "moments.tsv",
            "cis_windows.tsv",
        )
    ]
