# The pretrained encoder: toy MLM pretraining (toy) or a Hub snapshot (real).


rule base:
    input:
        toy_inputs,
        prefetch_inputs,
        lambda wc: P.tokenizer_file(CFG.tokenizer_of(wc.model)),
    output:
        P.checkpoint_done(P.base_dir("{model}")),
    params:
        spec=lambda wc: json.dumps([CFG.model(wc.model), CFG.mlm(wc.model), CFG.toy_world], sort_keys=True),
    threads: CFG.runtime.threads
    resources:
        **GPU_RESOURCES,
    conda:
        ENV
    log:
        P.log("base", "{model}"),
    benchmark:
        P.benchmark("base", "{model}")
    shell:
        f"{OFFLINE}xstilts base --model {{wildcards.model}} > {{log}} 2>&1"
