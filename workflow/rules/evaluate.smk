# Zero-shot evaluation of a cell in every language of its target.


rule evaluate:
    input:
        unpack(lambda wc: dict(model=cell_model_of(wc.model, wc.inter, wc.target, wc.seed),
                               data=data_of(wc.model, wc.target))),
    output:
        eval=P.cell_eval("{model}", "{inter}", "{target}", "{seed}"),
        predictions=directory(P.cell_predictions("{model}", "{inter}", "{target}", "{seed}")),
    params:
        opts=lambda wc: eval_param(wc.model, wc.target),
    threads: CFG.runtime.threads
    resources:
        **GPU_RESOURCES,
    conda:
        ENV
    log:
        P.log("evaluate", "{model}", "{inter}", "{target}", "s{seed}"),
    benchmark:
        P.benchmark("evaluate", "{model}", "{inter}", "{target}", "s{seed}")
    shell:
        "xstilts evaluate --model {wildcards.model} --inter {wildcards.inter} --target {wildcards.target}"
        " --seed {wildcards.seed} > {log} 2>&1"
