"""Command line for the local doccano server: ``python -m pipeline doccano server start|stop|status``.

Also runnable on its own: ``python -m pipeline.doccano.cli server start``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from pipeline.doccano import server as srv

app = typer.Typer(no_args_is_help=True, help="Local doccano annotation server.")
server_app = typer.Typer(no_args_is_help=True, help="Install, start, stop the local doccano server (127.0.0.1 only).")
app.add_typer(server_app, name="server")

PortOption = Annotated[
    int | None,
    typer.Option("--port", "-p", help=f"Port on 127.0.0.1 (default ${srv.PORT_ENV} or {srv.DEFAULT_PORT})."),
]
HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help=f"Server directory (default ${srv.SERVER_DIR_ENV} or <repo>/.doccano)."),
]


def _config(port: int | None, home: Path | None) -> srv.ServerConfig:
    kwargs: dict[str, object] = {}
    if port is not None:
        kwargs["port"] = port
    if home is not None:
        kwargs["home"] = home
    return srv.ServerConfig(**kwargs)  # type: ignore[arg-type]


def _setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"error: {err}", err=True)
    return typer.Exit(code=1)


@server_app.command("env")
def env_cmd(home: HomeOption = None) -> None:
    """Create or update the server's own virtual environment (idempotent)."""
    _setup_logging()
    try:
        config = _config(None, home)
        typer.echo(srv.ensure_env(config))
    except srv.DoccanoServerError as err:
        raise _fail(err) from None


@server_app.command("start")
def start_cmd(port: PortOption = None, home: HomeOption = None) -> None:
    """Install if needed, initialise on first use, start, and print the URL (idempotent)."""
    _setup_logging()
    try:
        config = _config(port, home)
        config.require_credentials()
        srv.ensure_env(config)
        typer.echo(srv.start(config))
    except srv.DoccanoServerError as err:
        raise _fail(err) from None


@server_app.command("stop")
def stop_cmd(port: PortOption = None, home: HomeOption = None) -> None:
    """Stop the server started from the server directory (idempotent)."""
    _setup_logging()
    try:
        srv.stop(_config(port, home))
    except srv.DoccanoServerError as err:
        raise _fail(err) from None


@server_app.command("status")
def status_cmd(port: PortOption = None, home: HomeOption = None) -> None:
    """Print the URL if the server answers; exit 1 if it does not."""
    try:
        state = srv.status(_config(port, home))
    except srv.DoccanoServerError as err:
        raise _fail(err) from None
    if state.running:
        typer.echo(state.url)
    else:
        typer.echo(f"not running ({state.url})", err=True)
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
