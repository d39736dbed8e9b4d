"""Calibration: what recorded agent traces say about a workflow's parameters; imports only ``core``."""
