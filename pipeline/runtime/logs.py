"""Logging for every command: ``pipeline`` loggers at INFO, rich on a terminal, plain otherwise."""

from __future__ import annotations

import logging
import sys


def setup_logging(verbose: bool = False) -> None:
    """``pipeline`` loggers at INFO (DEBUG when verbose), rich on a terminal, plain otherwise."""
    logging.getLogger("pipeline").setLevel(logging.DEBUG if verbose else logging.INFO)
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=None, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler])
