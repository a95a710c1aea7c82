# Target-task training on the English training set (early stopping on English dev only).


rule target:
    input:
        # one input function per rule: Snakemake's cost is per function and job
        unpack(per_job(lambda wc: dict(init=init_of(wc.model, wc.inter, wc.seed), data=data_of(wc.model, wc.target)))),
    output:
        P.checkpoint_done(P.cell_model_dir("{model}", "{inter}", "{target}", "{seed}")),
    params:
        hp=per_job(lambda wc: hp_param(wc.target, "target")),
    threads: CFG.runtime.threads
    resources:
        **GPU_RESOURCES,
        nproc=NPROC,
    conda:
        ENV
    log:
        P.log("target", "{model}", "{inter}", "{target}", "s{seed}"),
    benchmark:
        P.benchmark("target", "{model}", "{inter}", "{target}", "s{seed}")
    shell:
        f"{OFFLINE}{LAUNCH} target --model {{wildcards.model}} --inter {{wildcards.inter}} --target {{wildcards.target}}"
        " --seed {wildcards.seed} > {log} 2>&1"
