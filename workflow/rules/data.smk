# Demo cohort and data preparation: genotypes, expression, split, normalisation, cis windows.


rule simulate_cohort:
    input:
        tissues=TISSUES,
    output:
        vcf=f"{R}/raw/genotypes.vcf.gz",
        gct=f"{R}/raw/expression_tpm.gct.gz",
        attributes=f"{R}/raw/sample_attributes.tsv",
        gtf=f"{R}/raw/genes.gtf",
        gmt=f"{R}/raw/gene_sets.gmt",
        truth=f"{R}/raw/truth.npz",
    log:
        f"{R}/logs/simulate_cohort.log",
    benchmark:
        f"{R}/benchmarks/simulate_cohort.tsv"
    priority: 1  # the demo's critical path: before the simulation studies
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,  # demo: 10 s, 985 MB
    params:
        settings=settings(SimulationSettings),
    script:
        "../../scripts/simulate_cohort.py"


rule prepare_genotypes:
    input:
        unpack(genotype_inputs),
    output:
        dosages=f"{PREP}/dosages.npy",
        snps=f"{PREP}/snps.tsv.gz",
        individuals=f"{PREP}/genotyped.tsv",
    log:
        f"{R}/logs/prepare_genotypes.log",
    benchmark:
        f"{R}/benchmarks/prepare_genotypes.tsv"
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(1),  # demo: 178 MB
        runtime=reading_runtime,
    params:
        min_maf=config["genotypes"]["min_maf"],
        snps_only=config["genotypes"]["snps_only"],
        dedupe=config["genotypes"]["dedupe"],
    script:
        "../../scripts/prepare_genotypes.py"


rule prepare_expression:
    input:
        unpack(expression_inputs),
    output:
        values=f"{R}/filtered/expression.npy",
        samples=f"{R}/filtered/samples.tsv",
        genes=f"{R}/filtered/genes.tsv",
    log:
        f"{R}/logs/prepare_expression.log",
    benchmark:
        f"{R}/benchmarks/prepare_expression.tsv"
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(8),  # demo: 366 MB for a 40 MB GCT.gz
        runtime=reading_runtime,
    params:
        settings=settings(ExpressionSettings),
        beds=RAW["beds"],
    script:
        "../../scripts/prepare_expression.py"


rule split_individuals:
    input:
        samples=f"{R}/filtered/samples.tsv",
    output:
        split=f"{PREP}/individuals.tsv",
    log:
        f"{R}/logs/split_individuals.log",
    benchmark:
        f"{R}/benchmarks/split_individuals.tsv"
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=10,
    params:
        seed=config["seed"],
        test_fraction=config["split"]["test_fraction"],
        valid_fraction=config["split"]["valid_fraction"],
    script:
        "../../scripts/split_individuals.py"


rule normalise_expression:
    input:
        values=f"{R}/filtered/expression.npy",
        samples=f"{R}/filtered/samples.tsv",
        genes=f"{R}/filtered/genes.tsv",
        split=f"{PREP}/individuals.tsv",
        covariates=covariate_inputs,
    output:
        values=f"{PREP}/expression.npy",
        samples=f"{PREP}/samples.tsv",
        genes=f"{PREP}/genes.tsv",
        moments=f"{PREP}/moments.tsv",
    log:
        f"{R}/logs/normalise_expression.log",
    benchmark:
        f"{R}/benchmarks/normalise_expression.tsv"
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(8),  # demo: 646 MB for 50 MB
        runtime=reading_runtime,
    params:
        scope=config["expression"]["zscore_scope"],
        covariates=RAW["covariates"],
    script:
        "../../scripts/normalise_expression.py"


checkpoint cis_windows:
    input:
        genes=f"{PREP}/genes.tsv",
        snps=f"{PREP}/snps.tsv.gz",
    output:
        windows=f"{PREP}/cis_windows.tsv",
    log:
        f"{R}/logs/cis_windows.log",
    benchmark:
        f"{R}/benchmarks/cis_windows.tsv"
    priority: 1
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        window=config["cis"]["window"],
    script:
        "../../scripts/cis_windows.py"
