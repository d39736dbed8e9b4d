"""A module for a fork server to preload in tests/test_signals.py: at import, in the fork server, it writes how
SIGINT is handled there to the file named by COSTSIM_TEST_PROBE (nothing when the variable is unset)."""

import os
import signal
from pathlib import Path

if os.environ.get("COSTSIM_TEST_PROBE"):
    Path(os.environ["COSTSIM_TEST_PROBE"]).write_text(repr(signal.getsignal(signal.SIGINT)))
