# xstilts: English intermediate-task training (STILTs) for zero-shot cross-lingual transfer.
#   snakemake -c2                                   the embedded toy default (config/config.yaml)
#   snakemake -c2 --configfile config/paper.yaml    the real grid (XLM-R base + large)
#   snakemake --profile slurm --configfile config/paper.yaml     on a SLURM cluster
# Rules are thin: each calls one `xstilts <stage>` subcommand; all logic is in src/xstilts/.

# The embedded default, unless another full config is given (--configfile config/paper.yaml):
# Snakemake would otherwise merge the two and mix toy and real models.
if "benchmark" not in config:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/intermediate.smk"
include: "workflow/rules/target.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/profile.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        cell_files(P.cell_eval),
        cell_files(P.cell_profile),
        [P.table(name) for name in TABLES + STAT_TABLES],
        FIGURES,
        P.report_html(),
    default_target: True
