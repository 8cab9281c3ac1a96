"""pipeline.runtime.processes: whether a process still runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from pipeline.runtime.processes import alive


def test_this_process_is_alive():
    assert alive(os.getpid())


def test_an_ended_child_not_yet_waited_for_is_reaped_and_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not os.path.exists(f"/proc/{child.pid}/stat"):
        time.sleep(0.01)
    while time.monotonic() < deadline and alive(child.pid):  # a zombie until reaped: alive() reaps it
        time.sleep(0.05)
    assert not alive(child.pid)


def test_a_running_child_is_alive_until_it_ends():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not alive(child.pid)
