"""What a rerun leaves behind: its verdict and checks, figure numbers, a diff against the book, a web page.

``python -m dlnlib run`` executes a chapter with the reader's parameters; this module turns the
executed notebook into what the reader needs to judge it (standard library and ``markdown-it-py``
only, no kernel):

* :func:`verdict_lines`: the chapter's verdict sentence and each check it recorded for the Results
  ledger (:meth:`dlnlib.companion.chapter.Chapter.record`);
* :func:`glued_diff`: the glued numbers that differ from the book's own run at the defaults;
* :func:`figure_numbers` / :func:`write_figure_map`: which file is which numbered figure of the book
  ("Fig. 2.1"), from the chapter's place in ``_toc.yml`` and the order of its ``{glue:figure}``
  directives;
* :func:`write_html`: the executed notebook as one offline HTML page (``index.html``): MyST roles
  and glued values resolved, figures numbered, math typeset by the book's own MathJax copy
  (``book/_static/mathjax``) when the run folder can reach it, else left as TeX text; no network
  resource is referenced;
* :func:`run_folder_stem`: a readable run-folder name, ``ch02_invariants-seed3-<hash>``.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any

__all__ = [
    "chapter_numbers",
    "figure_numbers",
    "glued_diff",
    "run_folder_stem",
    "verdict_lines",
    "write_figure_map",
    "write_html",
]

_GLUE_FIG = re.compile(
    r"```\{glue:figure\}\s+(?P<key>\S+)[^\n]*\n(?P<opts>(?::[\w-]+:[^\n]*\n)*)\s*(?P<caption>.*?)```",
    re.DOTALL,
)
_ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`")
_TOC_CHAPTER = re.compile(r"^\s*-\s*file:\s*book/chapters/(?P<name>ch\d+\w*)\s*$", re.MULTILINE)


def run_folder_stem(name: str, params: dict[str, Any], defaults: dict[str, Any], digest: str) -> str:
    """A readable run-folder name: the chapter, the parameters that differ from the defaults, a hash.

    Parameters
    ----------
    name : str
        Chapter file stem, e.g. ``"ch02_invariants"``.
    params : dict
        The run's parameters (all of them, or only those given).
    defaults : dict
        The chapter's defaults.
    digest : str
        A hash of the full parameter set (keeps two runs with long, truncated names apart).

    Returns
    -------
    str
        E.g. ``"ch02_invariants-seed3-1a2b3c4d5e"``, or ``"ch02_invariants-default-<hash>"``.
    """
    parts = []
    for k in sorted(params):
        if k in defaults and params[k] == defaults[k]:
            continue
        value = re.sub(r"[^A-Za-z0-9.+-]+", "_", json.dumps(params[k])).strip("_")
        parts.append(f"{k}{value}")
    slug = "-".join(parts)[:60].rstrip("-_") or "default"
    return f"{name}-{slug}-{digest}"


def chapter_numbers(root: Path) -> dict[str, int]:
    """Chapter numbers as the book shows them: the order of the chapters in ``_toc.yml``.

    Parameters
    ----------
    root : pathlib.Path
        Repository root.

    Returns
    -------
    dict of str to int
        By chapter file stem (``{"ch01_model": 1, ...}``); empty if there is no ``_toc.yml``.
    """
    try:
        toc = (Path(root) / "_toc.yml").read_text(encoding="utf-8")
    except OSError:
        return {}
    names = [m["name"] for m in _TOC_CHAPTER.finditer(toc)]
    return {n: i for i, n in enumerate(dict.fromkeys(names), start=1)}


def _markdown_sources(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def figure_numbers(nb: dict, chapter_number: int | None) -> list[dict]:
    """The numbered figures of a chapter, in the order the book numbers them.

    Sphinx numbers every captioned, named figure of a chapter (``numfig`` with section depth 1):
    the ``{glue:figure}`` directives with a ``:name:`` and a caption, in document order.

    Parameters
    ----------
    nb : dict
        The chapter notebook (parsed JSON).
    chapter_number : int or None
        The chapter's number (:func:`chapter_numbers`); ``None`` gives numbers ``"Fig. ?.M"``.

    Returns
    -------
    list of dict
        Keys ``key`` (glue key, ``<chapter>-<name>``), ``name`` (file stem), ``number``
        (``"Fig. 2.1"``), ``label`` and ``caption`` (MyST source).
    """
    out = []
    for src in _markdown_sources(nb):
        for m in _GLUE_FIG.finditer(src):
            opts = dict(re.findall(r":([\w-]+):\s*(.*)", m["opts"]))
            caption = " ".join(m["caption"].split())
            if not caption or not opts.get("name", "").strip():
                continue
            n = len(out) + 1
            chap = "?" if chapter_number is None else str(chapter_number)
            out.append(
                {
                    "key": m["key"],
                    "name": m["key"].partition("-")[2],
                    "number": f"Fig. {chap}.{n}",
                    "label": opts["name"].strip(),
                    "caption": caption,
                }
            )
    return out


def _resolve(text: str, glued: dict[str, str], cites: dict[str, tuple[str, str]] | None = None) -> str:
    """MyST roles as plain text: glued values substituted, citations author-year, references by their text."""

    def sub(m: re.Match) -> str:
        role, body = m["role"], m["body"]
        if role in ("glue", "glue:text", "glue:any"):
            from .report import glued_value

            value = glued_value(glued, body)
            return m[0] if value is None else value
        if role.startswith("cite") and cites:
            names = [cites.get(k.strip(), (k.strip(), "")) for k in body.split(",")]
            if role == "cite:t":
                return "; ".join(f"{a} ({y})" for a, y in names)
            return "(" + "; ".join(f"{a}, {y}" for a, y in names) + ")"
        shown = re.match(r"\s*(.*?)\s*<[^>]*>\s*$", body, re.DOTALL)
        if shown:
            return shown[1]
        if role in ("eq", "numref"):
            return f"({body})"
        if role == "ref" and body.startswith("notes-"):  # a section of the Mathematical notes
            return "Mathematical notes, " + body[len("notes-") :].replace("-", " ")
        return body

    return _ROLE.sub(sub, text)


def _bibliography(root: Path) -> dict[str, tuple[str, str]]:
    """``(authors, year)`` of each entry of ``references.bib`` ("Chitour et al.", "2023"), for citations."""
    try:
        bib = (Path(root) / "references.bib").read_text(encoding="utf-8")
    except OSError:
        return {}
    out = {}
    for entry in re.split(r"^@", bib, flags=re.MULTILINE)[1:]:
        key = re.match(r"\w+\{([^,\s]+),", entry)
        author = re.search(r"author\s*=\s*\{(.*?)\},?\s*$", entry, re.MULTILINE | re.IGNORECASE)
        year = re.search(r"year\s*=\s*\{?(\d{4})", entry, re.IGNORECASE)
        if key and author:
            last = [a.split(",")[0].strip().strip("{}") for a in re.split(r"\s+and\s+", author[1])]
            names = last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2 else f"{last[0]} et al."
            out[key[1]] = (names, year[1] if year else "n.d.")
    return out


def _plain(text: str, glued: dict[str, str], cites: dict[str, tuple[str, str]] | None = None) -> str:
    text = _resolve(text, glued, cites)
    text = re.sub(r"\*\*|__|(?<!\\)\$", "", text)
    return " ".join(text.split())


def write_figure_map(out: Path, nb: dict, chapter: str, chapter_number: int | None, figures: Path) -> None:
    """Write ``figures.md``: each figure file of a run and the figure number it has in the book.

    Parameters
    ----------
    out : pathlib.Path
        Output markdown file (in the run folder).
    nb : dict
        The executed chapter.
    chapter : str
        Chapter file stem.
    chapter_number : int or None
        Its number in the book (:func:`chapter_numbers`).
    figures : pathlib.Path
        The run's figure folder for this chapter (``<run>/figures/<chapter>``).
    """
    from .report import glued_text

    glued = glued_text(nb)
    numbered = {f["name"]: f for f in figure_numbers(nb, chapter_number)}
    stems = sorted({p.stem for p in figures.glob("*") if p.suffix in (".png", ".pdf", ".svg")})
    rel = os.path.relpath(figures, out.parent)
    lines = [
        f"# Figures of this run of {chapter}",
        "",
        "Each figure file of this run and the number of the same figure in the book (same caption,",
        "this run's parameters and numbers).",
        "",
    ]
    for f in numbered.values():
        if f["name"] in stems:
            files = ", ".join(f"[{f['name']}.{e}]({rel}/{f['name']}.{e})" for e in ("png", "pdf", "svg"))
        else:
            files = "(not written by this run)"
        lines.append(f"- **{f['number']}**: {files}. {_plain(f['caption'], glued)}")
    for stem in stems:
        if stem not in numbered:
            lines.append(f"- (not a numbered figure of the book): [{stem}.png]({rel}/{stem}.png)")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def verdict_lines(nb: dict, chapter: str, *, width: int = 100) -> list[str]:
    """The chapter's verdict and each check it recorded for the Results ledger, as lines to print.

    Parameters
    ----------
    nb : dict
        The executed chapter.
    chapter : str
        Chapter file stem (glue keys start with it).
    width : int, optional
        Keyword-only. Line width for the verdict sentence.

    Returns
    -------
    list of str
        ``"verdict: ..."`` (the chapter's **Verdict:** paragraph with its glued values, or the glued
        ``<chapter>-verdict`` value), then one ``"  [status] result: figure (how)"`` line per record.
    """
    from .report import glued_text

    glued = glued_text(nb)
    sentence = None
    for src in _markdown_sources(nb):
        m = re.search(r"\*\*Verdict:?\*\*:?(?P<text>.*?)(?:\n\s*\n|$)", src, re.DOTALL)
        if m:
            sentence = _plain(m["text"], glued)
            break
    value = glued.get(f"{chapter}-verdict")
    if sentence is None and value is None:
        lines = ["verdict: (this chapter glues no verdict)"]
    else:
        text = sentence if sentence else value.strip("'\"")
        lines = textwrap.wrap(f"verdict: {text}", width=width, subsequent_indent="  ")
    records = []
    for key, text in glued.items():
        if key.startswith(f"{chapter}-ledger-"):
            try:
                records.append(json.loads(text.strip("'\"") if text[:1] in "'\"" else text))
            except ValueError:
                continue
    lines.append(f"checks ({len(records)} recorded for the Results ledger):" if records else "checks: none recorded")
    for r in records:
        figure = f": {r['figure']}" if r.get("figure") not in (None, "") else ""
        how = f" ({r['how']})" if r.get("how") else ""
        lines += textwrap.wrap(
            f"[{r.get('status', '?')}] {r.get('result', '?')}{figure}{how}",
            width=width,
            initial_indent="  ",
            subsequent_indent="      ",
        )
    return lines


def _comparable(key: str, text: str) -> str | None:
    """The value to compare of a glued text (a ledger record by its status and figure); ``None``: skip."""
    if text.startswith("<") and text.endswith(">"):  # an object's repr (a glued image)
        return None
    if "-ledger-" in key:
        try:
            rec = json.loads(text.strip("'\"") if text[:1] in "'\"" else text)
            return f"{rec.get('status')} {rec.get('figure')}"
        except ValueError:
            return text
    return text


def glued_diff(run: dict[str, str], book: dict[str, str], *, limit: int = 12) -> list[str]:
    """The glued values of a run that differ from the book's run, as lines to print.

    Parameters
    ----------
    run, book : dict of str to str
        Glued values (:func:`dlnlib.companion.report.glued_text`) of the run and of the book's run.
    limit : int, optional
        Keyword-only. At most this many differing values are listed.

    Returns
    -------
    list of str
        A summary line, then ``"  key: book -> run"`` lines (``"(absent)"`` on a side that lacks it).
    """
    rows = []
    for key in sorted(set(run) | set(book)):
        a = _comparable(key, book[key]) if key in book else "(absent)"
        b = _comparable(key, run[key]) if key in run else "(absent)"
        if a is None or b is None or a == b:
            continue
        short = lambda s: s if len(s) <= 40 else s[:37] + "..."  # noqa: E731
        rows.append(f"  {key}: {short(a)} -> {short(b)}")
    compared = len(set(run) | set(book))
    if not rows:
        return [f"same glued values as the book's run ({compared} compared)"]
    head = f"{len(rows)} of {compared} glued values differ from the book's run (book -> this run):"
    more = [f"  ... and {len(rows) - limit} more"] if len(rows) > limit else []
    return [head, *rows[:limit], *more]


# ---------------------------------------------------------------------------------------------
# The offline web page

_CSS = """
body { font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
h1, h2, h3 { line-height: 1.25; }
pre { background: #f6f8fa; padding: .6rem .8rem; white-space: pre-wrap; overflow-wrap: anywhere;
      font-size: 13px; line-height: 1.45; }
pre.output { background: #fff; border-left: 3px solid #ddd; }
pre.error { background: #fff0f0; border-left: 3px solid #c00; }
details > summary { cursor: pointer; color: #555; font-size: 14px; }
figure { margin: 1.5rem 0; } figure img, .output img { max-width: 100%; height: auto; }
figcaption { font-size: 15px; color: #333; }
table { border-collapse: collapse; margin: 1rem 0; } th, td { border: 1px solid #ccc; padding: .2rem .5rem; }
.directive { border-left: 4px solid #4a7; background: #f4faf6; padding: .2rem 1rem; margin: 1rem 0; }
.run-note { background: #fffbe6; border: 1px solid #e6d98c; padding: .5rem 1rem; font-size: 14px; }
.math.block { overflow-x: auto; overflow-y: hidden; }
"""


def _mathjax_config(root: Path) -> dict:
    """The book's MathJax 3 configuration (macros), from ``_config.yml`` (empty if unreadable)."""
    try:
        import yaml

        cfg = yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8")) or {}
        return dict(cfg.get("sphinx", {}).get("config", {}).get("mathjax3_config", {}) or {})
    except (ImportError, OSError, ValueError, AttributeError):
        return {}


def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.deflist import deflist_plugin
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark").enable("table").use(deflist_plugin).use(dollarmath_plugin, double_inline=True)

    def inline(self, tokens, idx, options, env):
        return rf"\({html.escape(tokens[idx].content)}\)"

    def block(self, tokens, idx, options, env):
        return f'<div class="math block">\\[{html.escape(tokens[idx].content)}\\]</div>\n'

    md.add_render_rule("math_inline", inline)
    md.add_render_rule("math_block", block)
    md.add_render_rule("math_block_label", block)
    return md


def _myst_to_markdown(src: str, glued: dict[str, str], figures: dict[str, dict], fig_rel: str, md, cites) -> str:
    """A markdown cell's MyST as CommonMark + HTML: labels dropped, figures and directives as HTML."""
    src = re.sub(r"^\(\S+\)=\s*$", "", src, flags=re.MULTILINE)

    def figure(m: re.Match) -> str:
        key = m["key"]
        info = figures.get(key)
        name = key.partition("-")[2]
        caption = md.renderInline(_resolve(" ".join(m["caption"].split()), glued, cites))
        number = f"<strong>{info['number']}</strong> " if info else ""
        alt = html.escape(_plain(m["caption"], glued, cites), quote=True)
        return (
            f'\n<figure id="{html.escape(info["label"] if info else key)}">'
            f'<a href="{fig_rel}/{name}.png"><img src="{fig_rel}/{name}.png" alt="{alt}"></a>'
            f"<figcaption>{number}{caption}</figcaption></figure>\n"
        )

    src = _GLUE_FIG.sub(figure, src)

    return _resolve(_directives(src, glued, md, cites), glued, cites)


_DIRECTIVE = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}(?P<args>[^\n]*)\n(?P<body>.*?)^(?P=fence)\s*$",
    re.MULTILINE | re.DOTALL,
)


def _directives(src: str, glued: dict[str, str], md, cites) -> str:
    """MyST directives as HTML: ``{math}`` as display math, others as a titled box (nested ones too)."""

    def sub(m: re.Match) -> str:
        body = re.sub(r"^:[\w-]+:[^\n]*\n", "", m["body"], flags=re.MULTILINE)
        if m["name"] == "math":
            return f'\n<div class="math block">\\[{html.escape(body.strip())}\\]</div>\n'
        title = m["args"].strip()
        head = f"**{m['name'].split(':')[-1].capitalize()}{': ' + title if title else ''}**"
        inner = md.render(_resolve(f"{head}\n\n{_directives(body, glued, md, cites)}", glued, cites))
        inner = re.sub(r"\n\s*\n", "\n", inner)  # a blank line would end the HTML block
        return f'\n<div class="directive">\n{inner}</div>\n'

    return _DIRECTIVE.sub(sub, src)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _outputs_html(outputs: list[dict], md) -> str:
    parts = []
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            text = "".join(o.get("text", ""))
            parts.append(f'<pre class="output">{html.escape(text)}</pre>')
        elif kind == "error":
            text = _ANSI.sub("", "\n".join(o.get("traceback", [])))
            parts.append(f'<pre class="output error">{html.escape(text)}</pre>')
        elif kind in ("display_data", "execute_result"):
            data = o.get("data", {})
            if "image/png" in data:
                b64 = "".join(data["image/png"]).replace("\n", "")
                base64.b64decode(b64, validate=True)  # a corrupt image is an error, not a broken page
                parts.append(f'<div class="output"><img src="data:image/png;base64,{b64}" alt="output image"></div>')
            elif "text/html" in data:
                parts.append(f'<div class="output">{"".join(data["text/html"])}</div>')
            elif "text/markdown" in data:
                parts.append(f'<div class="output">{md.render("".join(data["text/markdown"]))}</div>')
            elif "text/plain" in data:
                parts.append(f'<pre class="output">{html.escape("".join(data["text/plain"]))}</pre>')
            # glued values (application/papermill.record/...) are shown where the text cites them
    return "\n".join(parts)


def write_html(
    out: Path,
    nb: dict,
    *,
    chapter: str,
    chapter_number: int | None,
    root: Path,
    figures: Path,
    note: str = "",
) -> None:
    """Write an executed chapter as one offline HTML page (a run's ``index.html``).

    Markdown cells are rendered with MyST roles resolved (glued values substituted, references
    shown by their text), each ``{glue:figure}`` as the run's PNG with its book number and caption;
    code cells with their outputs, except cells tagged ``remove-cell``, inputs tagged
    ``remove-input`` (folded when tagged ``hide-input``), outputs tagged ``remove-output`` and test
    markers (``# NBVAL_...`` lines). Math is typeset by the book's MathJax copy, with the book's
    macros, referenced by a relative path when ``root/book/_static/mathjax`` exists (else the TeX
    stays as text); the page's style is inlined (with any ``book/_static/*.css``). The page loads
    nothing from the network.

    Parameters
    ----------
    out : pathlib.Path
        Output file.
    nb : dict
        The executed chapter (parsed JSON).
    chapter : str
        Chapter file stem.
    chapter_number : int or None
        Its number in the book (for the figure numbers).
    root : pathlib.Path
        Repository root (MathJax, macros, style sheets).
    figures : pathlib.Path
        The run's figure folder for this chapter.
    note : str, optional
        Keyword-only. Markdown shown in a box at the top (the run's parameters, how to reproduce it).
    """
    from .report import glued_text

    md = _markdown()
    glued = glued_text(nb)
    figs = {f["key"]: f for f in figure_numbers(nb, chapter_number)}
    cites = _bibliography(root)
    fig_rel = Path(os.path.relpath(figures, out.parent)).as_posix()
    body = [f'<div class="run-note">{md.render(note)}</div>'] if note else []
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        src = "".join(cell["source"])
        if "remove-cell" in tags:
            continue
        if cell["cell_type"] == "markdown":
            body.append(md.render(_myst_to_markdown(src, glued, figs, fig_rel, md, cites)))
            continue
        if cell["cell_type"] != "code":
            continue
        code = "\n".join(
            re.sub(r"\s*# NBVAL_\w+\s*$", "", line)
            for line in src.splitlines()
            if not line.lstrip().startswith("# NBVAL_")
        )
        if code.strip() and "remove-input" not in tags:
            pre = f'<pre class="input"><code>{html.escape(code)}</code></pre>'
            if "injected-parameters" in tags:
                pre = f"<p><em>Parameters of this run:</em></p>{pre}"
            elif "hide-input" in tags:
                pre = f"<details><summary>Show code</summary>{pre}</details>"
            body.append(pre)
        if "remove-output" not in tags:
            body.append(_outputs_html(cell.get("outputs", []), md))
    css = _CSS + "".join(p.read_text(encoding="utf-8") for p in sorted((Path(root) / "book/_static").glob("*.css")))
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(chapter)}: rerun</title>",
        f"<style>{css}</style>",
    ]
    mathjax = Path(root) / "book/_static/mathjax/tex-chtml.js"
    if mathjax.exists():
        cfg = _mathjax_config(root)
        cfg.setdefault("tex", {}).update({"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]})
        src = Path(os.path.relpath(mathjax, out.parent)).as_posix()
        head += [f"<script>window.MathJax = {json.dumps(cfg)};</script>", f'<script defer src="{src}"></script>']
    page = ["<!DOCTYPE html>", '<html lang="en">', "<head>", *head, "</head>", "<body>", *body, "</body>", "</html>"]
    out.write_text("\n".join(page) + "\n", encoding="utf-8")
