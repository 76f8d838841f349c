# Config validation, paths and every input function of the workflow.
import math
import os
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from snakemake.utils import min_version, validate

min_version("9.0")

# milage comes from this workflow's own src/ when it has one (a clone, or a module on a local
# path; found from this file, not from the Snakefile that uses the module), else from the
# installed package. The jobs' scripts get the same through PYTHONPATH (their conda
# environments hold milage's dependencies, not milage).
RULES_DIR = workflow.current_basedir  # a local folder, or a URL for a remote module
SRC = Path(RULES_DIR).parents[1] / "src" if isinstance(RULES_DIR, os.PathLike) else None
if SRC and SRC.is_dir():
    sys.path.insert(0, str(SRC))
    os.environ.update(
        PYTHONPATH=os.pathsep.join(
            filter(None, (str(SRC), os.environ.get("PYTHONPATH")))
        )
    )

import yaml

from milage.config import check_config
from milage.errors import MilageError
from milage.rule_io import raw_inputs
from milage.settings import (
    CisSettings,
    ExpressionSettings,
    InitSettings,
    SimulationSettings,
    StudySettings,
    TrainSettings,
)

# one line naming the key and its allowed values; then Snakemake's validate fills defaults
SCHEMA = workflow.source_path("../../config/schema.yaml")
check_config(config, yaml.safe_load(Path(SCHEMA).read_text()))
validate(config, schema=SCHEMA)

R = f"results/{config['dataset']}"
RAW = raw_inputs(config, R)
# the tissue table (names, planted groups, colours) shipped with the workflow
TISSUES = workflow.source_path("../../resources/tissues.tsv")
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


PREPARED = (
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


def prepared_inputs(wildcards):
    return [f"{PREP}/{name}" for name in PREPARED]


def truth_input(wildcards):
    return {"truth": RAW["truth"]} if RAW["truth"] else {}


def gene_set_input(wildcards):
    """The .gmt of the enrichment tables (the demo writes its own)."""
    if not RAW["gene_sets"]:
        raise MilageError(
            "config inputs.gene_sets: the enrichment tables need a .gmt file. Fix: name "
            "one (e.g. from MSigDB, gene symbols), or do not ask for results/*/tables/"
        )
    return RAW["gene_sets"]


def settings(cls, build="from_config", **overrides):
    """A milage.settings class built from the config (as a dict: rule params stay plain
    data, which scripts turn back into the class)."""
    return asdict(replace(getattr(cls, build)(config), **overrides))


def cis_chunk_files(suffix):
    """The files of every cis chunk (the gene count is known once cis_windows has run)."""
    windows = checkpoints.cis_windows.get().output.windows
    n_chunks = math.ceil(
        len(pd.read_csv(windows, sep="\t")) / config["cis"]["chunk_size"]
    )
    return [f"{R}/cis/chunks/{chunk}.{suffix}" for chunk in range(n_chunks)]


TRANS_MODELS = config["trans"]["models"]
A = config["analysis"]


def permutation_files(model):
    n = config["trans"]["permutations"]
    return [f"{R}/trans/permutations/{model}_{p}.params.npz" for p in range(n)]


def sweep_histories():
    """The training histories of the alpha-initialisation penalty sweep (Fig 4)."""
    sweep = config["trans"]["sweep"]
    return [
        f"{R}/trans/sweep/{sweep['model']}_{penalty}.history.tsv"
        for penalty in sweep["alpha_lambdas"]
    ]


def figure_files():
    """The PNG of every figure (their PDF and TSV come with them)."""
    figures = ["fig4_training"]
    for model in A["cluster_models"]:
        if model in TRANS_MODELS:
            figures += [f"fig5_wpgma_{model}", f"fig6_mds_{model}"]
    if "tm" in TRANS_MODELS:
        figures += ["fig7_tm_activation", "fig8_tm_tissues"]
    if A["factor_model"] in TRANS_MODELS:
        model = A["factor_model"]
        figures += [f"fig9_factors_{model}", f"fig10_top_tissues_{model}"]
    return [f"{R}/figures/{name}.png" for name in figures]


def figure_outputs(name, caption, **labels):
    """PNG (in the report, with its caption), PDF and TSV of one figure."""
    return {
        "png": report(
            f"{R}/figures/{name}.png",
            caption=f"../report/{caption}.rst",
            category="Figures",
            labels={"figure": caption.split("_")[0], **labels},
        ),
        "pdf": f"{R}/figures/{name}.pdf",
        "tsv": f"{R}/figures/{name}.tsv",
    }


def sim_recovery_files(kind):
    """One file per (generator, solver, sample size, replicate) of Fig 2."""
    f = config["simulation"]["fig2"]
    return expand(
        f"{R}/simulation/fig2/runs/{{generator}}_data_{{solver}}_solver_n{{size}}_r{{rep}}.{kind}.tsv",
        generator=["ml", "nn"],
        solver=["ml", "nn"],
        size=f["sizes"],
        rep=range(f["replicates"]),
    )


def sim_recovery_mem_mb(n_individuals):
    """Genotypes in float32 and float64 copies (simulation, standardising, LASSO init)."""
    return (
        1000
        + n_individuals * config["simulation"]["fig2"]["data"]["n_snps"] * 32 // 10**6
    )


def sim_timing_mem_mb():
    """The largest step of the grid: genotypes, residuals, parameters, NumPy temporaries."""
    g = config["simulation"]["timing"]["grid"]
    s = max(g["scales"] + [g["factor_scale"]])
    t = max(g["factors"] + [g["size_factors"]])
    snps, genes = 2_445_192 * s, 19_425 * s * 28
    return int(1000 + 4 * 6 * g["individuals"] * (snps + genes) * t / 40 / 10**6)


def sim_devices():
    """cpu, and gpu when simulation.timing.gpu is true, or auto with nvidia-smi on PATH."""
    gpu = config["simulation"]["timing"]["gpu"]
    visible = gpu == "auto" and shutil.which("nvidia-smi") is not None
    return ["cpu", "gpu"] if gpu is True or visible else ["cpu"]


def simulation_outputs():
    """Fig 2 with its finding table, and Fig 3 per device."""
    fig2 = [
        f"{R}/simulation/fig2/{name}" for name in ("finding.tsv", "fig2_simulation.png")
    ]
    fig3 = [f"{R}/simulation/fig3/fig3_timing_{d}.png" for d in sim_devices()]
    return fig2 + fig3


def all_outputs():
    """The paper's analysis of this dataset; on the demo (no inputs) also the simulation
    studies, which do not read the dataset (their own target: rule simulation)."""
    t = config["trans"]
    predicted = (
        [f"{R}/predicted/{t['eqtl_model']}"] if config["predict"]["genotypes"] else []
    )
    tables = (
        [f"{R}/tables/table1_overlap.tsv", f"{R}/tables/table2_mtgsea.tsv"]
        if RAW["gene_sets"]
        else []
    )
    return (
        prepared_inputs(None)
        + [
            f"{R}/evaluation/variance_explained.tsv",
            f"{R}/evaluation/cis_vs_elastic_net.tsv",
            f"{R}/predictdb",
            f"{R}/trans/{t['eqtl_model']}/trans_eqtls.tsv",
        ]
        + sweep_histories()
        + figure_files()
        + predicted
        + tables
        + (simulation_outputs() if RAW["demo"] else [])
    )
