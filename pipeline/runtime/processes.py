"""Whether a process still runs, by its id: the doccano server's supervisor and the cache's
per-process download folders ask it of processes they did not necessarily start.

Touches no files of the project; reads ``/proc`` to tell a zombie from a running process.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own child (it is when started in this process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie, without collecting anyone's exit status
    (safe to ask in a process whose children a pool waits for)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def alive(pid: int) -> bool:
    """:func:`running`, after reaping ``pid`` if it is our own ended child (the doccano supervisor
    starts the server itself and waits for nobody else)."""
    reap(pid)
    return running(pid)
