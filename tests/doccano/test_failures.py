"""Clear failures of push and pull: one line naming the cause and the fix, exit 1, no partial file."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from helpers import read_jsonl, utf16_len
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.doccano import convert
from pipeline.doccano.cli import load_records
from pipeline.doccano.corpus import read_documents
from pipeline.doccano.pull import layer_path
from pipeline.doccano.push import push
from pipeline.doccano.session import DoccanoError
from pipeline.io.schemas import load_label_schema

pytestmark = pytest.mark.doccano


def invoke(*args: str):
    return CliRunner().invoke(app, ["doccano", *args], catch_exceptions=False)


def one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def small(small_workspace):
    root, config, _docs = small_workspace
    return root, root / "params.yaml", config


def test_server_unreachable(small, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _root, params_file, _ = small
    port = free_port()
    monkeypatch.setenv("DOCCANO_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DOCCANO_USER", "someone")
    monkeypatch.setenv("DOCCANO_PASSWORD", "not-used-but-secret")
    for command in (["push", "--project", "p"], ["pull", "--project", "p", "--out-dir", str(tmp_path)]):
        line = one_error_line(invoke(*command, "--params", str(params_file)))
        assert line.startswith(
            f"error: cannot reach doccano at http://127.0.0.1:{port} (connection refused); start it with 'make doccano-start'"
        )
        assert "not-used-but-secret" not in line
    assert files_under(tmp_path) == {}


def test_wrong_credentials(small, doccano_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _, params_file, _ = small
    monkeypatch.setenv("DOCCANO_PASSWORD", "wrong-password-xyz")
    result = invoke("pull", "--project", "p", "--out-dir", str(tmp_path), "--params", str(params_file))
    line = one_error_line(result)
    assert f"rejected the login of user '{doccano_env.username}' (wrong user name or password)" in line
    assert "DOCCANO_USER/DOCCANO_PASSWORD" in line
    assert "wrong-password-xyz" not in result.output
    assert files_under(tmp_path) == {}


def test_missing_credentials(small, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    _, params_file, _ = small
    for name in ("DOCCANO_USER", "DOCCANO_PASSWORD", "DOCCANO_ADMIN_USER", "DOCCANO_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    line = one_error_line(invoke("pull", "--project", "p", "--out-dir", str(tmp_path / "out"), "--params", str(params_file)))
    assert line.startswith("error: no doccano credentials: set DOCCANO_USER and DOCCANO_PASSWORD")
    assert not (tmp_path / "out").exists()


def test_project_missing(small, doccano_env, tmp_path: Path):
    _, params_file, _ = small
    line = one_error_line(invoke("pull", "--project", "no-such-project-4711", "--out-dir", str(tmp_path), "--params", str(params_file)))
    assert "doccano project 'no-such-project-4711' does not exist" in line
    assert "python -m pipeline doccano push --project no-such-project-4711" in line
    assert files_under(tmp_path) == {}


def test_label_in_doccano_not_in_schema(small, doccano_env, admin_session, projects, tmp_path: Path):
    _, params_file, _ = small
    project = projects("badlabel")
    assert invoke("push", "--project", project, "--params", str(params_file)).exit_code == 0
    assert invoke("pull", "--project", project, "--all", "--out-dir", str(tmp_path), "--params", str(params_file)).exit_code == 0
    before = files_under(tmp_path)
    assert before  # a good pull wrote the layer
    info = admin_session.require_project(project)
    label = admin_session.client.create_label_type(info["id"], "span", "COUNTRY")
    example = next(e for e in admin_session.list_examples(info["id"]) if e["meta"]["doc_id"] == "hand-emoji")
    end = utf16_len(example["text"])  # the final '.', outside every gold span
    admin_session.client.create_span(info["id"], example["id"], end - 1, end, label=label.id)

    line = one_error_line(invoke("pull", "--project", project, "--all", "--out-dir", str(tmp_path), "--params", str(params_file)))
    assert "span label 'COUNTRY' that is not in the label schema" in line and "rename or delete it in doccano" in line
    assert files_under(tmp_path) == before  # nothing written, not even partly


def test_upload_rejected(small, admin_session, projects, monkeypatch: pytest.MonkeyPatch):
    _, _, config = small
    schema = load_label_schema(config.schemas.labels)
    documents = read_documents(config.ingest.out_dir)
    records = load_records(config.for_stage("doccano"), ["gold"], documents, schema)
    project = projects("rejected")
    real = convert.to_doccano

    def broken(doc_id, text, record):
        line = real(doc_id, text, record)
        if doc_id == "hand-zwj":  # doccano refuses an example without text
            line.update(text="", entities=[], relations=[])
        return line

    monkeypatch.setattr(convert, "to_doccano", broken)
    with pytest.raises(DoccanoError) as excinfo:
        push(admin_session, project=project, documents=documents, records=records, schema=schema)
    message = str(excinfo.value)
    assert message.startswith("doccano rejected the upload (1 error(s), first at line") and "push again" in message and "\n" not in message
    monkeypatch.setattr(convert, "to_doccano", real)
    # pushing again completes the project without duplicating what the rejected upload did import
    report = push(admin_session, project=project, documents=documents, records=records, schema=schema)
    assert report.created == 1 and report.unchanged == len(documents) - 1
    assert len(admin_session.list_examples(report.project_id)) == len(documents)


def test_annotator_cannot_push_gold(small, doccano_env, admin_session, projects, make_user, monkeypatch):
    _root, params_file, _ = small
    project = projects("annotator")
    assert invoke("push", "--project", project, "--params", str(params_file)).exit_code == 0
    username, password = make_user("annotator")
    info = admin_session.require_project(project)
    monkeypatch.setenv("DOCCANO_USER", username)
    monkeypatch.setenv("DOCCANO_PASSWORD", password)
    line = one_error_line(invoke("push", "--project", project, "--params", str(params_file)))
    assert f"doccano project '{project}' does not exist at {doccano_env.url} or user '{username}' is not a member" in line
    admin_session.client.add_member(info["id"], username, "annotator")
    line = one_error_line(invoke("push", "--project", project, "--params", str(params_file)))
    assert f"user '{username}' is not an admin of doccano project '{project}'" in line and "--as-suggestions" in line


def test_credentials_never_reach_output_logs_or_files(small, doccano_env, projects, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    root, params_file, _ = small
    project = projects("secret")
    before = {p: p.read_bytes() for p in [params_file]}
    with caplog.at_level(logging.DEBUG):
        outputs = [
            invoke("push", "--project", project, "--params", str(params_file)),
            invoke("pull", "--project", project, "--all", "--out-dir", str(tmp_path), "--params", str(params_file)),
        ]
    assert all(r.exit_code == 0 for r in outputs), [r.output for r in outputs]
    secret = doccano_env.password
    assert all(secret not in r.output for r in outputs)
    assert secret not in caplog.text
    for folder in (root, tmp_path):
        for path, data in files_under(folder).items():
            assert secret.encode() not in data, path
    assert {p: p.read_bytes() for p in before} == before
    pulled = read_jsonl(layer_path(tmp_path, doccano_env.username, project))
    assert {r["doc_id"] for r in pulled} >= {"hand-emoji", "000_ea687b33c55d6d88"}
