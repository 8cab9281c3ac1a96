"""pipeline.runtime.processes: whether a process still runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipeline.runtime.processes import alive, running


def exited_child() -> subprocess.Popen:
    """A child that has exited and is a zombie: nobody has collected its exit status yet."""
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    return child


def test_this_process_is_running_and_alive():
    assert running(os.getpid()) and alive(os.getpid())


def test_a_zombie_is_not_running_and_running_leaves_its_exit_status_to_its_parent():
    child = exited_child()
    assert not running(child.pid)
    assert Path(f"/proc/{child.pid}").exists()  # not reaped
    assert child.wait(timeout=30) == 3


def test_alive_reaps_our_own_ended_child():
    child = exited_child()
    assert not alive(child.pid)
    assert not Path(f"/proc/{child.pid}").exists()  # reaped: the zombie is gone


def test_a_running_child_is_running_until_it_ends():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert running(child.pid) and alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not running(child.pid)
