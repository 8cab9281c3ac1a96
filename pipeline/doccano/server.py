"""Start, stop and probe the local doccano server: gunicorn bound to 127.0.0.1 only.

On first start the database is initialised and the admin account created (``doccano init``,
``createuser``); every start writes the settings module and waits until doccano answers. The pid
file guards against pid reuse and against a second server from the same home directory. Every
start ends by logging the configured admin in (:func:`check_admin`): a server initialised earlier
with another admin (``make test`` once did that to the repository's own folder) is explained, not
reported as "up" to fail later at push. It is over 400 lines because start, stop, probing and
the admin check share the pid file, the lock and the settings of one lifecycle. Where the
server lives is :mod:`pipeline.doccano.server_config`; its environment, :mod:`pipeline.doccano.server_env`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.doccano.server_config import (
    HOST,
    PASSWORD_ENV,
    PORT_ENV,
    SERVER_DIR_ENV,
    USER_ENV,
    DoccanoServerError,
    ServerConfig,
    locked,
)
from pipeline.doccano.server_env import env_ready, run
from pipeline.runtime.processes import alive

log = logging.getLogger(__name__)

SETTINGS_MODULE = "doccano_local_settings"

# Variables of the caller that must not leak into the server's processes.
_SCRUBBED_ENV = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "DOCCANO_HOME",
    "MEDIA_ROOT",
    "SECRET_KEY",
    "DEBUG",
    PASSWORD_ENV,
)

SETTINGS_TEMPLATE = '''"""Written by pipeline.doccano.server on every start: do not edit.

doccano's production settings, with celery tasks (imports, exports) run eagerly inside the request,
so that no worker process and no broker are needed.
"""

import os
from pathlib import Path

from config.settings.production import *  # noqa: F401,F403

_HOME = Path(os.environ["DOCCANO_HOME"])
SECRET_KEY = (_HOME / "secret_key").read_text(encoding="utf-8").strip()
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_STORE_EAGER_RESULT = True
# By default filepond keeps its temporary uploads inside the installed package.
DJANGO_DRF_FILEPOND_UPLOAD_TMP = str(_HOME / "filepond-temp-uploads")
# ... which lies outside the backend directory: filepond refuses uploads there unless allowed.
DJANGO_DRF_FILEPOND_ALLOW_EXTERNAL_UPLOAD_DIR = True
'''


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    url: str
    pid: int | None


def _log_tail(config: ServerConfig, lines: int = 40) -> str:
    try:
        text = config.log_file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


def _backend_dir(config: ServerConfig) -> Path:
    found = sorted(config.venv_dir.glob("lib/python3*/site-packages/backend/config/wsgi.py"))
    if found:
        return found[0].parent.parent
    out = subprocess.run(
        [str(config.bin("python")), "-c", "import backend, os; print(os.path.dirname(backend.__file__))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise DoccanoServerError(f"doccano is not installed in {config.venv_dir}: {out.stderr.strip()}")
    return Path(out.stdout.strip())


def _server_env(config: ServerConfig) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    data = config.data_dir
    env.update(
        {
            "DOCCANO_HOME": str(data),
            "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
            "MEDIA_ROOT": str(data / "media"),
            "STANDALONE": "True",
            "DEBUG": "False",
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "PYTHONPATH": str(config.settings_dir),
            "PATH": f"{config.venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


EXPORT_ZIP = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.zip")
"""doccano names each export ``MEDIA_ROOT/<uuid4>.zip`` and never deletes it."""


def sweep_exports(media: Path) -> int:
    """Delete doccano's leftover export archives in ``media`` (pull removes its own; this catches
    exports made in the browser or by a killed pull). Only called while no server runs."""
    removed = 0
    for path in media.glob("*.zip"):
        if EXPORT_ZIP.fullmatch(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _write_runtime_files(config: ServerConfig) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / "media").mkdir(exist_ok=True)
    if removed := sweep_exports(config.data_dir / "media"):
        log.info("removed %d leftover export archive(s) from %s", removed, config.data_dir / "media")
    (config.data_dir / "filepond-temp-uploads").mkdir(exist_ok=True)
    secret = config.data_dir / "secret_key"
    if not secret.exists():
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
    config.settings_dir.mkdir(parents=True, exist_ok=True)
    settings = config.settings_dir / f"{SETTINGS_MODULE}.py"
    if not settings.exists() or settings.read_text(encoding="utf-8") != SETTINGS_TEMPLATE:
        settings.write_text(SETTINGS_TEMPLATE, encoding="utf-8")


# Probing -------------------------------------------------------------------------------------------
def _probe(config: ServerConfig, timeout_s: float = 2.0) -> int | None:
    """HTTP status of ``GET /v1/projects`` (403 when doccano is up), or None if nothing answers."""
    try:
        with urllib.request.urlopen(f"{config.url}/v1/projects", timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def _answering(config: ServerConfig) -> bool:
    return _probe(config) == 403


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _is_our_server(config: ServerConfig, pid: int) -> bool:
    """Guard against pid reuse: the process must be gunicorn from our server environment."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return False
    return "gunicorn" in cmdline and str(config.venv_dir) in cmdline


