# Inference profile per (model, target): the architecture is the same for every intermediate
# task, so it is measured once.  A cell's profile.json (its training cost, linking this
# profile) is written by its evaluate job.


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

