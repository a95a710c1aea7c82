# Every cell's artifacts -> parquet tables (cells, languages, jobs); then the paired bootstrap
# over the predictions -> gains, scores, efficiency, break-even.

localrules: aggregate, gains


rule aggregate:
    input:
        evals=cell_files(P.cell_eval),
        profiles=cell_files(P.cell_profile),  # written by the evaluate jobs, beside eval.json
        inference=INFERENCE_PROFILES,
        baselines=[P.baseline_eval(t) for t in TARGETS],
        labels=[f"{P.labels_dir()}/{t}" for t in TARGETS],
    output:
        [P.table(name) for name in TABLES],
    conda:
        ENV
    log:
        P.log("aggregate"),
    benchmark:
        P.benchmark("aggregate")
    shell:
        "xstilts aggregate > {log} 2>&1"


rule gains:
    input:
        tables=[P.table(name) for name in TABLES],
        predictions=cell_files(P.cell_predictions),
        labels=[f"{P.labels_dir()}/{t}" for t in CFG.targets],
        bases=[P.checkpoint_done(P.base_dir(m)) for m in CFG.models],
        code=STATS_CODE,
    output:
        [report(P.table(name), caption=f"../report/{name}.rst", category="Tables") for name in STAT_TABLES],
    params:
        stats=json.dumps(CFG.stats, sort_keys=True),
    conda:
        ENV
    log:
        P.log("gains"),
    benchmark:
        P.benchmark("gains")
    shell:
        "xstilts gains > {log} 2>&1"
