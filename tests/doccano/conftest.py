"""Fixtures for tests against the real local doccano server (installed and started on demand).

The tests run their own server in their own folder, ``<repo>/.doccano-test/`` (database, media,
logs, pid file; git-ignored by its own ``.gitignore``), with the test admin below, and share only
the installed server environment ``<repo>/.doccano/venv``: the user's ``.doccano/`` database and its
admin account are never touched by ``make test``. ``DOCCANO_SERVER_DIR`` points at the test folder
while the tests run, so everything that looks for "the local server" finds the test server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.doccano import server as srv
from pipeline.doccano.server_config import PASSWORD_ENV, SERVER_DIR_ENV, USER_ENV, ServerConfig
from pipeline.doccano.server_env import ensure_env

# Test-only credentials of the test server (never the user's: the test server has its own folder).
TEST_USER = "pipeline-test-admin"
TEST_PASSWORD = "pipeline-test-password-not-secret"
REPO = Path(__file__).resolve().parents[2]
TEST_HOME = REPO / ".doccano-test"
SHARED_VENV = REPO / ".doccano" / "venv"


@dataclass(frozen=True)
class DoccanoServer:
    url: str
    username: str
    password: str
    config: ServerConfig
    pid: int | None
    started_here: bool


@pytest.fixture(scope="session")
def doccano_server() -> Iterator[DoccanoServer]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(USER_ENV, TEST_USER)
        mp.setenv(PASSWORD_ENV, TEST_PASSWORD)
        mp.setenv(SERVER_DIR_ENV, str(TEST_HOME))
        config = ServerConfig(home=TEST_HOME, venv=SHARED_VENV)
        username, password = config.require_credentials()
        ensure_env(config)
        already_running = srv.status(config).running
        url = srv.start(config)
        try:
            yield DoccanoServer(
                url=url,
                username=username,
                password=password,
                config=config,
                pid=srv.status(config).pid,
                started_here=not already_running,
            )
        finally:
            if not already_running:
                srv.stop(config)


# --------------------------------------------------------------------------- push / pull fixtures


@pytest.fixture
def doccano_env(doccano_server: DoccanoServer, monkeypatch: pytest.MonkeyPatch) -> DoccanoServer:
    """The environment push and pull read: the test server's URL and its admin as the pushing account."""
    monkeypatch.setenv("DOCCANO_URL", doccano_server.url)
    monkeypatch.setenv("DOCCANO_USER", doccano_server.username)
    monkeypatch.setenv("DOCCANO_PASSWORD", doccano_server.password)
    return doccano_server


@pytest.fixture(scope="session")
def admin_session(doccano_server: DoccanoServer):
    from pipeline.doccano.session import Credentials, connect

    return connect(doccano_server.url, Credentials(doccano_server.username, doccano_server.password, "test"))


@pytest.fixture(scope="session")
def projects(admin_session) -> Iterator[Callable[[str], str]]:
    """A factory of unique project names; every project made under such a name (or given to
    ``.register``) is deleted at the end."""
    import uuid

    names: list[str] = []

    def make(prefix: str) -> str:
        name = f"pytest-{prefix}-{uuid.uuid4().hex[:8]}"
        names.append(name)
        return name

    make.register = names.append  # type: ignore[attr-defined]
    yield make
    for name in names:
        project = admin_session.find_project(name)
        if project is not None:
            admin_session.client.delete_project(project["id"])


@pytest.fixture(scope="session")
def roundtrip_workspace(tmp_path_factory: pytest.TempPathFactory):
    """The seed plus 200+ documents from ../shared/external and handcrafted texts, ingested, with a gold layer."""
    from helpers import build_documents, external_dir, write_workspace

    if not (external_dir() / "mobie-dev.jsonl.gz").is_file() or not (external_dir() / "germeval2014-dev.tsv").is_file():
        pytest.skip(f"third-party corpora not found in {external_dir()} (set CORPUS_EXTERNAL_DIR)")
    root = tmp_path_factory.mktemp("roundtrip")
    docs = build_documents(220)
    config = write_workspace(root, docs)
    return root, config, docs


@pytest.fixture(scope="session")
def small_workspace(tmp_path_factory: pytest.TempPathFactory):
    """The seed plus the handcrafted emoji/ß/CRLF/NFD texts, ingested, with a gold layer (no external data)."""
    from helpers import handcrafted, write_workspace

    root = tmp_path_factory.mktemp("small")
    docs = handcrafted()
    config = write_workspace(root, docs)
    return root, config, docs


@pytest.fixture(scope="session")
def make_user(admin_session) -> Iterator[Callable[[str], tuple[str, str]]]:
    """Create doccano users (unique names, throw-away passwords); they stay on the test server."""
    import secrets
    import uuid

    def make(prefix: str) -> tuple[str, str]:
        username = f"{prefix}-{uuid.uuid4().hex[:6]}"
        password = secrets.token_urlsafe(16)
        admin_session.client.create_user(username=username, password=password)
        return username, password

    yield make
