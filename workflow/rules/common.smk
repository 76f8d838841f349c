# Config validation, paths and every input function of the workflow.
import math
import os
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

from milage import resources as res
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
    """cpu, and gpu when simulation.timing.gpu is true, or auto with trans.device gpu (the
    host that plans the workflow cannot see the GPUs of the nodes that run it)."""
    gpu = config["simulation"]["timing"]["gpu"]
    wanted = gpu is True or (gpu == "auto" and config["trans"]["device"] == "gpu")
    return ["cpu", "gpu"] if wanted else ["cpu"]


def sim_recovery_runtime(wildcards):
    """Minutes: 5e-8 s per individual x SNP x epoch, the rate of the demo's 4,490-individual
    jobs (15 s for 4,490 x 500 x 150); its 449-individual jobs (10-51 s) are start-up.
    """
    f = config["simulation"]["fig2"]
    units = int(wildcards.size) * f["data"]["n_snps"] * f["train"]["max_epochs"]
    return math.ceil(res.MIN_MINUTES + units * 5e-8 / 60)


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
        [f"{R}/predicted/{config['predict']['model']}"]
        if config["predict"]["genotypes"]
        else []
    )
    recovery = (
        [f"{R}/evaluation/trans_eqtl_recovery.tsv"]
        if RAW["truth"] and t["eqtl_models"]
        else []
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
        ]
        + [f"{R}/trans/{m}/trans_eqtls.tsv" for m in t["eqtl_models"]]
        + recovery
        + sweep_histories()
        + figure_files()
        + predicted
        + tables
        + (simulation_outputs() if RAW["demo"] else [])
    )


# Resources a scheduler can use: every rule declares mem_mb (MB) and runtime (minutes).
# Those that grow with the data are computed here from the job's inputs, by the formulas of
# milage.resources (which note the measurements behind them); Snakemake evaluates them again
# once a job's inputs exist, before it submits the job.


def data_mb(input):
    """MB of a job's inputs, less the dosages (memory-mapped, read in blocks)."""
    return res.files_mb(f for f in input if not f.endswith("dosages.npy"))


def mem_per_input(per_input_mb):
    """mem_mb: 1 GB plus ``per_input_mb`` MB per MB of the job's inputs (data_mb)."""

    def mem_mb(wildcards, input, attempt):
        return res.from_inputs_mb(data_mb(input), per_input_mb, attempt)

    return mem_mb


def reading_runtime(wildcards, input):
    """runtime of a job that reads its inputs once (data_mb at 1 MB a second)."""
    return res.reading_minutes(data_mb(input))


def trans_shape():
    return res.trans_shape(PREP, f"{R}/cis/residuals.npy")


def trans_mem_mb(wildcards, attempt):
    """milage.trans_memory's estimate of the model's training, with headroom."""
    t = config["trans"]
    return res.trans_mem_mb(
        wildcards.model,
        trans_shape(),
        t["n_factors"],
        TrainSettings.from_config(config),
        attempt,
    )


def trans_runtime(wildcards):
    t = config["trans"]
    return res.trans_minutes(trans_shape(), t["n_factors"], t["train"]["max_epochs"])


def cis_shape():
    return res.cis_shape(PREP, config["cis"]["max_window_snps"])


def cis_mem_mb(wildcards, attempt):
    return res.cis_mem_mb(
        cis_shape(), res.files_mb([f"{PREP}/expression.npy"]), attempt
    )


def cis_chunk_runtime(wildcards):
    return res.cis_minutes(cis_shape(), config["cis"]["chunk_size"])


def cis_all_runtime(wildcards):
    """runtime of a per-gene fit of every gene (the elastic-net baseline)."""
    shape = cis_shape()
    return res.cis_minutes(shape, shape["n_genes"] if shape else 0)


def wants_gpu(wildcards):
    """Whether a job trains on a GPU: trans.device gpu, or the GPU job of Fig 3's timing."""
    return getattr(wildcards, "device", config["trans"]["device"]) == "gpu"


def gpu_count(wildcards):
    """Resource gpu (as the SLURM executor reads it): 1 for a GPU job, else none."""
    return 1 if wants_gpu(wildcards) else None


def gpu_model(wildcards):
    """Resource gpu_model: trans.gpu_model for a GPU job, when set."""
    return config["trans"]["gpu_model"] if wants_gpu(wildcards) else None
