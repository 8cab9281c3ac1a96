"""Fixtures for tests against the real local doccano server (installed and started on demand)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pipeline.doccano import server as srv

# Test-only credentials, used when the environment does not provide real ones.
TEST_USER = "pipeline-test-admin"
TEST_PASSWORD = "pipeline-test-password-not-secret"


@dataclass(frozen=True)
class DoccanoServer:
    url: str
    username: str
    password: str
    config: srv.ServerConfig
    pid: int | None
    started_here: bool


@pytest.fixture(scope="session")
def doccano_server() -> Iterator[DoccanoServer]:
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get(srv.USER_ENV):
            mp.setenv(srv.USER_ENV, TEST_USER)
        if not os.environ.get(srv.PASSWORD_ENV):
            mp.setenv(srv.PASSWORD_ENV, TEST_PASSWORD)
        config = srv.ServerConfig()
        username, password = config.require_credentials()
        srv.ensure_env(config)
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
