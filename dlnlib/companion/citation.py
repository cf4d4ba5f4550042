"""Citable figures: numbers as the book shows them, captions as plain text, citations and BibTeX.

The Figures page (:func:`dlnlib.companion.report.write_figures_page`) offers, for every figure, a
plain-text citation and a BibTeX entry built here, and writes the same into the figure's JSON
sidecar. The caption a reader sees is MyST Markdown with TeX math, the book's MathJax macros
(``\\Sbar``, ``\\R``, ``\\L``, ...) and references (``{eq}``, ``{numref}``, ``{prf:ref}``, ``{glue}``,
``{cite:t}``); :func:`caption_to_text` turns it into plain Unicode text, with math rendered by
:func:`tex_to_text` and every reference replaced by what the book shows (an equation number such as
``(2.1)``, a figure number such as ``Fig. 2.1``, a result's title, a glued value).

Figure and equation numbers follow Sphinx's ``numfig`` with ``numfig_secnum_depth: 1``: chapter
``k`` of the numbered part of ``_toc.yml`` numbers its figures ``k.1, k.2, ...`` and its labelled
equations ``(k.1), (k.2), ...`` in document order (:func:`book_numbers`).

Standard library only (the YAML files are read with PyYAML, imported when needed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BookNumbers",
    "Work",
    "bibtex_entry",
    "book_numbers",
    "caption_to_text",
    "citation_text",
    "expand_macros",
    "read_bib_authors",
    "read_macros",
    "read_work",
    "tex_to_text",
]

URL_PLACEHOLDER = "<repository URL not set: add repository-code to CITATION.cff>"
"""Shown in place of the URL while ``CITATION.cff`` names no repository."""

# --------------------------------------------------------------------------------------------
# TeX math -> Unicode text
# --------------------------------------------------------------------------------------------

_SYMBOLS = {
    # Greek
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ",
    "tau": "τ", "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    # operators and relations
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "ne": "≠", "neq": "≠", "approx": "≈",
    "sim": "∼", "simeq": "≃", "equiv": "≡", "propto": "∝", "ll": "≪", "gg": "≫",
    "times": "×", "cdot": "·", "pm": "±", "mp": "∓", "circ": "∘", "otimes": "⊗", "oplus": "⊕",
    "in": "∈", "notin": "∉", "subset": "⊂", "subseteq": "⊆", "supset": "⊃", "cup": "∪",
    "cap": "∩", "setminus": "∖", "emptyset": "∅", "varnothing": "∅", "forall": "∀",
    "exists": "∃", "neg": "¬", "land": "∧", "lor": "∨", "wedge": "∧", "vee": "∨",
    "to": "→", "rightarrow": "→", "leftarrow": "←", "mapsto": "↦", "Rightarrow": "⇒",
    "Leftarrow": "⇐", "iff": "⇔", "Leftrightarrow": "⇔", "implies": "⇒",
    "infty": "∞", "partial": "∂", "nabla": "∇", "sum": "∑", "prod": "∏", "int": "∫",
    "star": "⋆", "ast": "∗", "dagger": "†", "perp": "⊥", "top": "⊤", "prime": "′",
    "ldots": "…", "dots": "…", "cdots": "⋯", "vdots": "⋮", "ddots": "⋱", "dotsc": "…", "dotsb": "⋯",
    "langle": "⟨", "rangle": "⟩", "lvert": "|", "rvert": "|", "lVert": "‖", "rVert": "‖",
    "vert": "|", "Vert": "‖", "|": "‖", "{": "{", "}": "}", "_": "_", "%": "%", "&": "&", "#": "#",
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "ell": "ℓ", "hbar": "ℏ",
    # spacing
    ",": " ", ";": " ", ":": " ", "!": "", " ": " ", "quad": "  ", "qquad": "   ",
    # named functions: their name
    "log": "log", "ln": "ln", "exp": "exp", "sin": "sin", "cos": "cos", "tan": "tan",
    "max": "max", "min": "min", "sup": "sup", "inf": "inf", "lim": "lim", "det": "det",
    "arg": "arg", "ker": "ker", "dim": "dim", "deg": "deg", "argmin": "argmin", "argmax": "argmax",
}
_DROP = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "displaystyle",
         "textstyle", "limits", "nolimits"}
_ACCENTS = {"bar": "\u0304", "overline": "\u0305", "hat": "\u0302", "widehat": "\u0302",
            "tilde": "\u0303", "widetilde": "\u0303", "dot": "\u0307", "ddot": "\u0308", "vec": "\u20d7"}
_FONTS = {"mathrm", "mathit", "mathbf", "mathsf", "mathtt", "boldsymbol", "bm", "text", "textrm",
          "textit", "textbf", "operatorname", "mathop", "mbox"}
_BB = {"R": "ℝ", "C": "ℂ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "P": "ℙ", "E": "𝔼", "1": "𝟙"}
_CAL = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "𝒜ℬ𝒞𝒟ℰℱ𝒢ℋℐ𝒥𝒦ℒℳ𝒩𝒪𝒫𝒬ℛ𝒮𝒯𝒰𝒱𝒲𝒳𝒴𝒵", strict=True))
_SUP = dict(zip("0123456789+-−=()niabcdefghjklmoprstuvwxyzABDEGHIJKLMNOPRTUVW⊤*⋆∗′",
                "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁿⁱᵃᵇᶜᵈᵉᶠᵍʰʲᵏˡᵐᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵀ***′", strict=True))
_SUB = dict(zip("0123456789+-−=()aehijklmnoprstuvxβγρϕφχ", "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵩᵪ", strict=True))
_RELATIONS = set("=≠≤≥∈∉≈≡→⇒⇔⊂⊆∼")
_TEXT_FONTS = {"text", "textrm", "textit", "textbf", "mbox"}


def read_macros(config: Path) -> dict[str, str | list]:
    """The book's MathJax macros, as declared in ``_config.yml``.

    Parameters
    ----------
    config : pathlib.Path
        The Jupyter Book ``_config.yml``.

    Returns
    -------
    dict
        Macro name (without backslash) to its definition: a TeX string, or ``[definition, n_args]``.
        Empty if the file declares none.
    """
    import yaml

    data = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
    cfg = (data.get("sphinx") or {}).get("config") or {}
    return dict(((cfg.get("mathjax3_config") or {}).get("tex") or {}).get("macros") or {})


def _read_arg(tex: str, i: int) -> tuple[str, int]:
    """One TeX argument at ``tex[i:]``: a braced group (without braces), a command or a character."""
    while i < len(tex) and tex[i] == " ":
        i += 1
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        depth, j = 0, i
        while j < len(tex):
            if tex[j] == "\\":
                j += 2
                continue
            depth += {"{": 1, "}": -1}.get(tex[j], 0)
            if depth == 0:
                return tex[i + 1 : j], j + 1
            j += 1
        return tex[i + 1 :], len(tex)
    if tex[i] == "\\":
        m = re.match(r"\\([A-Za-z]+|.)", tex[i:])
        return m[0], i + len(m[0])
    return tex[i], i + 1


def expand_macros(tex: str, macros: dict[str, str | list]) -> str:
    """Replace the book's macros in ``tex`` by their definitions (repeatedly, for nested macros).

    Parameters
    ----------
    tex : str
        TeX math.
    macros : dict
        As returned by :func:`read_macros`: name to definition, or to ``[definition, n_args]``
        (arguments ``#1``, ``#2``, ...).

    Returns
    -------
    str
        ``tex`` with every macro expanded.

    Examples
    --------
    >>> expand_macros(r"\\Sbar \\in \\R^{n}", {"Sbar": r"\\bar{\\Sigma}", "R": r"\\mathbb{R}"})
    '\\\\bar{\\\\Sigma} \\\\in \\\\mathbb{R}^{n}'
    """
    if not macros:
        return tex
    pattern = re.compile(r"\\(" + "|".join(sorted(map(re.escape, macros), key=len, reverse=True)) + r")(?![A-Za-z])")
    for _ in range(10):  # nested definitions
        out, pos = [], 0
        for m in pattern.finditer(tex):
            if m.start() < pos:
                continue
            definition = macros[m[1]]
            body, n_args = (definition, 0) if isinstance(definition, str) else (definition[0], int(definition[1]))
            end = m.end()
            for k in range(1, n_args + 1):
                arg, end = _read_arg(tex, end)
                body = body.replace(f"#{k}", arg)
            # a macro followed by a letter needs a separator once expanded into a command name
            out += [tex[pos : m.start()], "{" + body + "}" if n_args == 0 and body.startswith("\\") else body]
            pos = end
        new = "".join(out) + tex[pos:]
        if new == tex:
            break
        tex = new
    return tex


def _script(text: str, table: dict[str, str], mark: str) -> str:
    if text and all(c in table for c in text):
        return "".join(table[c] for c in text)
    if len(text) == 1:
        return mark + text
    return f"{mark}({text})"


def _group(text: str) -> str:
    return text if re.fullmatch(r"[\w.′]+", text) else f"({text})"


def _operator(out: list[str], name: str, rest: str) -> None:
    """Append an operator name (``log``, ``rank``), spaced from the letters around it, as TeX does."""
    if len(name) > 1 and out and re.search(r"[\w)′]$", out[-1]):
        out.append(" ")
    out.append(name)
    if len(name) > 1 and re.match(r"\s*[A-Za-z\\{]", rest):
        out.append(" ")


def _convert(tex: str, *, text_mode: bool = False) -> str:
    out: list[str] = []
    i = 0
    while i < len(tex):
        c = tex[i]
        if c.isspace() and not text_mode:  # spaces are not printed in math mode
            i += 1
        elif c in _RELATIONS and not text_mode:
            out.append(f" {c} ")
            i += 1
        elif c == "\\":
            cmd, i = _read_arg(tex, i)
            name = cmd[1:]
            if name in _DROP:
                continue
            if name in _ACCENTS:
                arg, i = _read_arg(tex, i)
                body = _convert(arg)
                out.append(body + _ACCENTS[name] if len(body) == 1 else f"{body}{_ACCENTS[name]}")
            elif name == "mathbb":
                arg, i = _read_arg(tex, i)
                out.append("".join(_BB.get(ch, ch) for ch in _convert(arg)))
            elif name in ("mathcal", "mathscr"):
                arg, i = _read_arg(tex, i)
                out.append("".join(_CAL.get(ch, ch) for ch in _convert(arg)))
            elif name in _FONTS:
                arg, i = _read_arg(tex, i)
                body = _convert(arg, text_mode=name in _TEXT_FONTS)
                if name in ("operatorname", "mathop"):
                    _operator(out, body, tex[i:])
                else:
                    out.append(body)
            elif name in ("frac", "tfrac", "dfrac"):
                num, i = _read_arg(tex, i)
                den, i = _read_arg(tex, i)
                num, den = _convert(num), _convert(den)
                if (num, den) == ("1", "2"):
                    out.append("½")
                else:
                    out.append(f"{_group(num)}/{_group(den)}")
            elif name == "sqrt":
                arg, i = _read_arg(tex, i)
                body = _convert(arg)
                out.append("√" + (body if re.fullmatch(r"\w", body) else f"({body})"))
            elif name in _SYMBOLS:
                symbol = _SYMBOLS[name]
                if symbol.isalpha() and len(symbol) > 1:
                    _operator(out, symbol, tex[i:])
                else:
                    out.append(f" {symbol} " if symbol in _RELATIONS else symbol)
            else:  # an unknown command: its name, never a backslash
                out.append(name)
        elif c in "^_":
            arg, i = _read_arg(tex, i + 1)
            body = _convert(arg).strip()
            out.append(_script(body, _SUP if c == "^" else _SUB, c))
        elif c == "{":
            arg, i = _read_arg(tex, i)
            body = _convert(arg)
            if re.fullmatch(r"\\(?:operatorname|mathop)\{[^{}]*\}|\\[A-Za-z]+", arg.strip()) and body.isalpha():
                _operator(out, body, tex[i:])  # an expanded macro such as \rank
            else:
                out.append(body)
        elif c == "}":
            i += 1
        elif c == "~":
            out.append(" ")
            i += 1
        elif c == "-":
            out.append("−")
            i += 1
        elif c == "'":
            out.append("′")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tex_to_text(tex: str, macros: dict[str, str | list] | None = None) -> str:
    """Plain Unicode text for inline TeX math, as a reader would write it.

    Greek letters and common symbols become their Unicode characters, ``\\mathbb{R}`` becomes
    ``ℝ``, ``\\mathcal{L}`` becomes ``ℒ``, ``\\bar{W}`` becomes ``W̄`` (combining macron), simple sub-
    and superscripts become Unicode sub- and superscripts (``W_1^\\top`` -> ``W₁ᵀ``) and others
    ``_(...)`` / ``^(...)``, ``\\frac{a}{b}`` becomes ``a/b``. No backslash or brace is left.

    Parameters
    ----------
    tex : str
        TeX math, without its ``$`` delimiters.
    macros : dict or None, optional
        The book's macros (:func:`read_macros`), expanded first.

    Returns
    -------
    str
        The text.

    Examples
    --------
    >>> tex_to_text(r"\\max_i\\|W_i(0)\\|_F^2")
    'maxᵢ‖Wᵢ(0)‖_F²'
    >>> tex_to_text(r"\\Sbar", {"Sbar": r"\\bar{\\Sigma}"})
    'Σ̄'
    """
    text = _convert(expand_macros(tex, macros or {}))
    return re.sub(r"\s+", " ", text).strip()  # relations are spaced once


# --------------------------------------------------------------------------------------------
# Figure and equation numbers, as Sphinx numfig shows them
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookNumbers:
    """Numbers the book shows for its labelled figures, tables and equations.

    Attributes
    ----------
    figures : dict of str to str
        Figure label to its number, e.g. ``{"fig-ch02-flow": "2.1"}``.
    tables : dict of str to str
        Table label to its number.
    equations : dict of str to str
        Equation label to its number, e.g. ``{"eq-ch02-invariants": "2.1"}``.
    chapters : dict of str to int
        Chapter file stem to its number, e.g. ``{"ch02_invariants": 2}``.
    """

    figures: dict[str, str]
    tables: dict[str, str]
    equations: dict[str, str]
    chapters: dict[str, int]


_FIGURE_BLOCK = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{(?P<kind>glue:figure|figure|table|list-table)\}[^\n]*\n"
    r"(?P<opts>(?:[ \t]*:[\w-]+:[^\n]*\n)*)",
    re.M,
)
_MATH_LABEL = re.compile(
    r"\$\$[ \t]*\((?P<label>[^)\s]+)\)"
    r"|^(?:`{3,}|:{3,})\{math\}[^\n]*\n(?:[ \t]*:[\w-]+:[^\n]*\n)*?[ \t]*:label:[ \t]*(?P<label2>\S+)",
    re.M,
)


def _numbered_chapters(toc: Path) -> list[str]:
    import yaml

    if not Path(toc).exists():  # no book (e.g. a bare copy of the package): nothing is numbered
        return []
    data = yaml.safe_load(Path(toc).read_text(encoding="utf-8")) or {}
    files = []
    for part in data.get("parts", []):
        if part.get("numbered"):
            files += [Path(c["file"]).name for c in part.get("chapters", []) if "file" in c]
    return files


def _markdown_cells(nb_path: Path) -> list[str]:
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def book_numbers(root: Path, *, notebooks: Path | None = None) -> BookNumbers:
    """Figure, table and equation numbers of the chapters, as the built book shows them.

    Chapters are numbered in the order of the numbered parts of ``_toc.yml``; inside chapter
    ``k``, each captioned figure directive with a ``:name:`` (``{glue:figure}`` or ``{figure}``)
    is numbered ``k.1, k.2, ...`` in document order, tables (``{table}``, ``{list-table}`` with a
    ``:name:``) likewise, and each labelled display equation (``$$ ... $$ (label)`` or a ``:label:``
    option of a ``{math}`` block) ``k.1, k.2, ...`` (Sphinx ``numfig`` with ``numfig_secnum_depth: 1``).

    Parameters
    ----------
    root : pathlib.Path
        Repository root (reads ``_toc.yml``).
    notebooks : pathlib.Path or None, optional
        Keyword-only. Folder of the chapter notebooks; default ``book/chapters`` under ``root``,
        falling back to ``book/src`` for a chapter not executed yet.

    Returns
    -------
    BookNumbers
        The numbers by label.
    """
    from ._paths import EXECUTED_DIR, SOURCE_DIR

    root = Path(root)
    figures, tables, equations, chapters = {}, {}, {}, {}
    for k, stem in enumerate(_numbered_chapters(root / "_toc.yml"), start=1):
        chapters[stem] = k
        candidates = [Path(notebooks) / f"{stem}.ipynb"] if notebooks else []
        candidates += [root / EXECUTED_DIR / f"{stem}.ipynb", root / SOURCE_DIR / f"{stem}.ipynb"]
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            continue
        text = "\n".join(_markdown_cells(path))
        n_fig = n_tab = n_eq = 0
        for m in _FIGURE_BLOCK.finditer(text):
            name = re.search(r":name:[ \t]*(\S+)", m["opts"])
            if not name:
                continue
            if m["kind"] in ("glue:figure", "figure"):
                n_fig += 1
                figures[name[1]] = f"{k}.{n_fig}"
            else:
                n_tab += 1
                tables[name[1]] = f"{k}.{n_tab}"
        for m in _MATH_LABEL.finditer(text):
            n_eq += 1
            equations[m["label"] or m["label2"]] = f"{k}.{n_eq}"
    return BookNumbers(figures, tables, equations, chapters)


# --------------------------------------------------------------------------------------------
# Caption (MyST Markdown) -> plain text
# --------------------------------------------------------------------------------------------


def read_bib_authors(bib: Path) -> dict[str, tuple[str, str]]:
    """Author–year citation parts of each entry of a BibTeX file.

    Parameters
    ----------
    bib : pathlib.Path
        The ``.bib`` file.

    Returns
    -------
    dict of str to (str, str)
        Key to ``(authors, year)`` as cited in the text: ``"Chitour et al."``, ``"Trager and Kohn"``.
    """
    out = {}
    text = Path(bib).read_text(encoding="utf-8")
    for m in re.finditer(r"@\w+\{([^,\s]+),(.*?)\n\}", text, re.S):
        fields = {}
        for f in re.finditer(r"(\w+)\s*=\s*(?=\{)", m[2]):
            fields[f[1].lower()] = _read_arg(m[2], f.end())[0]
        names = [n.strip() for n in fields.get("author", "").split(" and ") if n.strip()]
        last = [re.sub(r"[{}]|\\.", "", n.split(",")[0] if "," in n else n.split()[-1]) for n in names]
        who = last[0] + " et al." if len(last) > 2 else " and ".join(last)
        out[m[1]] = (who, fields.get("year", "n.d."))
    return out


def _role_text(role: str, body: str, *, numbers: BookNumbers | None, bib: dict) -> str:
    explicit = re.fullmatch(r"(?s)(.*?)\s*<([^>]*)>\s*", body)
    title, target = (explicit[1], explicit[2]) if explicit else ("", body.strip())
    if role == "eq":
        number = numbers.equations.get(target) if numbers else None
        return f"({number})" if number else f"({title or target})"
    if role == "numref":
        for kind, table in (("Fig.", "figures"), ("Table", "tables")):
            number = getattr(numbers, table).get(target) if numbers else None
            if number:
                return title.replace("%s", number).replace("{number}", number) if title else f"{kind} {number}"
        return title or target
    if role.startswith("cite"):
        parts = [bib.get(key.strip(), (key.strip(), "")) for key in target.split(",")]
        if role in ("cite:t", "cite:ts"):
            return "; ".join(f"{who} ({year})" for who, year in parts)
        return "(" + "; ".join(f"{who}, {year}" for who, year in parts) + ")"
    return title or target


def caption_to_text(
    caption: str,
    *,
    glued: dict[str, str] | None = None,
    numbers: BookNumbers | None = None,
    macros: dict[str, str | list] | None = None,
    bib: dict[str, tuple[str, str]] | None = None,
) -> str:
    """A MyST caption as one line of plain text: math rendered, references resolved.

    Parameters
    ----------
    caption : str
        The caption, MyST Markdown.
    glued : dict of str to str or None, optional
        Keyword-only. Glued values (``{glue}`key``` and ``{glue:text}`key:fmt```).
    numbers : BookNumbers or None, optional
        Keyword-only. For ``{eq}`` (``"(2.1)"``) and ``{numref}`` (``"Fig. 2.1"``, ``"Table 3.1"``).
    macros : dict or None, optional
        Keyword-only. The book's math macros (:func:`read_macros`).
    bib : dict or None, optional
        Keyword-only. :func:`read_bib_authors` of the bibliography, for ``{cite:t}``/``{cite:p}``.

    Returns
    -------
    str
        Plain text: no ``$``, backslash command, MyST role or Markdown emphasis left.

    Examples
    --------
    >>> caption_to_text("Loss of {glue}`n` runs, $\\\\bar\\\\L(0)e^{-t}$, see {prf:ref}`Lemma 2.3 <notes-lemma-2-3>`.",
    ...                 glued={"n": "12"}, macros={"L": r"\\mathcal{L}"})
    'Loss of 12 runs, ℒ̄(0)e^(−t), see Lemma 2.3.'
    """
    glued = glued or {}
    bib = bib or {}

    def glue(m: re.Match) -> str:
        from .report import glued_value

        value = glued_value(glued, m["body"])
        return m["body"].partition(":")[0] if value is None else value

    text = re.sub(r"\{glue(?::text|:md)?\}`(?P<body>[^`]+)`", glue, caption)
    text = re.sub(
        r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`",
        lambda m: _role_text(m["role"], m["body"], numbers=numbers, bib=bib),
        text,
    )
    # math (display first), then inline code, then emphasis
    text = re.sub(r"\$\$(.+?)\$\$", lambda m: tex_to_text(m[1], macros), text, flags=re.S)
    text = re.sub(r"(?<!\\)\$(.+?)(?<!\\)\$", lambda m: tex_to_text(m[1], macros), text, flags=re.S)
    text = re.sub(r"``?([^`]+)``?", r"\1", text)
    text = re.sub(r"\*\*(.+?)\*\*|(?<!\w)\*(\S.*?)\*(?!\w)", lambda m: m[1] or m[2], text)
    text = text.replace("\\$", "$")
    return re.sub(r"\s+", " ", text).strip()


# --------------------------------------------------------------------------------------------
# The work (CITATION.cff) and the citation of one figure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """The companion as a citable work (from ``CITATION.cff``).

    Attributes
    ----------
    authors : tuple of str
        Author names as they should be printed.
    title : str
        Title.
    year : str
        Year of release.
    version : str
        Version.
    url : str or None
        Repository URL (``repository-code`` or ``url``), or ``None`` when not set.
    """

    authors: tuple[str, ...]
    title: str
    year: str
    version: str
    url: str | None


def read_work(cff: Path) -> Work:
    """Read the companion's citation metadata.

    Parameters
    ----------
    cff : pathlib.Path
        ``CITATION.cff``.

    Returns
    -------
    Work
        Authors (``name``, or ``given-names family-names``), title, year of ``date-released``,
        version and repository URL (``None`` if neither ``repository-code`` nor ``url`` is set).

    Raises
    ------
    ValueError
        If the file has no title or no authors.
    """
    import yaml

    data = yaml.safe_load(Path(cff).read_text(encoding="utf-8")) or {}
    authors = tuple(
        a.get("name") or " ".join(p for p in (a.get("given-names"), a.get("family-names")) if p)
        for a in data.get("authors", [])
    )
    if not data.get("title") or not authors:
        raise ValueError(f"{cff}: CITATION.cff needs a title and at least one author")
    url = data.get("repository-code") or data.get("url") or None
    return Work(
        authors=authors,
        title=str(data["title"]),
        year=str(data.get("date-released", ""))[:4] or "n.d.",
        version=str(data.get("version", "")),
        url=str(url) if url else None,
    )


def citation_text(work: Work, *, number: str, caption: str, commit: str, files: str) -> str:
    """The plain-text citation of one figure.

    Parameters
    ----------
    work : Work
        The companion (:func:`read_work`).
    number : str
        The figure's number as the book shows it, e.g. ``"2.1"``.
    caption : str
        The caption as plain text (:func:`caption_to_text`).
    commit : str
        The git commit the figure was computed from.
    files : str
        Where the figure's files are, e.g. ``"figures/ch02_invariants/flow.{pdf,png,svg}"``.

    Returns
    -------
    str
        ``"<authors> (<year>). <title>, version <v>, commit <c>, Fig. <n>: <caption> <URL>. Files: <files>."``
    """
    authors = ", ".join(work.authors)
    caption = caption.rstrip()
    if caption and caption[-1] not in ".!?":
        caption += "."
    return (
        f"{authors} ({work.year}). {work.title}, version {work.version}, commit {commit}. "
        f"Fig. {number}: {caption} {work.url or URL_PLACEHOLDER}. Files: {files}."
    )


def _bib_escape(text: str) -> str:
    return re.sub(r"([&%#_$])", r"\\\1", text.replace("{", r"\{").replace("}", r"\}"))


def bibtex_entry(work: Work, *, number: str, caption: str, commit: str, files: str) -> str:
    """A BibTeX ``@misc`` entry for one figure (same fields as :func:`citation_text`).

    Parameters
    ----------
    work : Work
        The companion (:func:`read_work`).
    number : str
        The figure's number, e.g. ``"2.1"`` (the key is ``dln-companion-fig-2-1``).
    caption : str
        The caption as plain text.
    commit : str
        The git commit.
    files : str
        Where the figure's files are.

    Returns
    -------
    str
        The entry, one field per line. Special characters of the caption are escaped;
        Unicode is kept (BibLaTeX/biber and UTF-8 BibTeX read it).
    """
    fields = [
        ("author", " and ".join("{" + _bib_escape(a) + "}" for a in work.authors)),
        ("title", "{" + _bib_escape(work.title) + f"}}, {{Fig. {number}}}"),
        ("year", work.year),
        ("version", _bib_escape(work.version)),
        ("note", _bib_escape(f"Fig. {number}: {caption} Commit {commit}. Files: {files}.")),
        ("url", work.url) if work.url else ("howpublished", _bib_escape(URL_PLACEHOLDER)),
    ]
    key = "dln-companion-fig-" + number.replace(".", "-")
    body = ",\n".join(f"  {name:<12} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}"
