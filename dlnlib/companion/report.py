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

__all__ = [
    "environment_info",
    "figure_citations",
    "figure_entries",
    "glued_text",
    "glued_value",
    "write_execution_report",
    "write_figures_page",
]

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


def glued_value(glued: dict[str, str], ref: str) -> str | None:
    """The text a ``{glue}`key``` or ``{glue:text}`key:fmt``` reference shows, from :func:`glued_text`.

    A string glued as is shows without its quotes; a format (``key:.2f``) applies to a number.

    Parameters
    ----------
    glued : dict of str to str
        Glued values as plain text.
    ref : str
        The reference's body, ``key`` or ``key:fmt``.

    Returns
    -------
    str or None
        The text, or ``None`` when ``key`` was not glued.
    """
    key, _, fmt = ref.partition(":")
    value = glued.get(key)
    if value is None:
        return None
    if value[:1] in "'\"" and value[-1:] == value[:1] and len(value) >= 2:
        value = value[1:-1]
    if fmt:
        try:
            return format(float(value), fmt)
        except ValueError:
            return value
    return value


def _resolve_glue(text: str, glued: dict[str, str]) -> str:
    """Replace ``{glue}`key``` references by their values (the Figures page is another document)."""

    def sub(m: re.Match) -> str:
        value = glued_value(glued, m["ref"])
        return m[0] if value is None else value

    return re.sub(r"\{glue(?::text)?\}`(?P<ref>[^`]+)`", sub, text)


def figure_citations(root: Path, entries: list[dict] | None = None) -> list[dict]:
    """Each figure's number, plain-text caption, citation and BibTeX entry.

    Parameters
    ----------
    root : pathlib.Path
        Repository root (reads ``_toc.yml``, ``_config.yml``, ``CITATION.cff``, ``references.bib``).
    entries : list of dict or None, optional
        :func:`figure_entries` of ``root`` (computed when ``None``).

    Returns
    -------
    list of dict
        The entries, each with added keys ``number`` (``"2.1"``, or ``None`` for a figure
        without a ``:name:``), ``caption_text``, ``citation`` and ``bibtex`` (``None`` when the
        figure has no provenance record).
    """
    from . import citation as cit

    root = Path(root)
    entries = figure_entries(root) if entries is None else entries
    numbers = cit.book_numbers(root)
    macros = cit.read_macros(root / "_config.yml")
    bib_path = root / "references.bib"
    bib = cit.read_bib_authors(bib_path) if bib_path.exists() else {}
    cff = root / "CITATION.cff"
    work = cit.read_work(cff) if cff.exists() else None
    out = []
    for e in entries:
        number = numbers.figures.get(e["label"])
        text = cit.caption_to_text(e["caption"], numbers=numbers, macros=macros, bib=bib)
        prov = e["provenance"]
        citation = bibtex = None
        if prov is not None and number is not None and work is not None:
            files = [f for f in prov.get("files", []) if not f.endswith(".json")] or [f"{e['name']}.png"]
            first = min(files, key=lambda f: f.endswith(".png"))  # the PDF when there is one
            others = ", ".join(Path(f).suffix for f in files if f != first)
            kw = dict(
                number=number,
                caption=text,
                commit=prov["git_commit"],
                files=f"{FIGURES_DIR}/{e['chapter']}/{first}" + (f" (also {others})" if others else ""),
            )
            citation, bibtex = cit.citation_text(work, **kw), cit.bibtex_entry(work, **kw)
        out.append({**e, "number": number, "caption_text": text, "citation": citation, "bibtex": bibtex})
    return out


