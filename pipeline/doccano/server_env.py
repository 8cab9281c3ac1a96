"""The local doccano server's own virtual environment, built by uv from a hashed lock.

doccano 1.8.4 needs pydantic 2 while doccano-client 1.2.8 (used by the pipeline) needs pydantic 1, so the
server runs from a separate environment under its home directory (:mod:`pipeline.doccano.server_config`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipeline.doccano.server_config import DoccanoServerError, ServerConfig, locked

log = logging.getLogger(__name__)

UV_ENV = "UV"
PYTHON_VERSION = "3.11"  # the lock is compiled for it


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_uv() -> str:
    """Path of the uv binary: ``$UV`` (a path or a name on PATH), ``uv`` on PATH, or the ``uv`` module."""
    candidates: list[str] = []
    from_env = os.environ.get(UV_ENV)
    if from_env:
        found = shutil.which(from_env)
        if found:
            return found
        candidates.append(f"{UV_ENV}={from_env}")
    found = shutil.which("uv")
    if found:
        return found
    candidates.append("uv on PATH")
    try:
        import uv  # type: ignore[import-not-found,unused-ignore]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        candidates.append("the 'uv' Python module")
    raise DoccanoServerError(
        "uv is needed to build the doccano server environment but was not found "
        f"(tried {', '.join(candidates)}); install uv or set {UV_ENV}=/path/to/uv"
    )


def run(cmd: list[str], *, env: dict[str, str] | None = None, log_to: Path | None = None, what: str) -> None:
    """Run a command; on failure raise with the tail of its output (its command line holds no secret)."""
    log.debug("running %s", " ".join(cmd))
    result = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    output = (result.stdout or "") + (result.stderr or "")
    if log_to is not None:
        with open(log_to, "a", encoding="utf-8") as handle:
            handle.write(f"--- {what} ---\n{output}")
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise DoccanoServerError(f"{what} failed (exit {result.returncode}):\n{tail}")


def env_ready(config: ServerConfig) -> bool:
    """Whether the server environment exists and matches the current requirements lock."""
    try:
        stamp = config.stamp_file.read_text().strip()
    except FileNotFoundError:
        return False
    return config.bin("python").exists() and stamp == _sha256(config.requirements)


def ensure_env(config: ServerConfig) -> Path:
    """Create or update the server's virtual environment from the hashed lock; return its directory.

    Idempotent: a stamp file in the environment holds the sha256 of the lock it was synced with.
    """
    with locked(config):
        digest = _sha256(config.requirements)
        if env_ready(config):
            log.debug("doccano server environment %s is up to date", config.venv_dir)
            return config.venv_dir
        uv = find_uv()
        started = time.monotonic()
        if not config.bin("python").exists():
            log.info("creating the doccano server environment in %s", config.venv_dir)
            # The project's own interpreter when it is the right version (uv resolves a venv's python to
            # its base interpreter), so that uv never needs to find or download one.
            python = sys.executable if sys.version_info[:2] == (3, 11) else PYTHON_VERSION
            run([uv, "venv", "--quiet", "--python", python, str(config.venv_dir)], what="uv venv")
        config.stamp_file.unlink(missing_ok=True)
        log.info("installing doccano into %s from %s", config.venv_dir, config.requirements.name)
        # sync, not install: the environment ends up exactly as locked, also after the lock changed.
        # Bytecode up front (~25 s) keeps every later start fast (~2 s warm instead of ~7 s).
        run(
            [
                uv, "pip", "sync", "--quiet", "--require-hashes", "--compile-bytecode",
                "--python", str(config.bin("python")),
                str(config.requirements),
            ],
            what="uv pip sync",
        )  # fmt: skip
        config.stamp_file.write_text(digest + "\n")
        log.info("doccano server environment ready in %.1f s", time.monotonic() - started)
        return config.venv_dir
