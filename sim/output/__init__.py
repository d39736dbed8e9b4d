"""What people read: the run folder, tables, CSV, plots and the HTML report. The only layer below the CLI
that imports rich or matplotlib.
"""
