# The paper's figures (section 3.2, Figs 4-10): one rule per figure, each writing PNG, PDF
# and the numbers behind it (TSV) to figures/; the PNGs go into `snakemake --report`.


rule fig4_training:
    input:
        histories=expand(f"{R}/trans/{{model}}/history.tsv", model=TRANS_MODELS),
        sweep=sweep_histories(),
        ve=f"{R}/evaluation/variance_explained.tsv",
    output:
        **figure_outputs("fig4_training", "fig4_training"),
    log:
        f"{R}/logs/figures/fig4_training.log",
    benchmark:
        f"{R}/benchmarks/figures/fig4_training.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(2),  # demo: 315-346 MB
        runtime=reading_runtime,
    params:
        models=TRANS_MODELS,
        penalties=config["trans"]["sweep"]["alpha_lambdas"],
    script:
        "../../scripts/fig4_training.py"


rule fig5_dendrogram:
    input:
        prepared_inputs,
        params=f"{R}/trans/{{model}}/params.npz",
        colours=TISSUES,
    output:
        **figure_outputs("fig5_wpgma_{model}", "fig5_wpgma", model="{model}"),
    log:
        f"{R}/logs/figures/fig5_wpgma_{{model}}.log",
    benchmark:
        f"{R}/benchmarks/figures/fig5_wpgma_{{model}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(2),  # demo: 315-346 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
        model="{model}",
        outlier_threshold=A["outlier_threshold"],
        seed=config["seed"],
    script:
        "../../scripts/fig5_dendrogram.py"


rule fig6_mds:
    input:
        prepared_inputs,
        params=f"{R}/trans/{{model}}/params.npz",
        colours=TISSUES,
    output:
        **figure_outputs("fig6_mds_{model}", "fig6_mds", model="{model}"),
    log:
        f"{R}/logs/figures/fig6_mds_{{model}}.log",
    benchmark:
        f"{R}/benchmarks/figures/fig6_mds_{{model}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(2),  # demo: 315-346 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
        model="{model}",
        outlier_threshold=A["outlier_threshold"],
        seed=config["seed"],
    script:
        "../../scripts/fig6_mds.py"


rule fig7_activation:
    input:
        prepared_inputs,
        params=f"{R}/trans/tm/params.npz",
    output:
        **figure_outputs("fig7_tm_activation", "fig7_tm_activation"),
    log:
        f"{R}/logs/figures/fig7_tm_activation.log",
    benchmark:
        f"{R}/benchmarks/figures/fig7_tm_activation.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(2),  # demo: 315-346 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
    script:
        "../../scripts/fig7_activation.py"


rule fig8_tm_tissues:
    input:
        prepared_inputs,
        params=f"{R}/trans/tm/params.npz",
        colours=TISSUES,
    output:
        **figure_outputs("fig8_tm_tissues", "fig8_tm_tissues"),
        linkage=f"{R}/figures/fig8_tm_tissues.linkage.tsv",
    log:
        f"{R}/logs/figures/fig8_tm_tissues.log",
    benchmark:
        f"{R}/benchmarks/figures/fig8_tm_tissues.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(2),  # demo: 315-346 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
        outlier_threshold=A["outlier_threshold"],
        seed=config["seed"],
    script:
        "../../scripts/fig8_tm_tissues.py"


rule fig9_factors:
    input:
        prepared_inputs,
        params=f"{R}/trans/{{model}}/params.npz",
    output:
        **figure_outputs("fig9_factors_{model}", "fig9_factors", model="{model}"),
    log:
        f"{R}/logs/figures/fig9_factors_{{model}}.log",
    benchmark:
        f"{R}/benchmarks/figures/fig9_factors_{{model}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(2),  # demo: 315-346 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
        model="{model}",
        n_factors=A["n_heatmap_factors"],
        alpha_epsilon=A["alpha_epsilon"],
    script:
        "../../scripts/fig9_factors.py"


rule fig10_top_tissues:
    input:
        prepared_inputs,
        params=f"{R}/trans/{{model}}/params.npz",
        colours=TISSUES,
    output:
        **figure_outputs(
            "fig10_top_tissues_{model}", "fig10_top_tissues", model="{model}"
        ),
    log:
        f"{R}/logs/figures/fig10_top_tissues_{{model}}.log",
    benchmark:
        f"{R}/benchmarks/figures/fig10_top_tissues_{{model}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(2),  # demo: 315-346 MB
        runtime=reading_runtime,
    params:
        prepared=PREP,
        model="{model}",
        n_factors=A["n_top_factors"],
        n_top=A["n_top_tissues"],
    script:
        "../../scripts/fig10_top_tissues.py"
