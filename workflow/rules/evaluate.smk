# Zero-shot evaluation of a cell in every language of its target; also the cell's training cost
# (profile.json: both phases' cost records, which the evaluated checkpoint already depends on).


rule evaluate:
    input:
        unpack(eval_inputs),
    output:
        eval=P.cell_eval("{model}", "{inter}", "{target}", "{seed}"),
        profile=P.cell_profile("{model}", "{inter}", "{target}", "{seed}"),
        predictions=directory(P.cell_predictions("{model}", "{inter}", "{target}", "{seed}")),
    params:
        opts=per_job(lambda wc: eval_param(wc.model, wc.target)),
    threads: CFG.runtime.threads
    resources:
        **EVAL_RESOURCES,  # a CPU slot when the job only adopts the target job's evaluation
    conda:
        ENV
    log:
        P.log("evaluate", "{model}", "{inter}", "{target}", "s{seed}"),
    benchmark:
        P.benchmark("evaluate", "{model}", "{inter}", "{target}", "s{seed}")
    shell:
        "xstilts evaluate --model {wildcards.model} --inter {wildcards.inter} --target {wildcards.target}"
        " --seed {wildcards.seed} > {log} 2>&1"
