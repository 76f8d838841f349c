# The simulation studies of the paper's section 3.1, on data they simulate themselves:
# Fig 2 (ML and NN generative models, each solved by ML and NN; one job per generator,
# solver, sample size and replicate) and Fig 3 (seconds per training step, Keras against
# NumPy, on the CPU and, with simulation.timing.gpu, on a GPU).

SIM = f"{R}/simulation"
TIMING = config["simulation"]["timing"]["grid"]


wildcard_constraints:
    generator="ml|nn",
    solver="ml|nn",
    size=r"\d+",
    rep=r"\d+",
    device="cpu|gpu",


rule sim_recovery:
    output:
        history=f"{SIM}/fig2/runs/{{generator}}_data_{{solver}}_solver_n{{size}}_r{{rep}}.history.tsv",
        result=f"{SIM}/fig2/runs/{{generator}}_data_{{solver}}_solver_n{{size}}_r{{rep}}.result.tsv",
    log:
        f"{R}/logs/sim_recovery/{{generator}}_{{solver}}_n{{size}}_r{{rep}}.log",
    benchmark:
        f"{R}/benchmarks/sim_recovery/{{generator}}_{{solver}}_n{{size}}_r{{rep}}.tsv"
    conda:
        ENV
    threads: config["simulation"]["threads"]
    resources:
        mem_mb=lambda wc: sim_recovery_mem_mb(int(wc.size)),
        runtime=sim_recovery_runtime,
    params:
        study=settings(StudySettings),
        init=settings(InitSettings, "for_study"),
        train=settings(TrainSettings, "for_study"),
    script:
        "../../scripts/sim_recovery.py"


rule sim_fig2:
    input:
        histories=sim_recovery_files("history"),
        results=sim_recovery_files("result"),
    output:
        runs=f"{SIM}/fig2/runs.tsv",
        finding=report(
            f"{SIM}/fig2/finding.tsv",
            caption="../report/fig2_simulation.rst",
            category="Simulation",
        ),
        png=report(
            f"{SIM}/fig2/fig2_simulation.png",
            caption="../report/fig2_simulation.rst",
            category="Simulation",
        ),
        pdf=f"{SIM}/fig2/fig2_simulation.pdf",
    log:
        f"{R}/logs/sim_fig2.log",
    benchmark:
        f"{R}/benchmarks/sim_fig2.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/sim_fig2.py"


rule sim_timing:
    output:
        timings=f"{SIM}/fig3/timing_{{device}}.tsv",
    log:
        f"{R}/logs/sim_timing/{{device}}.log",
    benchmark:
        f"{R}/benchmarks/sim_timing/{{device}}.tsv"
    conda:
        ENV
    threads: config["simulation"]["timing"]["threads"]
    resources:
        mem_mb=sim_timing_mem_mb(),
        runtime=240,  # demo: 11 s; the paper's grid (config/simulation_paper.yaml) unmeasured
        gpu=gpu_count,
        gpu_model=gpu_model,
    params:
        scales=TIMING["scales"],
        factors=TIMING["factors"],
        factor_scale=TIMING["factor_scale"],
        size_factors=TIMING["size_factors"],
        individuals=TIMING["individuals"],
        repeats=TIMING["repeats"],
    script:
        "../../scripts/sim_timing.py"


rule sim_fig3:
    input:
        timings=f"{SIM}/fig3/timing_{{device}}.tsv",
    output:
        png=report(
            f"{SIM}/fig3/fig3_timing_{{device}}.png",
            caption="../report/fig3_timing.rst",
            category="Simulation",
        ),
        pdf=f"{SIM}/fig3/fig3_timing_{{device}}.pdf",
    log:
        f"{R}/logs/sim_fig3/{{device}}.log",
    benchmark:
        f"{R}/benchmarks/sim_fig3/{{device}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/sim_fig3.py"
