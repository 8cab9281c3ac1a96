"""Credentials for a doccano session: where they come from, and messages that never show them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.doccano.session import DoccanoError, resolve_credentials


def test_credentials_from_environment_then_admin_then_netrc(tmp_path: Path):
    env = {"DOCCANO_USER": "anna", "DOCCANO_PASSWORD": "s3cret", "DOCCANO_ADMIN_USER": "root", "DOCCANO_ADMIN_PASSWORD": "x"}
    creds = resolve_credentials("http://127.0.0.1:8765", env)
    assert creds.username == "anna" and "s3cret" not in repr(creds) and "s3cret" not in str(creds)
    assert resolve_credentials("http://127.0.0.1:8765", {"DOCCANO_ADMIN_USER": "root", "DOCCANO_ADMIN_PASSWORD": "x"}).username == "root"
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login ben password from-netrc\n")
    netrc_file.chmod(0o600)
    creds = resolve_credentials("http://127.0.0.1:8765", {"NETRC": str(netrc_file)})
    assert (creds.username, creds.password) == ("ben", "from-netrc") and "netrc" in creds.origin


def test_missing_or_half_credentials_name_the_variables(tmp_path: Path):
    with pytest.raises(DoccanoError, match="DOCCANO_PASSWORD is not"):
        resolve_credentials("http://127.0.0.1:1", {"DOCCANO_USER": "anna"})
    with pytest.raises(DoccanoError) as excinfo:
        resolve_credentials("http://127.0.0.1:1", {"NETRC": str(tmp_path / "none")})
    message = str(excinfo.value)
    assert "DOCCANO_USER" in message and "DOCCANO_PASSWORD" in message and "netrc" in message and "\n" not in message


def test_broken_netrc_is_reported_without_its_content(tmp_path: Path):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login ben password\nbogus-token-hunter2 x\n")
    with pytest.raises(DoccanoError) as excinfo:
        resolve_credentials("http://127.0.0.1:8765", {"NETRC": str(netrc_file)})
    assert "hunter2" not in str(excinfo.value)
