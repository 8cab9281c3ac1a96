"""The managed local doccano server: reachable on loopback only, idempotent, clear about credentials."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.doccano import server as srv
from pipeline.doccano.cli import app
from pipeline.doccano.server_config import PASSWORD_ENV, USER_ENV, DoccanoServerError, MissingCredentialsError, ServerConfig

pytestmark = pytest.mark.doccano

LOOPBACK_HEX = "0100007F"  # 127.0.0.1 as it appears in /proc/net/tcp (little-endian)
TCP_LISTEN = "0A"


def _listeners(port: int) -> list[tuple[str, str]]:
    """(table, local address hex) of every listening TCP socket on ``port``, IPv4 and IPv6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == TCP_LISTEN and int(port_hex, 16) == port:
                found.append((table, address))
    return found


def _refused(host: str, port: int, family: socket.AddressFamily = socket.AF_INET) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect((host, port))
        except (ConnectionRefusedError, OSError):
            return True
    return False


def test_login_and_relation_project_roundtrip(doccano_server) -> None:
    from doccano_client import DoccanoClient

    assert doccano_server.url == f"http://127.0.0.1:{doccano_server.config.port}"
    client = DoccanoClient(doccano_server.url)
    client.login(username=doccano_server.username, password=doccano_server.password)
    name = f"pytest-{uuid.uuid4().hex[:8]}"
    project = client.create_project(
        name=name,
        project_type="SequenceLabeling",
        description="created by tests/doccano/test_server.py",
        use_relation=True,
    )
    try:
        fetched = client.find_project_by_id(project.id)
        assert fetched.name == name
        assert getattr(fetched.project_type, "value", fetched.project_type) == "SequenceLabeling"
        assert fetched.use_relation is True
    finally:
        client.delete_project(project.id)
    assert project.id not in {p.id for p in client.list_projects()}


def test_listens_on_loopback_only(doccano_server) -> None:
    port = doccano_server.config.port
    listeners = _listeners(port)
    assert listeners, f"no listening socket on port {port}"
    # Bound to 127.0.0.1 exactly: no 0.0.0.0 (00000000) and no IPv6 listener, so the kernel refuses
    # connections to every other address of this machine.
    assert listeners == [("/proc/net/tcp", LOOPBACK_HEX)] * len(listeners), listeners
    # A wildcard bind would also accept on other loopback addresses; a 127.0.0.1 bind does not.
    # (Deliberately no probe of the machine's non-loopback addresses: test traffic stays on loopback.)
    assert _refused("127.0.0.2", port)
    if socket.has_ipv6:
        assert _refused("::1", port, socket.AF_INET6)


def test_start_is_idempotent(doccano_server) -> None:
    before = srv.status(doccano_server.config)
    assert before.running
    started = time.monotonic()
    url = srv.start(doccano_server.config)
    elapsed = time.monotonic() - started
    after = srv.status(doccano_server.config)
    assert url == doccano_server.url
    assert elapsed < 5.0, f"second start took {elapsed:.2f} s"
    assert after.running and after.pid == before.pid
    if doccano_server.started_here:
        assert after.pid is not None


def test_cli_status_prints_url(doccano_server) -> None:
    result = CliRunner().invoke(app, ["server", "status", "--port", str(doccano_server.config.port)])
    assert result.exit_code == 0, result.output
    assert doccano_server.url in result.output


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(USER_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = ServerConfig(home=tmp_path / "doccano", port=1)
    with pytest.raises(MissingCredentialsError) as excinfo:
        srv.start(config)
    message = str(excinfo.value)
    assert USER_ENV in message and PASSWORD_ENV in message

    monkeypatch.setenv(USER_ENV, "someone")
    with pytest.raises(MissingCredentialsError, match=PASSWORD_ENV) as excinfo:
        srv.start(ServerConfig(home=tmp_path / "doccano", port=1))
    assert USER_ENV not in str(excinfo.value).split(":", 1)[1].split("(")[0]

    monkeypatch.delenv(USER_ENV)
    result = CliRunner().invoke(app, ["server", "start", "--home", str(tmp_path / "cli"), "--port", "1"])
    assert result.exit_code == 1
    assert USER_ENV in result.output and PASSWORD_ENV in result.output
    assert not (tmp_path / "cli" / "venv").exists()  # failed before installing anything


def test_tests_use_their_own_server_folder(doccano_server) -> None:
    repo = Path(__file__).resolve().parents[2]
    assert doccano_server.config.home == repo / ".doccano-test"
    assert doccano_server.config.data_dir != repo / ".doccano" / "data"


def test_start_explains_an_admin_mismatch(doccano_server) -> None:
    def config(username: str, password: str) -> ServerConfig:
        base = doccano_server.config
        return ServerConfig(home=base.home, venv=base.venv, port=base.port, username=username, password=password)

    with pytest.raises(DoccanoServerError) as excinfo:
        srv.start(config("someone-else", "whatever-but-long"))
    message = str(excinfo.value)
    assert f"doccano answers at {doccano_server.url}, but it has no user 'someone-else' (from {USER_ENV})" in message
    assert f"initialised with the admin account(s) '{doccano_server.username}'" in message
    assert "never creates another admin" in message and "DOCCANO_SERVER_DIR" in message
    with pytest.raises(DoccanoServerError, match=rf"rejected the password of admin '{doccano_server.username}' \(from {PASSWORD_ENV}\)"):
        srv.start(config(doccano_server.username, "not-the-password"))
