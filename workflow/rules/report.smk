# Figures and the report read only the tables: they regenerate without retraining.  Their code
# is an input, so editing the plotting code reruns exactly these two rules.

localrules: plots, report_html


rule plots:
    input:
        tables=[P.table(name) for name in TABLES + STAT_TABLES],
        code=PLOTS_CODE,
    output:
        [report(f, caption=f"../report/{os.path.basename(f).rsplit('.', 1)[0]}.rst", category="Figures")
         for f in FIGURES],
    params:
        plots=json.dumps(CFG.plots, sort_keys=True),
    conda:
        ENV
    log:
        P.log("plots"),
    benchmark:
        P.benchmark("plots")
    shell:
        "xstilts plots > {log} 2>&1"


rule report_html:
    input:
        tables=[P.table(name) for name in TABLES + STAT_TABLES],
        figures=FIGURES,
        code=REPORT_CODE,
    output:
        report(P.report_html(), caption="../report/report_html.rst", category="Report"),
    conda:
        ENV
    log:
        P.log("report"),
    benchmark:
        P.benchmark("report")
    shell:
        "xstilts report > {log} 2>&1"
