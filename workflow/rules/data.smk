# Toy benchmark generation, tokenizers, the tokenized cache (per tokenizer x task), gold labels.

localrules: toy_data, labels, baseline, prefetch


rule prefetch:
    output:
        PREFETCH_MANIFEST,
    params:
        plan=lambda wc: json.dumps(prefetch_plan(CFG).to_json(), sort_keys=True),
    conda:
        ENV
    log:
        P.log("prefetch"),
    shell:
        "env -u HF_HUB_OFFLINE -u HF_DATASETS_OFFLINE -u TRANSFORMERS_OFFLINE xstilts prefetch > {log} 2>&1"


rule toy_data:
    output:
        P.toy_manifest(),
    params:
        toy=json.dumps(CFG.toy, sort_keys=True),
    conda:
        ENV
    log:
        P.log("toy_data"),
    benchmark:
        P.benchmark("toy_data")
    shell:
        "xstilts toy-data > {log} 2>&1"


rule tokenizer:
    input:
        toy_inputs,
        prefetch_inputs,
    output:
        P.tokenizer_file("{tokenizer}"),
    params:
        spec=lambda wc: json.dumps(CFG.tokenizer(wc.tokenizer), sort_keys=True),
    conda:
        ENV
    log:
        P.log("tokenizer", "{tokenizer}"),
    benchmark:
        P.benchmark("tokenizer", "{tokenizer}")
    shell:
        f"{OFFLINE}xstilts tokenizer --name {{wildcards.tokenizer}} > {{log}} 2>&1"


rule prepare:
    input:
        toy_inputs,
        prefetch_inputs,
        P.tokenizer_file("{tokenizer}"),
        mirror=mirror_inputs,
    output:
        P.data_manifest("{tokenizer}", "{task}"),
    params:
        settings=lambda wc: prepare_param(wc.task),
    conda:
        ENV
    log:
        P.log("prepare", "{tokenizer}", "{task}"),
    benchmark:
        P.benchmark("prepare", "{tokenizer}", "{task}")
    shell:
        f"{OFFLINE}xstilts prepare --tokenizer {{wildcards.tokenizer}} --task {{wildcards.task}} > {{log}} 2>&1"


rule mlm_corpus:
    input:
        mlm_corpus_inputs,
        P.tokenizer_file("{tokenizer}"),
    output:
        P.manifest_file(P.mlm_corpus_dir("{tokenizer}")),
    params:
        settings=lambda wc: json.dumps(CFG.mlm_corpus_settings(), sort_keys=True),
    conda:
        ENV
    log:
        P.log("mlm_corpus", "{tokenizer}"),
    benchmark:
        P.benchmark("mlm_corpus", "{tokenizer}")
    shell:
        "xstilts mlm-corpus --tokenizer {wildcards.tokenizer} > {log} 2>&1"


rule translate_data:
    input:
        translate_inputs,
        P.tokenizer_file("{tokenizer}"),
    output:
        P.manifest_file(P.translate_dir("{tokenizer}", "{task}")),
    wildcard_constraints:
        task=_alt(CFG.translated_tasks()),
    params:
        settings=lambda wc: json.dumps(CFG.translate_settings(wc.task), sort_keys=True),
    conda:
        ENV
    log:
        P.log("translate_data", "{tokenizer}", "{task}"),
    benchmark:
        P.benchmark("translate_data", "{tokenizer}", "{task}")
    shell:
        "xstilts translate-data --tokenizer {wildcards.tokenizer} --task {wildcards.task} > {log} 2>&1"


rule labels:
    input:
        toy_inputs,
        mirror=mirror_inputs,
    output:
        directory(f"{P.labels_dir()}/{{target}}"),
    conda:
        ENV
    log:
        P.log("labels", "{target}"),
    benchmark:
        P.benchmark("labels", "{target}")
    shell:
        "xstilts labels --target {wildcards.target} > {log} 2>&1"


rule baseline:
    input:
        toy_inputs,
        mirror=mirror_inputs,
    output:
        P.baseline_eval("{target}"),
    conda:
        ENV
    log:
        P.log("baseline", "{target}"),
    benchmark:
        P.benchmark("baseline", "{target}")
    shell:
        "xstilts baseline --target {wildcards.target} > {log} 2>&1"
