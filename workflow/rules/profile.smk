# Inference profile per (model, target): the architecture is the same for every intermediate
# task, so it is measured once.  A cell's profile.json joins its training cost to it.

localrules: cell_profile


rule profile:
    input:
        base=P.checkpoint_done(P.base_dir("{model}")),
        data=lambda wc: data_of(wc.model, wc.target),
    output:
        P.inference_profile("{model}", "{target}"),
    params:
        spec=json.dumps(CFG.profile, sort_keys=True),
    threads: CFG.runtime.threads
    resources:
        **GPU_RESOURCES,
    conda:
        ENV
    log:
        P.log("profile", "{model}", "{target}"),
    benchmark:
        P.benchmark("profile", "{model}", "{target}")
    shell:
        "xstilts profile --model {wildcards.model} --target {wildcards.target} > {log} 2>&1"


rule cell_profile:
    input:
        unpack(lambda wc: dict(target=cell_model_of(wc.model, wc.inter, wc.target, wc.seed),
                               inter=init_of(wc.model, wc.inter, wc.seed))),
        inference=P.inference_profile("{model}", "{target}"),
    output:
        P.cell_profile("{model}", "{inter}", "{target}", "{seed}"),
    conda:
        ENV
    log:
        P.log("cell_profile", "{model}", "{inter}", "{target}", "s{seed}"),
    benchmark:
        P.benchmark("cell_profile", "{model}", "{inter}", "{target}", "s{seed}")
    shell:
        "xstilts cell-profile --model {wildcards.model} --inter {wildcards.inter}"
        " --target {wildcards.target} --seed {wildcards.seed} > {log} 2>&1"
