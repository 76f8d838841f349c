# The trans models ML, NN and TM on cis residuals: initialisation and training per model,
# the alpha-initialisation penalty sweep, the permutation control for trans-eQTL calls,
# evaluation of every model, and prediction for new genotypes.


wildcard_constraints:
    model="ml|nn|tm",
    perm=r"\d+",


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
        permute_seed=None,
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
        permute_seed=None,
        device=config["trans"]["device"],


use rule trans_train as trans_permutation with:
    output:
        params=f"{R}/trans/permutations/{{model}}_{{perm}}.params.npz",
        history=f"{R}/trans/permutations/{{model}}_{{perm}}.history.tsv",
    log:
        f"{R}/logs/trans_permutation/{{model}}_{{perm}}.log",
    benchmark:
        f"{R}/benchmarks/trans_permutation/{{model}}_{{perm}}.tsv"
    params:
        prepared=PREP,
        init=settings(InitSettings),
        train=settings(TrainSettings),
        checkpoint=f"{R}/trans/checkpoints/permutation_{{model}}_{{perm}}.npz",
        permute_seed=lambda wc: 1000 * config["seed"] + int(wc.perm),
        device=config["trans"]["device"],


rule trans_eqtls:
    input:
        prepared_inputs,
        params=f"{R}/trans/{{model}}/params.npz",
        permuted=lambda wc: permutation_files(wc.model),
    output:
        eqtls=report(
            f"{R}/trans/{{model}}/trans_eqtls.tsv",
            caption="../report/trans_eqtls.rst",
            category="Tables",
            labels={"table": "trans-eQTLs", "model": "{model}"},
        ),
        fdr=f"{R}/trans/{{model}}/trans_eqtl_fdr.tsv",
    log:
        f"{R}/logs/trans_eqtls/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/trans_eqtls/{{model}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(4),  # demo: 118 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
        top=config["trans"]["eqtl_top"],
    script:
        "../../scripts/trans_eqtls.py"


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