def _read_pid(config: ServerConfig) -> tuple[int, int | None] | None:
    """(pid, port) from the pid file, or None."""
    try:
        fields = config.pid_file.read_text().split()
        return int(fields[0]), (int(fields[1]) if len(fields) > 1 else None)
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _running(config: ServerConfig) -> tuple[int, int | None] | None:
    """(pid, port) of the live gunicorn master started from this home directory, whatever its port."""
    found = _read_pid(config)
    if found is not None and alive(found[0]) and _is_our_server(config, found[0]):
        return found
    return None


def _running_pid(config: ServerConfig) -> int | None:
    """Pid of this home's live server if it serves ``config.port``."""
    found = _running(config)
    return found[0] if found is not None and found[1] in (None, config.port) else None


# Lifecycle -----------------------------------------------------------------------------------------
def status(config: ServerConfig) -> ServerStatus:
    """Whether the server answers on its URL, and the pid of its gunicorn master if we started it."""
    return ServerStatus(running=_answering(config), url=config.url, pid=_running_pid(config))


def _initialise(config: ServerConfig, env: dict[str, str]) -> None:
    marker = config.data_dir / ".initialised"
    if marker.exists():
        return
    username, password = config.require_credentials()
    started = time.monotonic()
    log.info("initialising the doccano database in %s", config.data_dir)
    run([str(config.bin("doccano")), "init"], env=env, log_to=config.log_file, what="doccano init")
    # doccano's own `createuser` command, but with the password taken from the environment rather than
    # from the command line (which other users could read in the process table).
    create_env = dict(env, _DOCCANO_CREATEUSER_PASSWORD=password)
    script = (
        "import os, sys\n"
        "sys.argv = ['doccano', 'createuser', '--username', sys.argv[1],"
        " '--password', os.environ.pop('_DOCCANO_CREATEUSER_PASSWORD')]\n"
        "from backend.cli import main\n"
        "main()\n"
    )
    run(
        [str(config.bin("python")), "-c", script, username],
        env=create_env,
        log_to=config.log_file,
        what="doccano createuser",
    )
    marker.write_text("")
    log.info("created doccano admin %r in %.1f s", username, time.monotonic() - started)


def _admins(config: ServerConfig) -> list[str] | None:
    """The superusers in this home's database (read-only), or None when there is no readable one."""
    database = config.data_dir / "db.sqlite3"
    if not database.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            rows = connection.execute("SELECT username FROM auth_user WHERE is_superuser = 1 ORDER BY username").fetchall()
    except sqlite3.Error:
        return None
    return [row[0] for row in rows]


def check_admin(config: ServerConfig) -> None:
    """The configured admin can log in to the server answering on ``config.url``; otherwise explain why not.

    An initialised database is never initialised again, so an admin from other credentials (e.g. the
    test admin of an earlier ``make test``) is the only one there: say who is, and what to do.
    """
    from pipeline.doccano.session import Credentials, DoccanoError, LoginRejected, Session

    username, password = config.require_credentials()
    try:
        Session(config.url, Credentials(username, password, f"{USER_ENV}/{PASSWORD_ENV}"))
    except LoginRejected:
        admins = _admins(config)
        where = f"the database {config.data_dir / 'db.sqlite3'}"
        if admins is None:
            raise DoccanoServerError(
                f"doccano answers at {config.url}, but rejected the login of admin '{username}' (from {USER_ENV}/{PASSWORD_ENV}), "
                f"and it was not started from {config.home}; use that server's admin credentials, or stop it and choose another {PORT_ENV}"
            ) from None
        if username in admins:
            raise DoccanoServerError(
                f"doccano answers at {config.url}, but rejected the password of admin '{username}' (from {PASSWORD_ENV}); "
                f"set the password {where} was initialised with, or change it on doccano's Admin page"
            ) from None
        listed = ", ".join(f"'{name}'" for name in admins) or "none"
        raise DoccanoServerError(
            f"doccano answers at {config.url}, but it has no user '{username}' (from {USER_ENV}): {where} was initialised "
            f"with the admin account(s) {listed}, and a server that is already initialised never creates another admin; "
            f"use those credentials, or create '{username}' on doccano's Admin page, or start a new server in another folder "
            f"({SERVER_DIR_ENV}=… or --home)"
        ) from None
    except DoccanoError as error:
        raise DoccanoServerError(f"doccano answers at {config.url}, but logging in the admin failed: {error}") from None


