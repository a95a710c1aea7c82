# Toy benchmark generation, tokenizers, the tokenized cache (per tokenizer x task), gold labels.

localrules: toy_data, labels, baseline


rule toy_data:
    output:
        P.toy_manifest(),
    params:
        toy=json.dumps(CFG.raw.get("toy", {}), sort_keys=True),
    log:
        P.log("toy_data"),
    benchmark:
        P.benchmark("toy_data")
    shell:
        "{XS} toy-data > {log} 2>&1"


rule tokenizer:
    input:
        toy_inputs,
    output:
        P.tokenizer_file("{tokenizer}"),
    params:
        spec=lambda wc: json.dumps(CFG.raw["tokenizers"][wc.tokenizer], sort_keys=True),
    log:
        P.log("tokenizer", "{tokenizer}"),
    benchmark:
        P.benchmark("tokenizer", "{tokenizer}")
    shell:
        "{XS} tokenizer --name {wildcards.tokenizer} > {log} 2>&1"


rule prepare:
    input:
        toy_inputs,
        P.tokenizer_file("{tokenizer}"),
    output:
        P.data_manifest("{tokenizer}", "{task}"),
    params:
        hp=lambda wc: hp_param(wc.task, "target" if wc.task in CFG.targets else "intermediate"),
    log:
        P.log("prepare", "{tokenizer}", "{task}"),
    benchmark:
        P.benchmark("prepare", "{tokenizer}", "{task}")
    shell:
        "{XS} prepare --tokenizer {wildcards.tokenizer} --task {wildcards.task} > {log} 2>&1"


rule labels:
    input:
        toy_inputs,
    output:
        directory(f"{P.labels_dir()}/{{target}}"),
    log:
        P.log("labels", "{target}"),
    benchmark:
        P.benchmark("labels", "{target}")
    shell:
        "{XS} labels --target {wildcards.target} > {log} 2>&1"


rule baseline:
    input:
        toy_inputs,
    output:
        P.baseline_eval("{target}"),
    log:
        P.log("baseline", "{target}"),
    benchmark:
        P.benchmark("baseline", "{target}")
    shell:
        "{XS} baseline --target {wildcards.target} > {log} 2>&1"
