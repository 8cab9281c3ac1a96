"""A logged-in doccano session: where the server is, whose credentials, and one-line errors.

Talks to doccano 1.8 through doccano-client 1.2.8 (its public calls where they suffice, its HTTP
session for the few endpoints it does not wrap well: paged lists with a page size, my-role). Every
failure becomes a :class:`DoccanoError` with a one-line message that names the cause and the fix;
credentials never appear in a message, a log line or a file. :mod:`pipeline.doccano.push` and
:mod:`pipeline.doccano.pull` work through a :class:`Session`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import netrc
import os
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

URL_ENV = "DOCCANO_URL"
USER_ENV = "DOCCANO_USER"
PASSWORD_ENV = "DOCCANO_PASSWORD"
ADMIN_USER_ENV = "DOCCANO_ADMIN_USER"
ADMIN_PASSWORD_ENV = "DOCCANO_ADMIN_PASSWORD"
NETRC_ENV = "NETRC"

PAGE = 500
CONNECT_TIMEOUT_S = 5.0
TIMEOUT_ENV = "DOCCANO_TIMEOUT"
READ_TIMEOUT_S = 30.0  # an ordinary call: a server that says nothing for this long is stuck
LONG_TIMEOUT_ENV = "DOCCANO_LONG_TIMEOUT"
LONG_READ_TIMEOUT_S = 900.0  # exports and imports run inside the request (eager celery): allow big projects
PROGRESS_EVERY_S = 10.0  # while a call waits this long, say what it waits for, and again every as long
START_HINT = "start it with 'make doccano-start' (or 'python -m pipeline doccano server start'), or set DOCCANO_URL"


log = logging.getLogger(__name__)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise DoccanoError(f"{name}={raw!r} is not a positive number of seconds")
    return value


class DoccanoError(RuntimeError):
    """A failure talking to doccano; ``str()`` is the one-line message shown to the user."""


class LoginRejected(DoccanoError):
    """doccano refused the user name or password."""


# --------------------------------------------------------------------------- settings and credentials


def default_url() -> str:
    """``$DOCCANO_URL``, else the local managed server's URL (``$DOCCANO_PORT`` or 8765)."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url.rstrip("/")
    from pipeline.doccano.server_config import DoccanoServerError, ServerConfig

    try:
        return ServerConfig().url
    except DoccanoServerError as error:
        raise DoccanoError(str(error)) from None


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    origin: str  # where they came from, for messages: never the values themselves

    def __str__(self) -> str:
        return f"{self.username} (from {self.origin})"


def resolve_credentials(url: str, environ: Mapping[str, str] | None = None) -> Credentials:
    """From ``DOCCANO_USER``/``DOCCANO_PASSWORD``, else the admin variables, else a netrc entry."""
    environ = os.environ if environ is None else environ
    for user_var, password_var in ((USER_ENV, PASSWORD_ENV), (ADMIN_USER_ENV, ADMIN_PASSWORD_ENV)):
        user, password = environ.get(user_var, ""), environ.get(password_var, "")
        if user and password:
            return Credentials(user, password, f"{user_var}/{password_var}")
        if user or password:
            missing = password_var if user else user_var
            present = user_var if user else password_var
            raise DoccanoError(f"{present} is set but {missing} is not; set both in the environment")
    host = urlparse(url).hostname or ""
    path = Path(environ.get(NETRC_ENV) or Path.home() / ".netrc").expanduser()
    if path.is_file():
        try:
            entry = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError) as error:
            line = getattr(error, "lineno", None)
            raise DoccanoError(
                f"cannot read the netrc file {path}{f' (line {line})' if line else ''}; fix its syntax or set {USER_ENV} and {PASSWORD_ENV}"
            ) from None
        if entry and entry[0] and entry[2]:
            return Credentials(entry[0], entry[2], f"netrc {path}")
    raise DoccanoError(
        f"no doccano credentials: set {USER_ENV} and {PASSWORD_ENV} (or {ADMIN_USER_ENV} and {ADMIN_PASSWORD_ENV}) "
        f"in the environment, or add 'machine {host or 'HOST'} login USER password PASSWORD' to the netrc file {path}"
    )


# --------------------------------------------------------------------------- the session


