# Intermediate-task training: one English task, or the multitask mixture; +mlm mixes in
# continued multilingual MLM, +translate adds the task's translations.


rule intermediate:
    input:
        base=P.checkpoint_done(P.base_dir("{model}")),
        data=lambda wc: [data_of(wc.model, t) for t in CFG.inter_tasks(wc.inter)],
        variant=variant_inputs,
    output:
        P.checkpoint_done(P.inter_dir("{model}", "{inter}", "{seed}")),
    wildcard_constraints:
        inter=_alt(CFG.trained_intermediates),
    params:
        hp=lambda wc: hp_param(CFG.inter_tasks(wc.inter)[0], "intermediate"),
        mix=lambda wc: mix_param(wc.inter),
    threads: CFG.runtime.threads
    resources:
        **GPU_RESOURCES,
        nproc=NPROC,
    conda:
        ENV
    log:
        P.log("intermediate", "{model}", "{inter}", "s{seed}"),
    benchmark:
        P.benchmark("intermediate", "{model}", "{inter}", "s{seed}")
    shell:
        f"{OFFLINE}{LAUNCH} intermediate --model {{wildcards.model}} --inter {{wildcards.inter}}"
        " --seed {wildcards.seed} > {log} 2>&1"