def _wait_ready(config: ServerConfig, pid: int, deadline: float, *, ours: bool) -> None:
    while time.monotonic() < deadline:
        if _answering(config):
            return
        if not alive(pid):
            config.pid_file.unlink(missing_ok=True)
            raise DoccanoServerError(f"doccano server (pid {pid}) exited during start-up; log {config.log_file}:\n{_log_tail(config)}")
        time.sleep(0.25)
    if ours:
        _stop_pid(config, pid)
    raise DoccanoServerError(
        f"doccano server did not answer on {config.url} within {config.start_timeout_s:.0f} s; log {config.log_file}:\n{_log_tail(config)}"
    )


def start(config: ServerConfig) -> str:
    """Start the server unless it already answers; return its URL (``http://127.0.0.1:PORT``)."""
    config.require_credentials()
    with locked(config):
        if _answering(config):
            log.info("doccano server already running at %s", config.url)
            check_admin(config)
            return config.url
        if not env_ready(config):
            raise DoccanoServerError(
                f"the doccano server environment in {config.venv_dir} is missing or outdated: run ensure_env() first (make doccano-env)"
            )
        deadline = time.monotonic() + config.start_timeout_s
        running = _running(config)
        if running is not None:
            pid, port = running
            if port not in (None, config.port):
                raise DoccanoServerError(
                    f"the doccano server of {config.home} already runs on port {port} (pid {pid}); stop it first to move it to another port"
                )
            # started by another process and still coming up
            log.info("doccano server (pid %d) is starting, waiting for it", pid)
            _wait_ready(config, pid, deadline, ours=False)
            check_admin(config)
            return config.url
        config.pid_file.unlink(missing_ok=True)
        if not _port_free(config.port):
            raise DoccanoServerError(
                f"port {config.port} on {HOST} is in use by something that is not this doccano server "
                f"(answered {_probe(config)}); choose another port with {PORT_ENV}"
            )
        _write_runtime_files(config)
        env = _server_env(config)
        _initialise(config, env)
        cmd = [
            str(config.bin("gunicorn")),
            "--bind", f"{HOST}:{config.port}",
            "--chdir", str(_backend_dir(config)),
            "--workers", str(config.workers),
            "--timeout", str(config.worker_timeout_s),
            "--capture-output",
            "--access-logfile", "-",
            "--error-logfile", "-",
            "config.wsgi",
        ]  # fmt: skip
        log.info("starting doccano on %s (log %s)", config.url, config.log_file)
        with open(config.log_file, "a", encoding="utf-8") as log_handle:
            log_handle.write(f"--- gunicorn on {HOST}:{config.port} ---\n")
            log_handle.flush()
            process = subprocess.Popen(
                cmd,
                env=env,
                cwd=config.home,
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, detached from our terminal
                close_fds=True,
            )
        config.pid_file.write_text(f"{process.pid} {config.port}\n")
        started = time.monotonic()
        _wait_ready(config, process.pid, deadline, ours=True)
        check_admin(config)
        log.info("doccano server up at %s (pid %d) in %.1f s", config.url, process.pid, time.monotonic() - started)
        return config.url


def _stop_pid(config: ServerConfig, pid: int, grace_s: float = 20.0) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        pgid = None
    # Our gunicorn master leads its own group (start_new_session); never signal any other group.
    target = pgid if pgid == pid else None

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if target is not None:
                os.killpg(target, sig)
            else:
                os.kill(pid, sig)

    send(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        log.warning("doccano server (pid %d) ignored SIGTERM for %.0f s, killing it", pid, grace_s)
        send(signal.SIGKILL)
        while alive(pid):
            time.sleep(0.05)
    config.pid_file.unlink(missing_ok=True)


def stop(config: ServerConfig) -> bool:
    """Stop the server started from this home directory; return whether one was running."""
    with locked(config):
        running = _running(config)  # the home's server, whichever port it serves
        if running is None:
            config.pid_file.unlink(missing_ok=True)
            if _answering(config):
                log.warning("something answers on %s but was not started from %s: left alone", config.url, config.home)
            else:
                log.info("doccano server is not running")
            return False
        pid, port = running
        log.info("stopping doccano server (pid %d, port %s)", pid, port)
        _stop_pid(config, pid)
        return True
