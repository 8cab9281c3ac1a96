"""Where and how the local doccano 1.8.4 server lives: its home directory, port and admin account.

Layout of the home directory (default ``<repo>/.doccano/``, which ignores itself through its own
``.gitignore``)::

    .doccano/
      .gitignore        "*": nothing in here is ever committed
      venv/             the server's own environment (uv venv + hashed lock server-requirements.txt)
      data/             DOCCANO_HOME: db.sqlite3, media/, secret_key, filepond-temp-uploads/
      settings/         doccano_local_settings.py (production settings + eager celery), on PYTHONPATH
      server.pid        "PID PORT" of the gunicorn master (leader of its own process group)
      server.log        output of init, createuser and gunicorn

The admin account comes from ``DOCCANO_ADMIN_USER`` / ``DOCCANO_ADMIN_PASSWORD``; the password is only
ever handed to the one ``createuser`` child process through its environment, never written to a file,
a command line or a log. :mod:`pipeline.doccano.server_env` installs the server's environment,
:mod:`pipeline.doccano.server` starts and stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"  # the only address the server is ever bound to
DEFAULT_PORT = 8765
USER_ENV = "DOCCANO_ADMIN_USER"
PASSWORD_ENV = "DOCCANO_ADMIN_PASSWORD"
PORT_ENV = "DOCCANO_PORT"
SERVER_DIR_ENV = "DOCCANO_SERVER_DIR"

REQUIREMENTS = Path(__file__).resolve().with_name("server-requirements.txt")
STAMP_NAME = ".requirements.sha256"


class DoccanoServerError(RuntimeError):
    """The local doccano server could not be installed, started or stopped."""


class MissingCredentialsError(DoccanoServerError):
    """The admin credentials are not set."""


def _repo_root() -> Path:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def _default_home() -> Path:
    override = os.environ.get(SERVER_DIR_ENV)
    return Path(override).expanduser().resolve() if override else _repo_root() / ".doccano"


def _default_port() -> int:
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise DoccanoServerError(f"{PORT_ENV}={raw!r} is not a port number") from None
    return port


def _env_or_none(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


@dataclass
class ServerConfig:
    """Where and how the local doccano server lives.

    ``venv`` defaults to ``home / "venv"``. The credentials default to the environment and are only
    required by :func:`start` (see :meth:`require_credentials`).
    """

    port: int = field(default_factory=_default_port)
    home: Path = field(default_factory=_default_home)
    venv: Path | None = None
    username: str | None = field(default_factory=lambda: _env_or_none(USER_ENV))
    password: str | None = field(default_factory=lambda: _env_or_none(PASSWORD_ENV), repr=False)
    requirements: Path = REQUIREMENTS
    workers: int = 2
    worker_timeout_s: int = 600  # eager imports run inside the request: allow big files
    start_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        self.home = Path(self.home).expanduser().resolve()
        self.venv = (self.home / "venv") if self.venv is None else Path(self.venv).expanduser().resolve()
        if not 1 <= int(self.port) <= 65535:
            raise DoccanoServerError(f"port {self.port} is out of range (set {PORT_ENV})")
        self.port = int(self.port)

    # Paths -------------------------------------------------------------------------------------
    @property
    def venv_dir(self) -> Path:
        assert self.venv is not None
        return self.venv

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def settings_dir(self) -> Path:
        return self.home / "settings"

    @property
    def pid_file(self) -> Path:
        return self.home / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    @property
    def stamp_file(self) -> Path:
        return self.venv_dir / STAMP_NAME

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def bin(self, name: str) -> Path:
        return self.venv_dir / "bin" / name

    def require_credentials(self) -> tuple[str, str]:
        missing = [name for name, value in ((USER_ENV, self.username), (PASSWORD_ENV, self.password)) if not value]
        if missing:
            raise MissingCredentialsError(
                f"doccano admin credentials missing: set {' and '.join(missing)} in the environment "
                f"(both {USER_ENV} and {PASSWORD_ENV} are needed to initialise the local doccano server)"
            )
        assert self.username and self.password
        return self.username, self.password


def _prepare_home(config: ServerConfig) -> None:
    config.home.mkdir(parents=True, exist_ok=True)
    ignore = config.home / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Local doccano server: environment, database, logs. Never committed.\n*\n")


@contextlib.contextmanager
def locked(config: ServerConfig) -> Iterator[None]:
    """Serialise install/start/stop between processes sharing one home directory."""
    _prepare_home(config)
    with open(config.home / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