def _detail(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        data = (response.text or "").strip()
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


class Session:
    """A logged-in doccano client whose calls fail with one-line :class:`DoccanoError` messages."""

    def __init__(self, url: str, credentials: Credentials, media_dir: Path | None = None) -> None:
        from doccano_client import DoccanoClient

        self.url = url.rstrip("/")
        self.username = credentials.username
        self.media_dir = media_dir  # the local server's MEDIA_ROOT: export archives are deleted from it
        self.timeout = _seconds(TIMEOUT_ENV, READ_TIMEOUT_S)
        self.long_timeout = max(self.timeout, _seconds(LONG_TIMEOUT_ENV, LONG_READ_TIMEOUT_S))
        self._read_timeout = self.timeout
        self.client = DoccanoClient(self.url)
        self._base = self.client._base_repository  # the shared requests session (pinned client 1.2.8)
        session = self._base._session
        send = session.request

        def request(*args: Any, **kwargs: Any) -> Any:
            kwargs["timeout"] = (CONNECT_TIMEOUT_S, self._read_timeout)
            return send(*args, **kwargs)

        session.request = request  # type: ignore[method-assign]
        self._login(credentials)
        self._me: dict[str, Any] | None = None

    @contextlib.contextmanager
    def _waiting(self, what: str, timeout: float) -> Iterator[None]:
        """Say what we wait for, every PROGRESS_EVERY_S while the calls inside take that long."""
        done = threading.Event()
        started = time.monotonic()

        def report() -> None:
            while not done.wait(PROGRESS_EVERY_S):
                log.info(
                    "still waiting for doccano at %s to %s (%.0f s; gives up after %.0f s without an answer)",
                    self.url, what, time.monotonic() - started, timeout,
                )  # fmt: skip

        thread = threading.Thread(target=report, daemon=True, name="doccano-progress")
        previous, self._read_timeout = self._read_timeout, timeout
        thread.start()
        try:
            yield
        finally:
            done.set()
            self._read_timeout = previous
            thread.join()

    @contextlib.contextmanager
    def api(self, what: str, hint: str = "", *, long: bool = False) -> Iterator[None]:
        """Translate connection and HTTP errors of the calls inside into a :class:`DoccanoError`.

        ``long``: an export or import (minutes for a big project) gets the long read timeout;
        every other call the short one. Either way a wait is reported while it lasts."""
        import requests
        from doccano_client.exceptions import DoccanoAPIError

        timeout = self.long_timeout if long else self.timeout
        try:
            with self._waiting(what, timeout):
                yield
        except DoccanoAPIError as error:
            response = error.response
            status = response.status_code if response is not None else "?"
            detail = _detail(response) if response is not None else str(error)
            if not hint:
                hint = {
                    403: f"user '{self.username}' lacks the rights for this (a project admin or a staff user is needed)",
                    404: "it does not exist (any more)",
                }.get(status, "see the doccano server log")
            raise DoccanoError(f"doccano refused to {what} (HTTP {status}: {detail}); {hint}") from None
        except requests.exceptions.ConnectTimeout:
            raise DoccanoError(f"cannot reach doccano at {self.url} (no connection within {CONNECT_TIMEOUT_S:g} s); {START_HINT}") from None
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as error:
            if isinstance(error, requests.exceptions.ReadTimeout) or "timed out" in str(error).lower():
                variable = LONG_TIMEOUT_ENV if long else TIMEOUT_ENV
                raise DoccanoError(
                    f"doccano at {self.url} accepted the connection but did not answer within {timeout:g} s while trying to {what}; "
                    f"check that it is doccano and not stuck (the local server: its log .doccano/server.log, or restart it with "
                    f"'make doccano-stop' and 'make doccano-start'), or allow more time with {variable}=SECONDS"
                ) from None
            reason = "connection refused" if "refused" in str(error).lower() else type(error).__name__
            raise DoccanoError(f"cannot reach doccano at {self.url} ({reason}); {START_HINT}") from None
        except requests.exceptions.RequestException as error:
            raise DoccanoError(f"cannot talk to doccano at {self.url} ({type(error).__name__}); {START_HINT}") from None

    def _login(self, credentials: Credentials) -> None:
        from doccano_client.exceptions import DoccanoAPIError

        with self.api("log in"):
            try:
                self.client.login(username=credentials.username, password=credentials.password)
            except DoccanoAPIError as error:
                status = error.response.status_code if error.response is not None else None
                if status in (400, 401, 403):
                    raise LoginRejected(
                        f"doccano at {self.url} rejected the login of user '{credentials.username}' (wrong user name or password); "
                        f"check the credentials from {credentials.origin}"
                    ) from None
                raise

    # -- small HTTP helpers --------------------------------------------------------------------
    def get(self, resource: str, **params: Any) -> Any:
        return self._base.get(resource, params=params or None).json()

    def paged(self, resource: str, **params: Any) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self.get(resource, limit=PAGE, offset=offset, **params)
            yield from page["results"]
            offset += len(page["results"])
            if not page.get("next") or not page["results"]:
                return

    def me(self) -> dict[str, Any]:
        if self._me is None:
            with self.api("read the logged-in user"):
                self._me = self.get("me")
        return self._me

    # -- projects --------------------------------------------------------------------------------
    def find_project(self, name: str) -> dict[str, Any] | None:
        with self.api("list projects"):
            found = [p for p in self.paged("projects") if p.get("name") == name]
        if len(found) > 1:
            ids = ", ".join(str(p["id"]) for p in found)
            raise DoccanoError(f"several doccano projects are named '{name}' (ids {ids}); rename all but one in doccano")
        return found[0] if found else None

    def require_project(self, name: str) -> dict[str, Any]:
        project = self.find_project(name)
        if project is None:
            raise DoccanoError(
                f"doccano project '{name}' does not exist at {self.url} (or user '{self.username}' is not a member); "
                f"create it with 'python -m pipeline doccano push --project {quote(name)}', or check --project"
            )
        return project

    def role(self, project_id: int) -> str | None:
        if self.me().get("is_superuser"):
            return "project_admin"
        with self.api("read your role in the project"):
            try:
                return self.get(f"projects/{project_id}/my-role").get("rolename")
            except Exception as error:  # 404: not a member
                from doccano_client.exceptions import DoccanoAPIError

                if isinstance(error, DoccanoAPIError) and error.response is not None and error.response.status_code == 404:
                    return None
                raise

    def label_types(self, project_id: int, kind: str) -> dict[str, int]:
        with self.api(f"list the {kind} labels"):
            return {t.text: t.id for t in self.client.list_label_types(project_id, kind)}  # type: ignore[arg-type]

    def export(self, project_id: int, confirmed_only: bool) -> dict[str, list[dict[str, Any]]]:
        """One export of the project: username → that user's lines (each example, own labels only)."""
        what = f"export project {project_id}{' (confirmed examples)' if confirmed_only else ''}"
        with (
            self.api(what, hint="exporting needs the project_admin role; pull with a project admin's credentials", long=True),
            tempfile.TemporaryDirectory(prefix="doccano-export-") as folder,
        ):
            log.info("waiting for doccano at %s to %s", self.url, what)
            path = self.client.download(project_id, "JSONL", only_approved=confirmed_only, dir_name=folder)
            self._remove_export(path.name)
            with zipfile.ZipFile(path) as archive:
                result = {}
                for name in sorted(archive.namelist()):
                    if not name.endswith(".jsonl"):
                        continue
                    raw = archive.read(name).decode("utf-8")
                    result[Path(name).stem] = [json.loads(line) for line in raw.splitlines() if line.strip()]
        return result

    def _remove_export(self, name: str) -> None:
        """doccano keeps every export as ``MEDIA_ROOT/<uuid>.zip`` for ever; on the local server we delete ours."""
        from pipeline.doccano.server import EXPORT_ZIP

        if self.media_dir is not None and EXPORT_ZIP.fullmatch(name):
            (self.media_dir / name).unlink(missing_ok=True)

    def list_examples(self, project_id: int) -> list[dict[str, Any]]:
        with self.api("list the examples"):
            return list(self.paged(f"projects/{project_id}/examples"))


def quote(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_.:/-]+", name) else "'" + name.replace("'", "'\\''") + "'"


def local_media_dir(url: str) -> Path | None:
    """The media folder of the managed local server when ``url`` is that server, else None."""
    from pipeline.doccano.server_config import DoccanoServerError, ServerConfig

    try:
        config = ServerConfig()
    except DoccanoServerError:
        return None
    return config.data_dir / "media" if url.rstrip("/") == config.url else None


def connect(url: str | None = None, credentials: Credentials | None = None) -> Session:
    """A logged-in session from the environment (or the given URL and credentials)."""
    url = url or default_url()
    return Session(url, credentials or resolve_credentials(url), media_dir=local_media_dir(url))
