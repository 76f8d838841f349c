# The paper's enrichment tables (section 3.2.4) for one trained model: Table 1, overlaps of
# each tissue's top factor genes with the gene sets; Table 2, MTGSEA with its permutation null.
# Without a .gmt (real data, inputs.gene_sets empty) the tables are not part of `all`.


rule enrichment_tables:
    input:
        prepared_inputs,
        params=f"{R}/trans/{config['enrichment']['model']}/params.npz",
        gmt=gene_set_input,
    output:
        overlap=report(
            f"{R}/tables/table1_overlap.tsv",
            caption="../report/table1_overlap.rst",
            category="Tables",
            labels={"table": "Table 1: overlap enrichment"},
        ),
        mtgsea=report(
            f"{R}/tables/table2_mtgsea.tsv",
            caption="../report/table2_mtgsea.rst",
            category="Tables",
            labels={"table": "Table 2: MTGSEA"},
        ),
    log:
        f"{R}/logs/enrichment_tables.log",
    benchmark:
        f"{R}/benchmarks/enrichment_tables.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_per_input(4),  # demo: 481 MB
        runtime=60,  # demo: 23 s (1,000 permutations)
    params:
        prepared=PREP,
        gene_key=config["enrichment"]["gene_key"],
        top_genes=config["enrichment"]["top_genes"],
        pairs=config["enrichment"]["pairs"],
        directions=config["enrichment"]["directions"],
        permutations=config["enrichment"]["permutations"],
        fdr=config["enrichment"]["fdr"],
        weight=config["enrichment"]["weight"],
        min_size=config["enrichment"]["min_size"],
        max_size=config["enrichment"]["max_size"],
        seed=config["seed"],
    script:
        "../../scripts/enrichment_tables.py"
