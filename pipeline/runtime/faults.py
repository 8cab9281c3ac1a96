"""Fault injection for the crash tests: a named checkpoint where the process kills itself.

``checkpoint(switch, name)`` sends SIGKILL to the running process when the environment variable
``switch`` equals ``name`` — exactly what ``kill -9`` at that moment would do — so a test can
stop a command between any two of its steps and check that the next run recovers. Unset, a
checkpoint costs one environment lookup.
"""

from __future__ import annotations

import os
import signal


def checkpoint(switch: str, name: str) -> None:
    """SIGKILL this process if ``$switch == name``."""
    if os.environ.get(switch) == name:
        os.kill(os.getpid(), signal.SIGKILL)
