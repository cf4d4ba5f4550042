"""Generated book pages: the execution report and the Figures page (with citations).

The Figures page is assembled from two sources of truth: the ``{glue:figure}`` directives of
the executed chapters (label and caption, as the reader sees them) and the JSON provenance
sidecars written by :meth:`dlnlib.companion.chapter.Chapter.save` (files, parameters, commit, date).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ._paths import EXECUTED_DIR, FIGURES_DIR

__all__ = ["figure_entries", "glued_text", "write_execution_report", "write_figures_page"]

_GLUE_FIG = re.compile(
    r"```\{glue:figure\}\s+(?P<key>\S+)\s*\n(?P<opts>(?::[\w-]+:[^\n]*\n)*)\s*(?P<caption>.*?)```",
    re.DOTALL,
)


def figure_entries(root: Path) -> list[dict]:
    """Every captioned figure of the executed chapters, with its provenance record.

    Parameters
    ----------
    root : pathlib.Path
        Repository root (reads ``book/chapters/ch*.ipynb`` and ``figures/``).

    Returns
    -------
    list of dict
        One per ``{glue:figure}`` directive, with keys ``key``, ``label``, ``caption``,
        ``chapter``, ``name`` and ``provenance`` (the JSON sidecar, or ``None`` if missing).
    """
    entries = []
    for nb_path in sorted((root / EXECUTED_DIR).glob("ch*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        glued = glued_text(nb)
        for cell in nb["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for m in _GLUE_FIG.finditer("".join(cell["source"])):
                key = m["key"]
                opts = dict(re.findall(r":([\w-]+):\s*(.*)", m["opts"]))
                chapter, _, name = key.partition("-")
                side = root / FIGURES_DIR / chapter / f"{name}.json"
                prov = json.loads(side.read_text()) if side.exists() else None
                entries.append(
                    {
                        "key": key,
                        "label": opts.get("name", "").strip(),
                        "caption": _resolve_glue(" ".join(m["caption"].split()), glued),
                        "chapter": chapter,
                        "name": name,
                        "provenance": prov,
                    }
                )
    return entries


def glued_text(nb: dict) -> dict[str, str]:
    """Plain-text values glued in an executed notebook (myst-nb's ``scrapbook`` metadata).

    Parameters
    ----------
    nb : dict
        The executed notebook, as parsed JSON or an ``nbformat`` notebook node.

    Returns
    -------
    dict of str to str
        The ``text/plain`` representation of each glued value, by glue key (values glued
        without a plain-text representation are left out).
    """
    out = {}
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            scrap = o.get("metadata", {}).get("scrapbook", {})
            name = scrap.get("name")
            text = o.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if name and text is not None:
                out[name] = "".join(text) if isinstance(text, list) else text
    return out


def _resolve_glue(text: str, glued: dict[str, str]) -> str:
    """Replace ``{glue}`key``` references by their values (the Figures page is another document)."""

    def sub(m: re.Match) -> str:
        key, _, fmt = m["ref"].partition(":")
        value = glued.get(key)
        if value is None:
            return m[0]
        if fmt:
            try:
                return format(float(value), fmt)
            except ValueError:
                return value
        return value

    return re.sub(r"\{glue(?::text)?\}`(?P<ref>[^`]+)`", sub, text)


def _plain_caption(caption: str) -> str:
    """Caption without MyST roles (for the plain-text citation)."""
    text = re.sub(r"\{[\w:]+\}`([^`<]*?)(?:<[^>]*>)?`", r"\1", caption)
    return text.replace("$", "")


def write_figures_page(root: Path, out: Path) -> None:
    """Write ``figures.md``: each figure's label, caption, downloads and a citation.

    Parameters
    ----------
    root : pathlib.Path
        Repository root (see :func:`figure_entries`).
    out : pathlib.Path
        Output markdown file.
    """
    rel = Path(os.path.relpath(root / FIGURES_DIR, out.parent))
    lines = [
        "(figures-page)=",
        "# Figures",
        "",
        "Every figure of the book, with its label, caption, files and a ready-to-paste citation. Files are",
        "written under stable names, `figures/<chapter>/<name>.png` (also `.pdf` and `.svg` when the book is",
        "executed with `DLN_FIGURE_FORMATS=pdf,png,svg`); each file carries its",
        "provenance (chapter, parameters, package version, git commit, date) in its metadata, and the",
        "`.json` file beside it holds the same record.",
        "",
    ]
    entries = figure_entries(root)
    if not entries:
        lines.append("No figures yet: run `make book`.")
    for e in entries:
        prov = e["provenance"]
        lines += [f"## {{numref}}`{e['label']}`" if e["label"] else f"## {e['key']}", ""]
        if prov is None:
            lines += [f"*Missing files for `{e['key']}`: the chapter did not save this figure.*", ""]
            continue
        base = rel / e["chapter"] / e["name"]
        exts = [ext for ext in ("pdf", "png", "svg") if f"{e['name']}.{ext}" in prov.get("files", [f"{e['name']}.png"])]
        cited = "pdf" if "pdf" in exts else "png"
        lines += [
            f"![{e['key']}]({base}.png)",
            "",
            e["caption"],
            "",
            "Download: " + " · ".join(f"{{download}}`{ext.upper()} <{base}.{ext}>`" for ext in exts),
            "",
            f"Parameters: `{json.dumps(prov['parameters'], sort_keys=True)}`; dlnlib {prov['dlnlib_version']}, "
            f"commit `{prov['git_commit']}`, {prov['date']}.",
            "",
            "```text",
            f'dln-companion, Figure "{e["label"]}" ({e["chapter"]}/{e["name"]}): {_plain_caption(e["caption"])} '
            f"dln-companion v{prov['dlnlib_version']}, commit {prov['git_commit']}, {prov['date'][:10]}. "
            f"File figures/{e['chapter']}/{e['name']}.{cited}.",
            "```",
            "",
        ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_execution_report(report: dict, out: Path) -> None:
    """Write ``execution.md``: each chapter's run time, status and parameters.

    Parameters
    ----------
    report : dict
        The execution report (``book/chapters/execution.json``), by chapter name.
    out : pathlib.Path
        Output markdown file.
    """
    lines = [
        "(execution-report)=",
        "# Execution report",
        "",
        "Each chapter was executed by papermill with the parameters below (the defaults of its",
        "`parameters` cell) when the book was built. Rerun one with other values:",
        "`python -m dlnlib run <chapter> -p <name> <value>`.",
        "",
        "| chapter | status | run time (s) | executed | parameters |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(report):
        r = report[name]
        params = ", ".join(f"`{k}={v!r}`" for k, v in r.get("parameters", {}).items())
        lines.append(
            f"| {r.get('title', name)} | {r['status']} | {r['seconds']:.1f} | {r.get('date', '')} | {params} |"
        )
    total = sum(r["seconds"] for r in report.values() if r["status"] == "ok")
    lines += ["", f"Total execution time: {total:.1f} s."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
