# emoverify: face verification with expression-label geometric constraints.
# `snakemake --cores all` runs the default (demo) study; README.md lists the presets.


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/faces.smk"
include: "workflow/rules/labels.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/splits.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tuning.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


# every output stays under results/<experiment>/
LAYOUT.check_inside(study.rule_outputs(workflow.rules))


onstart:
    runlock.claim(LAYOUT.run_holder)
    if scheduling.drop_local_rate_limit(workflow):
        print(scheduling.NOTICE, file=sys.stderr)


onsuccess:
    runlock.release(LAYOUT.run_holder)


onerror:
    runlock.release(LAYOUT.run_holder)


rule all:
    default_target: True
    input:
        rules.report.input,
