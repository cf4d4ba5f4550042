"""Repository locations shared by the command line, the generated pages and the figures.

A light module (standard library only), so that ``python -m dlnlib`` does not import matplotlib
just to find the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["EXECUTED_DIR", "FIGURES_DIR", "SOURCE_DIR", "figures_dir", "repo_root"]

SOURCE_DIR = "book/src"
"""Chapter sources, relative to the repository root."""

EXECUTED_DIR = "book/chapters"
"""Executed chapters and generated pages, relative to the repository root."""

FIGURES_DIR = "figures"
"""The book's figures, relative to the repository root."""


def repo_root() -> Path:
    """The repository root (the folder holding ``_config.yml`` next to ``dlnlib/``).

    Returns
    -------
    pathlib.Path
        The folder above the ``dlnlib`` package if it holds ``_config.yml``, else the working directory.
    """
    here = Path(__file__).resolve().parents[2]
    return here if (here / "_config.yml").exists() else Path.cwd()


def figures_dir() -> Path:
    """The folder where chapters save their figures.

    Returns
    -------
    pathlib.Path
        ``$DLN_FIGURES_DIR`` if set, else ``<repository root>/figures``.
    """
    env = os.environ.get("DLN_FIGURES_DIR")
    return Path(env) if env else repo_root() / FIGURES_DIR
