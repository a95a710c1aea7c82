# Every cell's artifacts -> parquet tables (cells, languages, jobs).

localrules: aggregate


rule aggregate:
    input:
        evals=cell_files(P.cell_eval),
        profiles=cell_files(P.cell_profile),
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
