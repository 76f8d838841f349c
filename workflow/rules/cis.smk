# The cis model: group-LASSO per gene, scattered over gene chunks, then gathered and
# evaluated beside a per-tissue elastic-net baseline; PredictDB export.


rule cis_fit_chunk:
    input:
        prepared_inputs,
    output:
        weights=f"{R}/cis/chunks/{{chunk}}.weights.parquet",
        intercepts=f"{R}/cis/chunks/{{chunk}}.intercepts.parquet",
        genes=f"{R}/cis/chunks/{{chunk}}.genes.tsv",
    log:
        f"{R}/logs/cis_fit_chunk/{{chunk}}.log",
    benchmark:
        f"{R}/benchmarks/cis_fit_chunk/{{chunk}}.tsv"
    priority: 1
    conda:
        ENV
    threads: config["cis"]["threads"]
    resources:
        mem_mb=cis_mem_mb,
        runtime=cis_chunk_runtime,
    params:
        prepared=PREP,
        settings=settings(CisSettings),
    script:
        "../../scripts/cis_fit_chunk.py"


rule cis_gather:
    input:
        prepared_inputs,
        weights=lambda wc: cis_chunk_files("weights.parquet"),
        intercepts=lambda wc: cis_chunk_files("intercepts.parquet"),
        genes=lambda wc: cis_chunk_files("genes.tsv"),
    output:
        weights=f"{R}/cis/weights.parquet",
        intercepts=f"{R}/cis/intercepts.parquet",
        genes=f"{R}/cis/genes.tsv",
        predictions=f"{R}/cis/predictions.npy",
        residuals=f"{R}/cis/residuals.npy",
        r2=f"{R}/evaluation/cis_r2.tsv",
        tensorqtl_weights=f"{R}/cis/weights.tsv.gz",
        tensorqtl_r2=f"{R}/cis/test_r2.tsv.gz",
    log:
        f"{R}/logs/cis_gather.log",
    benchmark:
        f"{R}/benchmarks/cis_gather.tsv"
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(8),  # demo: 683 MB for 51 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
    script:
        "../../scripts/cis_gather.py"


rule cis_baseline:
    input:
        prepared_inputs,
    output:
        predictions=f"{R}/cis/baseline_predictions.npy",
        r2=f"{R}/evaluation/elastic_net_r2.tsv",
    log:
        f"{R}/logs/cis_baseline.log",
    benchmark:
        f"{R}/benchmarks/cis_baseline.tsv"
    conda:
        ENV
    threads: config["cis"]["threads"]
    resources:
        mem_mb=mem_per_input(8),  # demo: 1,043 MB for 51 MB
        runtime=cis_all_runtime,
    params:
        prepared=PREP,
        settings=settings(CisSettings),
    script:
        "../../scripts/cis_baseline.py"


rule evaluate_cis:
    input:
        prepared_inputs,
        unpack(truth_input),
        cis=f"{R}/cis/predictions.npy",
        baseline=f"{R}/cis/baseline_predictions.npy",
        cis_r2=f"{R}/evaluation/cis_r2.tsv",
        baseline_r2=f"{R}/evaluation/elastic_net_r2.tsv",
    output:
        ve=f"{R}/evaluation/variance_explained_cis.tsv",
        comparison=f"{R}/evaluation/cis_vs_elastic_net.tsv",
    log:
        f"{R}/logs/evaluate_cis.log",
    benchmark:
        f"{R}/benchmarks/evaluate_cis.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(4),  # demo: 731 MB for 150 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
    script:
        "../../scripts/evaluate_cis.py"


rule export_predictdb:
    input:
        prepared_inputs,
        weights=f"{R}/cis/weights.parquet",
        r2=f"{R}/evaluation/cis_r2.tsv",
    output:
        folder=directory(f"{R}/predictdb"),
    log:
        f"{R}/logs/export_predictdb.log",
    benchmark:
        f"{R}/benchmarks/export_predictdb.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(4),  # demo: 339 MB
        runtime=cis_all_runtime,  # a covariance per gene's window
    params:
        prepared=PREP,
        max_pval=config["predictdb"]["max_pval"],
        min_r2=config["predictdb"]["min_r2"],
    script:
        "../../scripts/export_predictdb.py"
