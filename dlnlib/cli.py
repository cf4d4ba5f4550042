"""Command line: run a chapter with parameters, list chapters, execute the whole book.

Usage::

    python -m dlnlib --list                         # chapters and their parameters
    python -m dlnlib run ch02 -p n_steps 200 -p seed 3
    python -m dlnlib execute                         # every chapter, default parameters (book build)

``run`` validates parameter names and types against the chapter's ``parameters`` cell,
executes a copy with papermill into ``runs/<chapter>-<hash of parameters>/`` (figures in its
``figures/`` subfolder) and never writes over the sources or an earlier run.
``execute`` writes the executed chapters to ``book/chapters/`` for Jupyter Book, skipping
chapters whose source, parameters and ``dlnlib`` code are unchanged (execution cache), and
writes an execution report and the Figures page.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._paths import EXECUTED_DIR, FIGURES_DIR, SOURCE_DIR, repo_root

__all__ = ["ChapterSource", "find_chapter", "list_chapters", "main", "validate_parameters"]


@dataclass(frozen=True)
class ChapterSource:
    """A chapter notebook and the defaults of its ``parameters`` cell.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"ch02_invariants"``.
    path : pathlib.Path
        The source notebook.
    title : str
        The chapter title.
    defaults : dict
        Parameter names and their default values.
    """

    name: str
    path: Path
    title: str
    defaults: dict[str, Any]


def _read_nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _parameters_cell(nb: dict) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return "".join(cell["source"])
    raise ValueError("notebook has no cell tagged 'parameters'")


def _defaults(source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def _title(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def list_chapters(root: Path | None = None) -> list[ChapterSource]:
    """All chapters (``book/src/*.ipynb``), in file-name order.

    Parameters
    ----------
    root : pathlib.Path or None, optional
        Repository root (default: :func:`dlnlib.plotting.repo_root`).

    Returns
    -------
    list of ChapterSource
        The chapters.
    """
    root = root or repo_root()
    out = []
    for p in sorted((root / SOURCE_DIR).glob("*.ipynb")):
        nb = _read_nb(p)
        out.append(ChapterSource(p.stem, p, _title(nb, p.stem), _defaults(_parameters_cell(nb))))
    return out


def find_chapter(key: str, root: Path | None = None) -> ChapterSource:
    """Find a chapter by file stem (``ch02_invariants``), prefix (``ch02``) or number (``2``).

    Parameters
    ----------
    key : str
        File stem, prefix or number.
    root : pathlib.Path or None, optional
        Repository root (default: :func:`dlnlib.plotting.repo_root`).

    Returns
    -------
    ChapterSource
        The only matching chapter.

    Raises
    ------
    SystemExit
        If ``key`` matches no chapter or several.
    """
    return _match(key, list_chapters(root))


def _match(key: str, chapters: list[ChapterSource]) -> ChapterSource:
    """The only chapter of ``chapters`` matching ``key`` (see :func:`find_chapter`)."""
    k = key.strip()
    if k.isdigit():
        k = f"ch{int(k):02d}"
    hits = [c for c in chapters if c.name == k] or [c for c in chapters if c.name.startswith(k)]
    if len(hits) != 1:
        names = ", ".join(c.name for c in chapters)
        what = "is ambiguous" if hits else "matches no chapter"
        raise SystemExit(f"error: chapter {key!r} {what}; chapters: {names}")
    return hits[0]


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _type_ok(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if default is None:
        return True
    return isinstance(value, type(default))


def validate_parameters(chapter: ChapterSource, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Parse ``-p name value`` pairs and check them against the chapter's parameters cell.

    Values are parsed as Python literals (else kept as strings); an ``int`` given for a ``float``
    parameter is converted.

    Parameters
    ----------
    chapter : ChapterSource
        The chapter.
    pairs : list of tuple of str
        ``(name, value)`` pairs as typed on the command line.

    Returns
    -------
    dict
        Parsed values by parameter name.

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones) or a value of the wrong type.
    """
    out: dict[str, Any] = {}
    for name, text in pairs:
        if name not in chapter.defaults:
            valid = ", ".join(f"{k} (default {v!r})" for k, v in chapter.defaults.items())
            raise ValueError(f"unknown parameter {name!r} for {chapter.name}; valid parameters: {valid}")
        value = _parse_value(text)
        default = chapter.defaults[name]
        if not _type_ok(default, value):
            raise ValueError(
                f"parameter {name!r} of {chapter.name} expects {type(default).__name__} "
                f"(default {default!r}), got {value!r} ({type(value).__name__})"
            )
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        out[name] = value
    return out


def _params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]


def _execute(chapter: ChapterSource, out_nb: Path, params: dict[str, Any], figures: Path, progress: bool) -> float:
    import papermill as pm

    out_nb.parent.mkdir(parents=True, exist_ok=True)
    env_before = os.environ.get("DLN_FIGURES_DIR")
    os.environ["DLN_FIGURES_DIR"] = str(figures)
    os.environ.setdefault("MPLBACKEND", "agg")
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(chapter.path),
            str(out_nb),
            parameters=params,
            kernel_name="python3",
            cwd=str(out_nb.parent),
            progress_bar=progress,
            report_mode=False,
        )
    except pm.PapermillExecutionError as exc:
        first_line = ""
        try:
            cells = _read_nb(out_nb)["cells"]
            cell = next(c for c in cells if any(o.get("output_type") == "error" for o in c.get("outputs", [])))
            first_line = "".join(cell["source"]).strip().splitlines()[0]
        except (OSError, ValueError, IndexError, KeyError, StopIteration):
            pass
        raise RuntimeError(
            f"chapter {chapter.name} failed in cell {exc.exec_count} (`{first_line}`): "
            f"{exc.ename}: {exc.evalue}\n(the partially executed notebook is {out_nb})"
        ) from None
    finally:
        if env_before is None:
            os.environ.pop("DLN_FIGURES_DIR", None)
        else:
            os.environ["DLN_FIGURES_DIR"] = env_before
    return time.perf_counter() - t0


def cmd_run(args: argparse.Namespace) -> int:
    """The ``run`` command: execute one chapter with parameters into a new folder under ``runs/``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``chapter``, ``parameter``, ``output``, ``quiet``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 if execution failed, 2 for invalid parameters.
    """
    chapter = find_chapter(args.chapter)
    try:
        params = validate_parameters(chapter, [tuple(p) for p in args.parameter or []])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = Path(args.output) if args.output else repo_root() / "runs"
    merged = {**chapter.defaults, **params}
    stem = f"{chapter.name}-{_params_hash(merged)}"
    folder = base / stem
    n = 1
    while folder.exists():  # never overwrite an earlier run
        n += 1
        folder = base / f"{stem}-{n}"
    folder.mkdir(parents=True)
    (folder / "parameters.json").write_text(
        json.dumps({"chapter": chapter.name, "parameters": merged}, indent=2) + "\n"
    )
    try:
        secs = _execute(chapter, folder / f"{chapter.name}.ipynb", params, folder / "figures", not args.quiet)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{chapter.name}: executed in {secs:.1f} s with {params or 'default parameters'}")
    print(f"notebook: {folder / (chapter.name + '.ipynb')}")
    print(f"figures:  {folder / 'figures' / chapter.name}")
    return 0


def cmd_list(_args: argparse.Namespace) -> int:
    """The ``list`` command: print every chapter with its parameters and their defaults.

    Parameters
    ----------
    _args : argparse.Namespace
        Parsed arguments (unused).

    Returns
    -------
    int
        Exit status 0.
    """
    for c in list_chapters():
        print(f"{c.name}: {c.title}")
        for k, v in c.defaults.items():
            print(f"    {k} = {v!r}  ({type(v).__name__})")
    return 0


def _code_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((root / "dlnlib").glob("*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _cache_key(chapter: ChapterSource, code_hash: str) -> str:
    h = hashlib.sha256(chapter.path.read_bytes())
    h.update(code_hash.encode())
    return h.hexdigest()[:16]


def cmd_execute(args: argparse.Namespace) -> int:
    """The ``execute`` command: execute the chapters for the book, with an execution cache.

    Writes ``book/chapters/``, the execution report and the Figures page.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``force``, ``only``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 if some chapter failed.
    """
    from .report import write_execution_report, write_figures_page

    root = repo_root()
    out_dir = root / EXECUTED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / "execution.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    code_hash = _code_hash(root)
    all_chapters = list_chapters(root)
    chapters = [_match(k, all_chapters) for k in args.only] if args.only else all_chapters
    failed = []
    for c in chapters:
        key = _cache_key(c, code_hash)
        out_nb = out_dir / f"{c.name}.ipynb"
        cached = report.get(c.name, {})
        if not args.force and out_nb.exists() and cached.get("cache_key") == key and cached.get("status") == "ok":
            print(f"{c.name}: unchanged, using cached execution ({cached['seconds']:.1f} s originally)")
            continue
        print(f"{c.name}: executing ...", flush=True)
        base = {"cache_key": key, "parameters": c.defaults, "title": c.title}
        try:
            secs = _execute(c, out_nb, {}, root / FIGURES_DIR, progress=False)
            report[c.name] = {
                **base,
                "seconds": secs,
                "status": "ok",
                "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            }
            print(f"{c.name}: done in {secs:.1f} s")
        except RuntimeError as exc:
            report[c.name] = {**base, "seconds": float("nan"), "status": "failed", "error": str(exc)}
            failed.append(c.name)
            print(f"error: {exc}", file=sys.stderr)
        report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    names = {c.name for c in all_chapters}
    report = {k: v for k, v in report.items() if k in names}
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    write_execution_report(report, out_dir / "execution.md")
    write_figures_page(root, out_dir / "figures.md")
    if failed:
        print(f"error: {len(failed)} chapter(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dlnlib``.

    Parameters
    ----------
    argv : list of str or None, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(prog="python -m dlnlib", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list chapters and their parameters")
    sub = parser.add_subparsers(dest="command")
    p_run = sub.add_parser("run", help="execute one chapter with parameters into a new output folder")
    p_run.add_argument("chapter", help="chapter name, prefix (ch02) or number (2)")
    p_run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
    p_run.add_argument("-o", "--output", help="parent folder for run outputs (default: runs/)")
    p_run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p_run.add_argument(
        "--scheduler", help="dask scheduler for chapters that map work (ch07): tcp://HOST:8786, or 'local'"
    )
    p_exe = sub.add_parser("execute", help="execute every chapter with default parameters for the book")
    p_exe.add_argument("--force", action="store_true", help="ignore the execution cache")
    p_exe.add_argument("only", nargs="*", help="only these chapters")
    sub.add_parser("list", help="list chapters and their parameters")
    from . import campaign

    campaign.add_arguments(sub.add_parser("campaign", help="run or resume an OVF campaign (streams to Parquet)"))
    args = parser.parse_args(argv)
    if args.list or args.command == "list":
        return cmd_list(args)
    if args.command == "run":
        if args.scheduler:  # read by the chapter kernel (a child process): dlnlib.campaign.executor_for
            os.environ["DLN_SCHEDULER"] = args.scheduler
        return cmd_run(args)
    if args.command == "campaign":
        return campaign.cmd_campaign(args)
    if args.command == "execute":
        return cmd_execute(args)
    parser.print_help()
    return 2
