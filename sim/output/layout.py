"""What a run folder holds: the names of its files, in one place for the module that writes a folder
(:mod:`sim.output.rundir`) and the one that reads it back (:mod:`sim.output.report`)."""

SUMMARY_FILE = "summary.json"  # the JSON contract: costsim run --format json
TASKS_FILE = "tasks.csv"  # one row per task per alternative (tasks.csv.gz when compressed)
PLOT_FILE = "cost-per-task.png"  # the cost distribution (and cost-per-task.svg beside it)
WORKFLOW_FILE = "workflow.yaml"  # the workflow as run, copied into the run folder
REPORT_FILE = "report.html"  # the HTML report (costsim report, or costsim run --report)
