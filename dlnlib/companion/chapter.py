"""Figures for the book: house style, stable file names, provenance, and glue.

Every chapter creates one :class:`Chapter` from its parameters cell::

    ch = Chapter("ch02_invariants", seed=seed, n_steps=n_steps)
    fig, ax = ch.subplots()
    ...
    ch.save(fig, "drift")          # figures/ch02_invariants/drift.png + drift.json
    ch.glue("slope", 2.01, "{:.2f}")  # a number quoted in the prose, via myst-nb glue

Figures are written under ``figures/<chapter>/<name>.<ext>``: the PNG the book shows and
the PDF by default, the SVG too when asked, ``DLN_FIGURE_FORMATS=pdf,png,svg`` (see
:func:`figure_formats`; each format costs a full draw of the figure). Each file carries the provenance
(chapter, parameters, package version, git commit, date) in its metadata, as does a JSON sidecar;
the book's Figures page is generated from the sidecars.
The figure folder is ``$DLN_FIGURES_DIR`` when set (``python -m dlnlib run`` points it at
the run's output folder), else ``figures/`` at the repository root.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "agg"))
import matplotlib.pyplot as plt

from ._paths import figures_dir, repo_root

__all__ = [
    "COLUMN_WIDTH_IN",
    "HOUSE_STYLE",
    "Chapter",
    "column_figsize",
    "figure_formats",
    "figures_dir",
    "ledger_slug",
    "legibility",
    "provenance",
    "repo_root",
]

#: Width (inches) of the book's content column: figures are drawn at most this wide, so that
#: the book shows them at about 100 px per inch (the column is ~660 px wide on a 1280 px page)
#: and the house font sizes below render at >= 10 px. ``Chapter.subplots`` clamps wider figures.
COLUMN_WIDTH_IN = 6.4

HOUSE_STYLE: dict[str, Any] = {
    "figure.figsize": (COLUMN_WIDTH_IN, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    # font sizes (pt) for a figure at most COLUMN_WIDTH_IN wide: 9 pt renders at ~13 px
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "axes.linewidth": 0.8,
    "image.cmap": "viridis",
    "svg.hashsalt": "dln-companion",  # deterministic SVG ids
    "pdf.compression": 6,
}


def column_figsize(figsize: tuple[float, float] | None = None) -> tuple[float, float]:
    """Fit a figure size to the content column (:data:`COLUMN_WIDTH_IN` wide at most).

    A wider figure is narrowed to the column width; its height shrinks by the square root of
    the width ratio (multi-panel figures keep usable panels). Narrower figures are unchanged.

    Parameters
    ----------
    figsize : (float, float) or None, optional
        Requested (width, height) in inches; ``None`` gives the house default.

    Returns
    -------
    (float, float)
        The (width, height) to draw at, in inches.

    Raises
    ------
    ValueError
        If a size is not positive.
    """
    w, h = figsize if figsize is not None else HOUSE_STYLE["figure.figsize"]
    w, h = float(w), float(h)
    if not (w > 0 and h > 0):
        raise ValueError(f"figsize must be two positive numbers (inches), got {figsize!r}")
    if w <= COLUMN_WIDTH_IN:
        return (w, h)
    scale = COLUMN_WIDTH_IN / w
    return (COLUMN_WIDTH_IN, round(h * scale**0.5, 3))


def legibility(fig, png: Path | str | None = None) -> dict[str, Any]:
    """Sizes a reader needs to compute how large a figure's text renders.

    The text renders at ``min_fontsize_pt / 72 * shown_width_px / image_width_in`` pixels when
    the image is shown ``shown_width_px`` wide.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    png : path or None, optional
        The saved PNG, whose pixel width over ``savefig.dpi`` gives the saved image's width (the
        tight bounding box can differ from the figure size).

    Returns
    -------
    dict
        ``figsize_in`` (width, height), ``image_width_in`` (or the figure width without ``png``),
        ``min_fontsize_pt`` and ``min_font_text`` (a visible text at that size).
    """
    from matplotlib.text import Text

    texts = [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())
    ]
    smallest = min(texts, key=lambda t: t.get_fontsize(), default=None)
    w, h = (float(x) for x in fig.get_size_inches())
    width_in = w
    if png is not None:
        with open(png, "rb") as fh:
            header = fh.read(24)
        width_in = int.from_bytes(header[16:20], "big") / float(plt.rcParams["savefig.dpi"])
    return {
        "figsize_in": [round(w, 4), round(h, 4)],
        "image_width_in": round(width_in, 4),
        "min_fontsize_pt": None if smallest is None else round(float(smallest.get_fontsize()), 3),
        "min_font_text": None if smallest is None else smallest.get_text()[:80],
    }


ALL_FORMATS = ("pdf", "png", "svg")
"""File formats :meth:`Chapter.save` can write."""

DEFAULT_FORMATS = ("pdf", "png")
"""Formats written unless ``$DLN_FIGURE_FORMATS`` says otherwise (each format costs a full draw): the PNG the
book shows and the PDF a citing paper includes."""


def figure_formats() -> tuple[str, ...]:
    """The formats :meth:`Chapter.save` writes: ``$DLN_FIGURE_FORMATS``, else ``DEFAULT_FORMATS`` (PDF and PNG).

    ``DLN_FIGURE_FORMATS`` is a comma-separated list among ``pdf``, ``png`` and ``svg`` (e.g.
    ``DLN_FIGURE_FORMATS=pdf,png,svg python -m dlnlib execute --force`` adds the SVG files); the PNG,
    which the book shows, is always written.

    Returns
    -------
    tuple of str
        Extensions, in the order pdf, png, svg.

    Raises
    ------
    ValueError
        If ``DLN_FIGURE_FORMATS`` names another format.
    """
    env = os.environ.get("DLN_FIGURE_FORMATS", "").strip()
    if not env:
        return DEFAULT_FORMATS
    asked = {x.strip().lower().lstrip(".") for x in env.split(",") if x.strip()}
    if not asked <= set(ALL_FORMATS):
        raise ValueError(
            f"DLN_FIGURE_FORMATS must be a comma-separated list among {', '.join(ALL_FORMATS)}, got {env!r}"
        )
    return tuple(ext for ext in ALL_FORMATS if ext in asked or ext == "png")


def _settle(fig):
    """Lay ``fig`` out once and freeze the layout; returns the bounding box every file is cut to.

    ``savefig(bbox_inches="tight")`` draws a figure twice per file and its constrained layout is
    recomputed at every draw; one dry draw (no rasterization) here serves all the formats. The
    returned box (inches) is ``"tight"``'s, or ``None`` when ``savefig.bbox`` is not ``"tight"``.
    """
    fig.draw_without_rendering()
    fig.set_layout_engine("none")  # keeps the positions the layout engine just computed
    if plt.rcParams["savefig.bbox"] != "tight":
        return None
    pad = plt.rcParams["savefig.pad_inches"]
    return fig.get_tightbbox().padded(pad if isinstance(pad, (int, float)) else 0.1)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=repo_root(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "dlnlib", "book/src"],
            cwd=repo_root(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(chapter: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Provenance record: chapter, parameters, package version, git commit, date (UTC).

    The date is ``SOURCE_DATE_EPOCH`` when that environment variable is set.

    Parameters
    ----------
    chapter : str
        Chapter identifier.
    parameters : dict
        The chapter's parameters (made JSON-serializable).

    Returns
    -------
    dict
        Keys ``chapter``, ``parameters``, ``dlnlib_version``, ``git_commit``, ``date``.
    """
    from .. import __version__

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = _dt.datetime.fromtimestamp(int(epoch), _dt.UTC) if epoch else _dt.datetime.now(_dt.UTC)
    return {
        "chapter": chapter,
        "parameters": {k: _jsonable(v) for k, v in sorted(parameters.items())},
        "dlnlib_version": __version__,
        "git_commit": _git_commit(),
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item"):
        return v.item()
    return repr(v)


def ledger_slug(result: str) -> str:
    """Glue-key slug of a result's name: ``"Lemma 3.2 (ii)"`` -> ``"lemma-3-2-ii"``.

    Parameters
    ----------
    result : str
        The paper's name for a numbered result.

    Returns
    -------
    str
        Lower-case letters and digits joined by single hyphens.
    """
    return "-".join(re.findall(r"[a-z0-9]+", result.lower()))


class _Text:
    """A preformatted string whose plain-text representation has no quotes (for glue)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@dataclass
class Chapter:
    """Per-chapter helper: house style, figure saving with provenance, and glue.

    Applies the house style to matplotlib on construction.

    Parameters
    ----------
    name : str
        Chapter identifier, e.g. ``"ch01_model"`` (the notebook's file stem).
    **parameters
        The chapter's parameters (the ``parameters`` cell), recorded as provenance.

    Attributes
    ----------
    name : str
        Chapter identifier.
    parameters : dict
        The chapter's parameters.
    """

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def __init__(self, name: str, **parameters: Any) -> None:
        self.name = name
        self.parameters = parameters
        plt.rcParams.update(HOUSE_STYLE)

    @property
    def figure_folder(self) -> Path:
        """The chapter's figure folder, ``<figures>/<chapter>``."""
        return figures_dir() / self.name

    def subplots(self, *args, **kwargs):
        """Call ``matplotlib.pyplot.subplots`` with the house style and a constrained layout.

        The figure is sized for the book's content column: a ``figsize`` wider than
        :data:`COLUMN_WIDTH_IN` is narrowed by :func:`column_figsize`, so that the house font
        sizes stay legible (>= 10 px) where the book shows the figure.

        Parameters
        ----------
        *args, **kwargs
            Passed to ``matplotlib.pyplot.subplots`` (``layout`` defaults to ``"constrained"``,
            ``figsize`` is fitted to the column).

        Returns
        -------
        fig, axes
            As returned by ``matplotlib.pyplot.subplots``.
        """
        kwargs.setdefault("layout", "constrained")
        kwargs["figsize"] = column_figsize(kwargs.get("figsize"))
        return plt.subplots(*args, **kwargs)

    def save(self, fig, name: str, *, glue: bool = True) -> None:
        """Save ``fig`` as ``<figures>/<chapter>/<name>.png`` (and :func:`figure_formats`) with provenance.

        With ``glue=True`` the figure is also glued under the key ``"<chapter>-<name>"`` (no
        display), for a ``{glue:figure}`` directive that gives it a label and a caption.
        The provenance record is written to ``<name>.json`` (nothing is returned, so a
        ``ch.save(...)`` ending a cell prints nothing). The figure is laid out once for all the
        formats, then closed.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
            The figure to save.
        name : str
            File stem: letters, digits, ``-`` and ``_`` only.
        glue : bool, optional
            Keyword-only. Also glue the saved PNG.

        Raises
        ------
        ValueError
            If ``name`` has other characters, or ``$DLN_FIGURE_FORMATS`` names an unknown format.
        """
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"figure name must be alphanumeric with - or _, got {name!r}")
        formats = figure_formats()
        folder = self.figure_folder
        folder.mkdir(parents=True, exist_ok=True)
        prov = provenance(self.name, self.parameters)
        prov["figure"] = name
        prov["key"] = f"{self.name}-{name}"
        desc = json.dumps(prov, sort_keys=True)
        title = f"dln-companion {self.name}/{name}"
        metadata = {
            "png": {"Title": title, "Description": desc, "Software": "dlnlib"},
            "pdf": {"Title": title, "Subject": desc, "Creator": "dlnlib", "Keywords": prov["git_commit"]},
            "svg": {"Title": title, "Description": desc, "Creator": "dlnlib"},
        }
        bbox = _settle(fig)
        for ext in formats:
            fig.savefig(folder / f"{name}.{ext}", metadata=metadata[ext], bbox_inches=bbox)
        prov["files"] = [f"{name}.{ext}" for ext in formats]
        prov["legibility"] = legibility(fig, folder / f"{name}.png")
        (folder / f"{name}.json").write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n")
        if glue:  # glue the saved PNG itself: the book shows exactly the file a reader cites
            from IPython.display import Image

            self._glue(prov["key"], Image(filename=str(folder / f"{name}.png"), embed=True))
        plt.close(fig)

    def glue(self, key: str, value: Any, fmt: str | None = None) -> Any:
        """Glue a number or table quoted in the text (myst-nb), optionally formatted.

        Nothing is displayed; prose refers to the value as ``{glue}`<chapter>-<key>```.

        Parameters
        ----------
        key : str
            Key, glued as ``"<chapter>-<key>"``.
        value : object
            The value.
        fmt : str or None, optional
            Format string (e.g. ``"{:.2f}"``); if given, the formatted text is glued.

        Returns
        -------
        object
            ``value`` itself.
        """
        shown = _Text(fmt.format(value)) if fmt is not None else value
        self._glue(f"{self.name}-{key}", shown)
        return value

    def record(
        self,
        result: str,
        *,
        ok: bool,
        figure: Any = None,
        fmt: str = "{:.3g}",
        kind: str = "verified",
        section: str | None = None,
        how: str = "",
    ) -> bool:
        """Record the outcome of this chapter's check of a numbered result, for the Results ledger.

        The record is glued (not displayed) under ``"<chapter>-ledger-<slug>"`` as JSON text, where
        ``slug`` is :func:`ledger_slug` of ``result``; the ledger collects the records of every
        executed chapter at build time.

        Parameters
        ----------
        result : str
            The paper's name for the result, e.g. ``"Lemma 2.3"``, ``"Lemma 3.2 (ii)"``, ``"Figure 4"``.
        ok : bool
            Keyword-only. Whether the check the chapter computed passed.
        figure : float, str or None, optional
            Keyword-only. The measured number (an error, a rate, a bound), or ``None``.
        fmt : str, optional
            Keyword-only. Format of a numeric ``figure``.
        kind : {"verified", "illustrated"}, optional
            Keyword-only. What a passing check shows: a numerical verification, or an illustration.
        section : str or None, optional
            Keyword-only. MyST label of the section that holds the check (for a link).
        how : str, optional
            Keyword-only. How it was checked, in a few words (e.g. ``"flow, rtol 1e-10"``).

        Returns
        -------
        bool
            ``ok`` itself.

        Raises
        ------
        ValueError
            If ``kind`` is not ``"verified"`` or ``"illustrated"``.
        """
        if kind not in ("verified", "illustrated"):
            raise ValueError(f"kind must be 'verified' or 'illustrated', got {kind!r}")
        ok = bool(ok)
        if figure is not None and not isinstance(figure, str):
            figure = fmt.format(figure)
        payload = {
            "result": result,
            "status": kind if ok else "failed",
            "chapter": self.name,
            "section": section,
            "figure": figure,
            "how": how,
        }
        self._glue(f"{self.name}-ledger-{ledger_slug(result)}", _Text(json.dumps(payload, sort_keys=True)))
        return ok

    @staticmethod
    def _glue(key: str, value: Any) -> None:
        try:
            from myst_nb import glue as _glue
        except ImportError:  # plain Python use, outside a notebook toolchain
            return
        _glue(key, value, display=False)