def write_figures_page(root: Path, out: Path) -> None:
    """Write ``figures.md``: each figure's number, caption, downloads, citation and BibTeX.

    The citation and BibTeX entry are also written into each figure's JSON sidecar
    (keys ``number``, ``citation``, ``bibtex``), so the files carry what the page shows.

    Parameters
    ----------
    root : pathlib.Path
        Repository root (see :func:`figure_entries` and :func:`figure_citations`).
    out : pathlib.Path
        Output markdown file.
    """
    rel = Path(os.path.relpath(root / FIGURES_DIR, out.parent))
    lines = [
        "(figures-page)=",
        "# Figures",
        "",
        "Every figure of the book, with its caption, files, a ready-to-paste citation and a BibTeX entry",
        "(copy button at the top right of each). Files are written under stable names,",
        "`figures/<chapter>/<name>.{pdf,png}` (also `.svg` when the book is",
        "executed with `DLN_FIGURE_FORMATS=pdf,png,svg`); each file carries its provenance (chapter, parameters,",
        "package version, git commit, date) in its metadata, and the `.json` file beside it holds the same",
        "record with the citation and the BibTeX entry.",
        "",
    ]
    entries = figure_citations(root)
    if not entries:
        lines.append("No figures yet: run `make book`.")
    for e in entries:
        prov = e["provenance"]
        heading = f"Fig. {e['number']}" if e["number"] else e["key"]
        lines += [f"## {heading}", ""]
        if prov is None:
            lines += [f"*Missing files for `{e['key']}`: the chapter did not save this figure.*", ""]
            continue
        base = rel / e["chapter"] / e["name"]
        alt = re.sub(r"([\\`*_\[\]<>])", r"\\\1", e["caption_text"])  # Markdown escapes: alt text is literal
        shown = f"{{numref}}`{e['label']}`" if e["label"] else f"`{e['key']}`"
        exts = [ext for ext in ("pdf", "png", "svg") if f"{e['name']}.{ext}" in prov.get("files", [f"{e['name']}.png"])]
        lines += [
            f"![{alt}]({base}.png)",
            "",
            e["caption"],
            "",
            f"Shown as {shown} in {{doc}}`{e['chapter']}`. Download: "
            + " · ".join(f"{{download}}`{ext.upper()} <{base}.{ext}>`" for ext in exts),
            "",
            f"Parameters: `{json.dumps(prov['parameters'], sort_keys=True)}`; dlnlib {prov['dlnlib_version']}, "
            f"commit `{prov['git_commit']}`, {prov['date']}.",
            "",
        ]
        if e["citation"]:
            lines += [
                "Cite this figure:",
                "",
                "```{code-block} text",
                ":class: dln-citation",
                "",
                e["citation"],
                "```",
                "",
                "```{code-block} bibtex",
                ":class: dln-citation dln-bibtex",
                "",
                e["bibtex"],
                "```",
                "",
            ]
            side = root / FIGURES_DIR / e["chapter"] / f"{e['name']}.json"
            record = {**prov, "number": e["number"], "citation": e["citation"], "bibtex": e["bibtex"]}
            side.write_text(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def environment_info() -> dict[str, str]:
    """The machine and software that ran the chapters, for reading their run times.

    Returns
    -------
    dict of str to str
        ``"CPUs"`` (logical CPUs, and how many this process may use), ``"BLAS"`` and ``"LAPACK"``
        (from numpy's build configuration), ``"BLAS threads"`` (the thread-count environment
        variables that are set), ``"Python"``, ``"numpy"``, ``"scipy"`` and ``"platform"``.
    """
    import platform

    import numpy as np
    import scipy

    n_cpu = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = n_cpu
    cpus = f"{n_cpu} logical" + (f" ({usable} usable by this process)" if usable != n_cpu else "")
    libs = {}
    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
    except (TypeError, ValueError, AttributeError):  # an old numpy without mode="dicts"
        deps = {}
    for what in ("blas", "lapack"):
        lib = deps.get(what, {})
        libs[what] = " ".join(str(lib[k]) for k in ("name", "version") if lib.get(k)) or "unknown"
    threads = [f"{v}={os.environ[v]}" for v in _THREAD_VARIABLES if v in os.environ]
    return {
        "CPUs": cpus,
        "BLAS": libs["blas"],
        "LAPACK": libs["lapack"],
        "BLAS threads": ", ".join(threads) or "not limited (no thread-count variable set)",
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
    }


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _chapter_verdict(nb_path: Path) -> str:
    """The glued verdict of an executed chapter and the tally of its ledger checks (``""`` if unreadable)."""
    try:
        glued = glued_text(json.loads(nb_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError):
        return ""
    verdict = glued.get(f"{nb_path.stem}-verdict", "").strip("'\"")
    statuses = []
    for key, text in glued.items():
        if key.startswith(f"{nb_path.stem}-ledger-"):
            try:
                statuses.append(json.loads(text).get("status"))
            except (ValueError, AttributeError):
                continue
    failed = statuses.count("failed")
    if not statuses:
        tally = ""
    elif failed:
        tally = f"{failed} of {len(statuses)} checks failed"
    else:
        tally = f"{len(statuses)} check{'s' * (len(statuses) > 1)} passed"
    return f"{verdict} ({tally})" if verdict and tally else verdict or tally


def write_execution_report(
    report: dict, out: Path, *, chapters_dir: Path | None = None, environment: dict[str, str] | None = None
) -> None:
    """Write ``execution.md``: each chapter's link, run id, verdict, status, run time and parameters.

    The page lists the parameters of every chapter after the table, and ends with the environment
    that ran the chapters (:func:`environment_info`), so that the run times can be interpreted.

    Parameters
    ----------
    report : dict
        The execution report (``book/chapters/execution.json``), by chapter name.
    out : pathlib.Path
        Output markdown file.
    chapters_dir : pathlib.Path or None, optional
        Keyword-only. Folder of the executed chapters, read for their verdicts (default: ``out``'s folder).
    environment : dict of str to str or None, optional
        Keyword-only. The environment to report (default: :func:`environment_info` of this process).
    """
    chapters_dir = Path(out).parent if chapters_dir is None else Path(chapters_dir)
    env = environment_info() if environment is None else environment
    lines = [
        "(execution-report)=",
        "# Execution report",
        "",
        "Each chapter was executed by papermill with the parameters below (the defaults of its",
        "`parameters` cell) when the book was built. Rerun one with other values, using the id in",
        "the second column: `python -m dlnlib run <id> -p <name> <value>` (`python -m dlnlib list`",
        "shows every parameter). The verdict is the chapter's own, with the tally of the checks it",
        "recorded for the {ref}`Results ledger <ledger>`.",
        "",
        "| chapter | run id | verdict | status | run time (s) | executed |",
        "|---|---|---|---|---|---|",
    ]
    parameters = ["", "(execution-parameters)=", "## Parameters", ""]
    for name in sorted(report):
        r = report[name]
        title = r.get("title", name).replace("|", "\\|")
        link = f"{{doc}}`{title} <{name}>`" if (chapters_dir / f"{name}.ipynb").exists() else title
        verdict = _chapter_verdict(chapters_dir / f"{name}.ipynb")
        run_id = name.split("_")[0]
        lines.append(f"| {link} | `{run_id}` | {verdict} | {r['status']} | {r['seconds']:.1f} | {r.get('date', '')} |")
        params = ", ".join(f"`{k}={v!r}`" for k, v in r.get("parameters", {}).items()) or "none"
        parameters.append(f"- `{run_id}`: {params}")
    total = sum(r["seconds"] for r in report.values() if r["status"] == "ok")
    lines += [
        "",
        f"Total execution time: {total:.1f} s.",
        *parameters,
        "",
        "(execution-environment)=",
        "## Environment",
        "",
        "Run times are wall-clock seconds of one papermill execution (kernel start included) on this",
        "machine, possibly shared with other work; dense linear algebra runs in the BLAS below.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in env.items()),
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
