# The trans models ML, NN and TM on cis residuals: initialisation and training per model,
# the alpha-initialisation penalty sweep, trans-eQTL calls tested on held-out individuals
# (and their recovery of the planted ones on a simulated cohort), evaluation of every
# model, and prediction for new genotypes.


wildcard_constraints:
    model="ml|nn|tm",


rule trans_train:
    input:
        prepared_inputs,
        residuals=f"{R}/cis/residuals.npy",
    output:
        params=f"{R}/trans/{{model}}/params.npz",
        history=f"{R}/trans/{{model}}/history.tsv",
        predictions=f"{R}/trans/{{model}}/predictions.npy",
    log:
        f"{R}/logs/trans_train/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/trans_train/{{model}}.tsv"
    priority: 1
    conda:
        ENV
    threads: config["trans"]["threads"]
    resources:
        mem_mb=trans_mem_mb,
        runtime=trans_runtime,
        gpu=gpu_count,
        gpu_model=gpu_model,
    params:
        prepared=PREP,
        init=settings(InitSettings),
        train=settings(TrainSettings),
        checkpoint=f"{R}/trans/checkpoints/{{model}}.npz",
        device=config["trans"]["device"],
    script:
        "../../scripts/trans_fit.py"


use rule trans_train as trans_sweep with:
    output:
        params=f"{R}/trans/sweep/{{model}}_{{penalty}}.params.npz",
        history=f"{R}/trans/sweep/{{model}}_{{penalty}}.history.tsv",
    log:
        f"{R}/logs/trans_sweep/{{model}}_{{penalty}}.log",
    benchmark:
        f"{R}/benchmarks/trans_sweep/{{model}}_{{penalty}}.tsv"
    params:
        prepared=PREP,
        init=lambda wc: settings(
            InitSettings,
            candidates="cis_of_active_genes",
            alpha_lambda=float(wc.penalty),
        ),
        train=settings(TrainSettings),
        checkpoint=f"{R}/trans/checkpoints/sweep_{{model}}_{{penalty}}.npz",
        device=config["trans"]["device"],


rule trans_eqtls:
    input:
        prepared_inputs,
        unpack(truth_input),
        params=f"{R}/trans/{{model}}/params.npz",
        residuals=f"{R}/cis/residuals.npy",
    output:
        eqtls=report(
            f"{R}/trans/{{model}}/trans_eqtls.tsv",
            caption="../report/trans_eqtls.rst",
            category="Tables",
            labels={"table": "trans-eQTLs", "model": "{model}"},
        ),
    log:
        f"{R}/logs/trans_eqtls/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/trans_eqtls/{{model}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(4),  # demo: 512 MB (ML, every SNP a candidate)
        runtime=reading_runtime,
    params:
        prepared=PREP,
        fdr=config["trans"]["eqtl_fdr"],
        top=config["trans"]["eqtl_top"],
    script:
        "../../scripts/trans_eqtls.py"


rule trans_eqtl_recovery:
    input:
        prepared_inputs,
        unpack(truth_input),
        tables=expand(
            f"{R}/trans/{{model}}/trans_eqtls.tsv",
            model=config["trans"]["eqtl_models"],
        ),
    output:
        report(
            f"{R}/evaluation/trans_eqtl_recovery.tsv",
            caption="../report/trans_eqtl_recovery.rst",
            category="Tables",
            labels={"table": "trans-eQTL recovery"},
        ),
    log:
        f"{R}/logs/trans_eqtl_recovery.log",
    benchmark:
        f"{R}/benchmarks/trans_eqtl_recovery.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(4),
        runtime=reading_runtime,
    params:
        prepared=PREP,
        models=config["trans"]["eqtl_models"],
        fdr=config["trans"]["eqtl_fdr"],
    script:
        "../../scripts/trans_eqtl_recovery.py"


rule evaluate:
    input:
        prepared_inputs,
        unpack(truth_input),
        cis=f"{R}/evaluation/variance_explained_cis.tsv",
        models=expand(f"{R}/trans/{{model}}/predictions.npy", model=TRANS_MODELS),
    output:
        ve=report(
            f"{R}/evaluation/variance_explained.tsv",
            caption="../report/variance_explained.rst",
            category="Tables",
            labels={"table": "variance explained"},
        ),
        tissues=f"{R}/evaluation/r2_by_tissue.tsv",
        genes=f"{R}/evaluation/r2_by_gene.tsv",
    log:
        f"{R}/logs/evaluate.log",
    benchmark:
        f"{R}/benchmarks/evaluate.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(4),  # demo: 941 MB for 200 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
        models=TRANS_MODELS,
        # written by the jobs of the predictions above; not an input, so that their
        # loadings (ML, NN at GTEx v8: beta and the dense loadings, 3.9 GB) do not count
        # in mem_mb: only a flag is read
        trans_params=expand(f"{R}/trans/{{model}}/params.npz", model=TRANS_MODELS),
    script:
        "../../scripts/evaluate.py"


rule predict:
    input:
        prepared_inputs,
        genotypes=lambda wc: config["predict"]["genotypes"],
        params=f"{R}/trans/{{model}}/params.npz",
        weights=f"{R}/cis/weights.parquet",
        intercepts=f"{R}/cis/intercepts.parquet",
    output:
        folder=directory(f"{R}/predicted/{{model}}"),
    log:
        f"{R}/logs/predict/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/predict/{{model}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=reading_runtime,
    params:
        prepared=PREP,
    script:
        "../../scripts/predict.py"
