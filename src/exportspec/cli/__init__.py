"""The command-line interface: a thin click layer over the pipeline."""

from __future__ import annotations

from exportspec.cli.app import main

__all__ = ["main"]
