"""Command line: run a chapter with parameters, list chapters, execute the whole book.

Usage::

    python -m dlnlib --list                         # chapters, their parameters and descriptions
    python -m dlnlib run ch02 -p n_steps 200 -p seed 3
    python -m dlnlib runs                            # earlier runs and whether they completed
    python -m dlnlib execute [--jobs N]              # every chapter, default parameters (book build)
    python -m dlnlib ledger [--json]                 # the Results ledger of the executed chapters

``run`` validates every parameter against the schema declared in the chapter's ``parameters``
cell (type, element type, range, length; see ``dlnlib.companion._schema``) before any kernel starts,
estimates the run time from the chapter's ``# cost:`` line and its last recorded execution
(refusing more than :data:`WORK_LIMIT_SECONDS` without ``--yes``), then executes a copy with
papermill into ``runs/<chapter>-<changed parameters>-<hash of parameters>/`` (e.g.
``runs/ch02_invariants-seed3-<hash>/``; figures in its ``figures/`` subfolder), never writing over
the sources or an earlier run. It then prints the chapter's verdict, each check it recorded for the
Results ledger and the glued numbers that differ from the book's run at the defaults, and writes
``index.html`` (the executed chapter as an offline page) and ``figures.md`` (each figure file and
its number in the book); see :mod:`dlnlib.companion.rerun`. The folder's ``status.json`` is
written last: a folder without it is an interrupted run.
``execute`` writes the executed chapters to ``book/chapters/`` for Jupyter Book, skipping
chapters whose source and ``dlnlib`` code are unchanged (execution cache), and writes an
execution report and the Figures page. It runs ``--jobs`` chapters at once (default: the CPU
count), each in a worker process, its kernel with one BLAS thread (``KERNEL_THREADS``), longest
first. A chapter is executed into a temporary notebook and
figure folder that replace the old ones only after success; its execution record
(``book/chapters/.records/<chapter>.json``, one file per chapter so that concurrent commands
lose nothing) is marked ``running`` before and ``ok`` only after the swap.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _schema
from ._paths import EXECUTED_DIR, FIGURES_DIR, SOURCE_DIR, repo_root
from .rerun import run_folder_stem

__all__ = [
    "WORK_LIMIT_SECONDS",
    "ChapterSource",
    "estimate_seconds",
    "find_chapter",
    "list_chapters",
    "main",
    "validate_parameters",
]

WORK_LIMIT_SECONDS = 900.0
"""Estimated run time (s) above which ``run`` asks for ``--yes``."""

FALLBACK_SECONDS = 20.0
"""Run time assumed at the defaults when a chapter has no execution record yet."""

RECORDS_DIR = ".records"
"""Per-chapter execution records, inside ``book/chapters``."""


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
    schema : dict of str to dlnlib.companion._schema.ParamSpec
        The declared schema of each parameter (empty when not given, e.g. for a test notebook).
    cost : str or None
        The ``# cost:`` expression of the parameters cell.
    schema_error : str or None
        Why the parameters cell's schema comments could not be read (``run`` refuses such a chapter).
    """

    name: str
    path: Path
    title: str
    defaults: dict[str, Any]
    schema: dict[str, _schema.ParamSpec] = field(default_factory=dict)
    cost: str | None = None
    schema_error: str | None = None


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


def _load(path: Path) -> ChapterSource:
    nb = _read_nb(path)
    src = _parameters_cell(nb)
    try:
        schema, cost, error = _schema.parse_schema(src), _schema.parse_cost(src), None
    except (ValueError, SyntaxError) as exc:
        schema, cost, error = {}, None, f"{path.name}: {exc}"
    return ChapterSource(path.stem, path, _title(nb, path.stem), _defaults(src), schema, cost, error)


def list_chapters(root: Path | None = None) -> list[ChapterSource]:
    """All chapters (``book/src/*.ipynb``), in file-name order.

    Parameters
    ----------
    root : pathlib.Path or None, optional
        Repository root (default: the repository holding this package, ``dlnlib.companion._paths.repo_root()``).

    Returns
    -------
    list of ChapterSource
        The chapters (with ``schema_error`` set if a parameters cell lacks valid schema comments).
    """
    root = root or repo_root()
    return [_load(p) for p in sorted((root / SOURCE_DIR).glob("*.ipynb"))]


def find_chapter(key: str, root: Path | None = None) -> ChapterSource:
    """Find a chapter by file stem (``ch02_invariants``), prefix (``ch02``) or number (``2``).

    Parameters
    ----------
    key : str
        File stem, prefix or number.
    root : pathlib.Path or None, optional
        Repository root (default: the repository holding this package, ``dlnlib.companion._paths.repo_root()``).

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
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _type_ok(default: Any, value: Any) -> bool:
    """Top-level type check, for a chapter without a declared schema."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    if default is None:
        return True
    return isinstance(value, type(default))


def validate_parameters(chapter: ChapterSource, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Parse ``-p name value`` pairs and check them against the chapter's declared schema.

    Values are parsed as Python literals (else kept as strings) and checked for type, element
    type, range, length and allowed values (``dlnlib.companion._schema.check_value``); an ``int`` given
    for a ``float`` is converted. A chapter without a schema gets a top-level type check.

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
        For an unknown name (listing the valid ones) or a value that breaks the schema.
    """
    if chapter.schema_error:
        raise ValueError(f"cannot check the parameters of {chapter.name}: {chapter.schema_error}")
    out: dict[str, Any] = {}
    for name, text in pairs:
        if name not in chapter.defaults:
            valid = ", ".join(f"{k} (default {v!r})" for k, v in chapter.defaults.items())
            raise ValueError(f"unknown parameter {name!r} for {chapter.name}; valid parameters: {valid}")
        value = _parse_value(text)
        default = chapter.defaults[name]
        if name in chapter.schema:
            try:
                value = _schema.check_value(chapter.schema[name], value)
            except ValueError as exc:
                raise ValueError(f"{chapter.name}: {exc}") from None
        elif not _type_ok(default, value):
            raise ValueError(
                f"parameter {name!r} of {chapter.name} expects {type(default).__name__} "
                f"(default {default!r}), got {value!r} ({type(value).__name__})"
            )
        elif isinstance(default, float) and isinstance(value, int):
            value = float(value)
        out[name] = value
    return out


def _fallback_cost(params: dict[str, Any], defaults: dict[str, Any]) -> float:
    """Work ratio without a ``# cost:`` line: the product of every growth of a number or list length."""
    ratio = 1.0
    for k, d in defaults.items():
        v = params.get(k, d)
        if isinstance(d, bool) or isinstance(v, bool):
            continue
        if isinstance(d, (int, float)) and isinstance(v, (int, float)) and d > 0 and v > 0:
            ratio *= max(1.0, v / d)
        elif isinstance(d, (list, tuple)) and isinstance(v, (list, tuple)) and len(d) > 0:
            ratio *= max(1.0, len(v) / len(d))
    return ratio


def _read_record(root: Path, name: str) -> dict:
    path = root / EXECUTED_DIR / RECORDS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def estimate_seconds(chapter: ChapterSource, params: dict[str, Any], root: Path | None = None) -> tuple[float, float]:
    """Estimated run time of ``chapter`` at ``params`` (the defaults overridden by them).

    The chapter's ``# cost:`` expression (or, without one, the product of the growth of every number
    and list length over its default) evaluated at the parameters and divided by its value at the
    defaults gives a work ratio; the run time at the defaults is the last successful ``execute``
    (``FALLBACK_SECONDS`` without a record).

    Parameters
    ----------
    chapter : ChapterSource
        The chapter.
    params : dict
        Validated parameters (others keep their defaults).
    root : pathlib.Path or None, optional
        Repository root (default: the repository holding this package, ``dlnlib.companion._paths.repo_root()``).

    Returns
    -------
    seconds : float
        Estimated run time.
    ratio : float
        Work relative to the defaults.
    """
    merged = {**chapter.defaults, **params}
    if chapter.cost is not None:
        base = _schema.chapter_cost(chapter.cost, chapter.defaults)
        ratio = _schema.chapter_cost(chapter.cost, merged) / base if base > 0 else 1.0
    else:
        ratio = _fallback_cost(merged, chapter.defaults)
    rec = _read_record(root or repo_root(), chapter.name)
    secs = rec.get("seconds") if rec.get("status") == "ok" else None
    base_secs = float(secs) if isinstance(secs, (int, float)) and math.isfinite(secs) else FALLBACK_SECONDS
    return base_secs * max(ratio, 0.0), ratio


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and move it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
"""Extra kernel arguments: a local kernel's "running over TCP without encryption" warning is noise."""


class _PapermillInferenceNoise(logging.Filter):
    """Drop papermill's parameter-inference warnings.

    Papermill reads the ``parameters`` cell to guess the parameters; the schema comments
    (``# int, >= 0: ...``) defeat its parser ("Unable to parse line", then "Passed unknown
    parameter"). The command line has already checked every parameter against the schema.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("Unable to parse line", "Passed unknown parameter"))


_PAPERMILL_FILTER = _PapermillInferenceNoise()


class _DeadKernelEcho(logging.Filter):
    """Drop asyncio's "exception was never retrieved" echo of a dead kernel.

    When a kernel is shut down under an interrupt (or dies), the client's pending futures hold
    nbclient's ``DeadKernelError``; asyncio logs each uncollected one with a traceback. The death itself
    is reported once, by :func:`_execute` (with the kernel's log) or by the interrupt message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {type(record.exc_info[1]).__name__}"
        return not ("never retrieved" in text and ("DeadKernelError" in text or "Kernel died" in text))


_ASYNCIO_FILTER = _DeadKernelEcho()


def _kernel_manager_writing_stderr_to(log):
    """A kernel-manager class whose kernels write their own stderr to the open file ``log``.

    A kernel's process log (e.g. the traceback ipykernel prints when its sockets close under an
    interrupted run) is not the chapter's output: cell output is captured in the notebook, and the
    log is shown only when the execution fails.
    """
    from jupyter_client.manager import AsyncKernelManager

    class _KernelManager(AsyncKernelManager):
        stderr_log = log  # the open file the kernels' stderr goes to

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            kw["stderr"] = self.stderr_log
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return _KernelManager


KERNEL_START_ATTEMPTS = 3
"""Kernel starts tried when a kernel dies binding its ports (see :func:`_lost_port_race`)."""


def _lost_port_race(log_tail: str) -> bool:
    """Whether a kernel died because another process took one of the free ports it was given.

    jupyter_client picks free TCP ports in the parent, and the kernel binds them later; two kernels
    started at once by parallel ``execute`` workers can be handed the same port. Such a kernel dies
    while binding, at start-up, before it runs any cell, so starting another kernel is safe; the kernel's
    log, not the client's error, tells this death from others.
    """
    return "Address already in use" in log_tail


def _log_tail(log, n: int = 15) -> str:
    log.flush()
    log.seek(0)
    lines = log.read().decode(errors="replace").strip().splitlines()
    return ("\n(kernel log, last lines:\n" + "\n".join(lines[-n:]) + ")") if lines else ""


def _execute(
    chapter: ChapterSource,
    out_nb: Path,
    params: dict[str, Any],
    figures: Path,
    progress: bool,
    *,
    cwd: Path | None = None,
) -> float:
    import papermill as pm

    for name in ("papermill", "papermill.translators"):
        logging.getLogger(name).addFilter(_PAPERMILL_FILTER)
    logging.getLogger("asyncio").addFilter(_ASYNCIO_FILTER)
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    env_before = os.environ.get("DLN_FIGURES_DIR")
    os.environ["DLN_FIGURES_DIR"] = str(figures)
    os.environ.setdefault("MPLBACKEND", "agg")
    t0 = time.perf_counter()
    log = tempfile.TemporaryFile()
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            log.seek(0)
            log.truncate()
            try:
                pm.execute_notebook(
                    str(chapter.path),
                    str(out_nb),
                    parameters=params,
                    kernel_name="python3",
                    cwd=str(cwd or out_nb.parent),
                    progress_bar=progress,
                    report_mode=False,
                    extra_arguments=KERNEL_ARGUMENTS,
                    kernel_manager_class=_kernel_manager_writing_stderr_to(log),
                )
                break
            except RuntimeError as exc:  # e.g. the kernel died (nbclient's DeadKernelError): its log says why
                tail = _log_tail(log)
                if attempt < KERNEL_START_ATTEMPTS and _lost_port_race(tail):
                    continue  # the kernel died binding its ports, before running any cell: start another
                raise RuntimeError(f"chapter {chapter.name}: {exc}{tail}") from None
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
        log.close()
        if env_before is None:
            os.environ.pop("DLN_FIGURES_DIR", None)
        else:
            os.environ["DLN_FIGURES_DIR"] = env_before
    return time.perf_counter() - t0


def _make_run_folder(base: Path, stem: str) -> Path:
    """Create a new folder ``base/stem`` (``stem-2``, ... if taken); never reuse an existing one."""
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the output folder {base}: {exc.strerror or exc}") from None
    if not base.is_dir():
        raise ValueError(f"cannot create the output folder {base}: it exists and is not a folder")
    n = 1
    while True:
        folder = base / (stem if n == 1 else f"{stem}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1
        except OSError as exc:
            raise ValueError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from None


def run_status(folder: Path) -> str:
    """Status of a run folder: ``"ok"``, ``"failed"`` or ``"incomplete"`` (no ``status.json``: interrupted).

    Parameters
    ----------
    folder : pathlib.Path
        A folder made by ``python -m dlnlib run``.

    Returns
    -------
    str
        The status.
    """
    try:
        return str(json.loads((folder / "status.json").read_text())["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return "incomplete"


def cmd_run(args: argparse.Namespace) -> int:
    """The ``run`` command: execute one chapter with parameters into a new folder under ``runs/``.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``chapter``, ``parameter``, ``output``, ``quiet``, ``yes``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 if execution failed, 2 for invalid parameters, an output folder
        that cannot be created or an estimate above the limit without ``--yes``.
    """
    chapter = find_chapter(args.chapter)
    try:
        params = validate_parameters(chapter, [tuple(p) for p in args.parameter or []])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    secs, ratio = estimate_seconds(chapter, params)
    print(f"{chapter.name}: estimated run time {_human(secs)} ({ratio:.3g} x the work at the default parameters)")
    if secs > WORK_LIMIT_SECONDS and not args.yes:
        print(
            f"error: the estimate exceeds {_human(WORK_LIMIT_SECONDS)}; "
            "lower the parameters or pass --yes to run anyway",
            file=sys.stderr,
        )
        return 2
    # absolute: the kernel runs in the run folder, so a relative path would be resolved twice
    base = Path(args.output).expanduser().resolve() if args.output else repo_root() / "runs"
    merged = {**chapter.defaults, **params}
    try:
        folder = _make_run_folder(base, run_folder_stem(chapter.name, merged, chapter.defaults, _params_hash(merged)))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (folder / "parameters.json").write_text(
        json.dumps({"chapter": chapter.name, "parameters": merged}, indent=2) + "\n"
    )
    status = {"chapter": chapter.name, "status": "failed"}
    try:
        secs = _execute(chapter, folder / f"{chapter.name}.ipynb", params, folder / "figures", not args.quiet)
    except RuntimeError as exc:
        _write_atomic(folder / "status.json", json.dumps({**status, "error": str(exc)}, indent=2) + "\n")
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{chapter.name}: executed in {secs:.1f} s with {params or 'default parameters'}")
    try:
        verdict = _report_run(chapter, folder, merged)
    except Exception as exc:  # a reporting problem must not lose a finished run
        print(f"warning: the run finished but its report failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        verdict = None
    date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    done = {**status, "status": "ok", "seconds": secs, "date": date, "verdict": verdict}
    _write_atomic(folder / "status.json", json.dumps(done) + "\n")
    print(f"folder:   {folder}")
    print(f"notebook: {folder / (chapter.name + '.ipynb')}")
    print(f"page:     {folder / 'index.html'} (offline; open it in a browser)")
    print(f"figure map: {folder / 'figures.md'}")
    print(f"figures:  {folder / 'figures' / chapter.name}")
    return 0


def _report_run(chapter: ChapterSource, folder: Path, merged: dict[str, Any]) -> str | None:
    """Print a finished run's verdict, checks and diff against the book; write its page and figure map.

    Returns the glued verdict value (``None`` if the chapter glues none).
    """
    from . import rerun
    from .report import glued_text

    root = repo_root()
    nb = _read_nb(folder / f"{chapter.name}.ipynb")
    for line in rerun.verdict_lines(nb, chapter.name):
        print(line)
    book_nb = root / EXECUTED_DIR / f"{chapter.name}.ipynb"
    if book_nb.exists():
        rec = _read_record(root, chapter.name)
        stale = "" if rec.get("parameters", chapter.defaults) == chapter.defaults else "; its defaults were different"
        print(f"against the book's run at the defaults ({book_nb.relative_to(root)}{stale}):")
        for line in rerun.glued_diff(glued_text(nb), glued_text(_read_nb(book_nb))):
            print(f"  {line}")
    else:
        print(f"no book run to compare with: {book_nb} is absent (python -m dlnlib execute {chapter.name} makes it)")
    number = rerun.chapter_numbers(root).get(chapter.name)
    figures = folder / "figures" / chapter.name
    changed = {k: v for k, v in merged.items() if chapter.defaults.get(k) != v}
    shown = ", ".join(f"`{k} = {v!r}`" for k, v in changed.items()) or "the default parameters"
    note = (
        f"**Rerun of {chapter.name}** with {shown}; figures numbered as in the book "
        f"(see `figures.md`). Reproduce: `python -m dlnlib run {chapter.name.split('_')[0]}"
        + "".join(f" -p {k} {shlex.quote(repr(v))}" for k, v in changed.items())
        + "`."
    )
    rerun.write_html(
        folder / "index.html",
        nb,
        chapter=chapter.name,
        chapter_number=number,
        root=root,
        figures=figures,
        note=note,
    )
    rerun.write_figure_map(folder / "figures.md", nb, chapter.name, number, figures)
    verdict = glued_text(nb).get(f"{chapter.name}-verdict")
    return verdict.strip("'\"") if verdict else None


def cmd_runs(args: argparse.Namespace) -> int:
    """The ``runs`` command: list the run folders with their status (``incomplete``: interrupted).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``output``).

    Returns
    -------
    int
        Exit status 0.
    """
    base = Path(args.output).expanduser().resolve() if args.output else repo_root() / "runs"
    folders = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    if not folders:
        print(f"no runs in {base}")
    for p in folders:
        print(f"{run_status(p):<10} {p}{_run_verdict(p)}")
    return 0


def _run_verdict(folder: Path) -> str:
    """``"  (verdict: ...)"`` for a finished run that recorded its chapter's verdict, else ``""``."""
    try:
        verdict = json.loads((folder / "status.json").read_text()).get("verdict")
    except (OSError, ValueError, AttributeError):
        return ""
    return f"  (verdict: {verdict})" if verdict else ""


def cmd_list(_args: argparse.Namespace) -> int:
    """The ``list`` command: every chapter with its parameters, defaults, schema and description.

    Also prints a chapter's run time at the defaults in the last ``execute`` (its execution record,
    else ``book/chapters/execution.json``), or says that none is recorded.

    Parameters
    ----------
    _args : argparse.Namespace
        Parsed arguments (unused).

    Returns
    -------
    int
        Exit status 0.
    """
    root = repo_root()
    try:
        report = json.loads((root / EXECUTED_DIR / "execution.json").read_text())
    except (OSError, ValueError):
        report = {}
    for c in list_chapters(root):
        rec = _read_record(root, c.name) or report.get(c.name, {})
        if rec.get("status") == "ok":
            took = f"  [about {rec['seconds']:.0f} s at the defaults]"
        else:
            took = "  [run time not recorded yet: python -m dlnlib execute]"
        print(f"{c.name}: {c.title}{took}")
        if c.schema_error:
            print(f"    (schema error: {c.schema_error})")
        for k, v in c.defaults.items():
            spec = c.schema.get(k)
            if spec is None:
                print(f"    {k} = {v!r}  ({type(v).__name__})")
            else:
                print(f"    {k} = {v!r}  ({spec.constraint_text()}): {spec.description}")
    return 0


#: the book-machinery modules a chapter kernel runs (figures, glue, text); the CLI and report modules are not
_KERNEL_COMPANION = ("chapter.py", "figures.py", "text.py")


def _code_hash(root: Path) -> str:
    """Hash of the code a chapter kernel runs: every ``dlnlib/*.py`` and the companion modules chapters use."""
    h = hashlib.sha256()
    files = sorted((root / "dlnlib").glob("*.py")) + [root / "dlnlib" / "companion" / n for n in _KERNEL_COMPANION]
    for p in files:
        if p.exists():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _cache_key(chapter: ChapterSource, code_hash: str) -> str:
    h = hashlib.sha256(chapter.path.read_bytes())
    h.update(code_hash.encode())
    return h.hexdigest()[:16]


def _write_record(out_dir: Path, name: str, record: dict) -> None:
    folder = out_dir / RECORDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / f"{name}.json", json.dumps(record, indent=2, sort_keys=True) + "\n")


def _all_records(out_dir: Path, names: set[str]) -> dict:
    out = {}
    for p in sorted((out_dir / RECORDS_DIR).glob("*.json")):
        if p.stem in names:
            try:
                out[p.stem] = json.loads(p.read_text())
            except ValueError:  # a record is written atomically; tolerate a foreign file
                continue
    return out


@contextlib.contextmanager
def _chapter_lock(out_dir: Path, name: str):
    """Hold an exclusive lock on one chapter's execution (a second ``execute`` of it waits)."""
    folder = out_dir / RECORDS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _swap_folder(new: Path, dest: Path) -> None:
    """Replace the folder ``dest`` by ``new`` (two renames; the old one is removed afterwards)."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    if new.exists():
        os.replace(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _make_partial_dir(partial: Path, name: str) -> Path:
    """A new temporary folder in ``partial``, which a concurrent execution may remove when it is empty."""
    for _ in range(10):
        partial.mkdir(parents=True, exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(dir=partial, prefix=f"{name}-"))
        except FileNotFoundError:  # removed between the two calls: create it again
            continue
    raise OSError(f"cannot create a temporary folder in {partial}")


KERNEL_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Environment of the book's kernels (``execute``), where not set already: one BLAS thread each.

``execute`` runs as many chapters at once as there are CPUs, and the book's matrices are small: BLAS
threads would only compete with the other chapters (and spin while waiting). The same setting
serially and in parallel keeps the numbers identical whatever ``--jobs``.
"""


@contextlib.contextmanager
def _kernel_threads():
    """Set :data:`KERNEL_THREADS` (unset variables only) for the kernels started inside the block."""
    saved = {k: os.environ.get(k) for k in KERNEL_THREADS}
    for k, v in KERNEL_THREADS.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute_chapter(c: ChapterSource, root: Path, key: str) -> float:
    """Execute ``c`` into temporary files; move notebook and figures into place only on success."""
    out_dir = root / EXECUTED_DIR
    fig_root = root / FIGURES_DIR
    fig_root.mkdir(parents=True, exist_ok=True)
    partial = out_dir / ".partial"  # excluded from the book (_config.yml) and from pytest (hidden)
    # the caller holds this chapter's lock, so any temporary folder of this chapter is left over from a
    # killed execution (SIGKILL, a timeout): never trusted, removed
    for stale in [*partial.glob(f"{c.name}-*"), *fig_root.glob(f".{c.name}-partial-*")]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    work = _make_partial_dir(partial, c.name)
    fig_tmp = Path(tempfile.mkdtemp(dir=fig_root, prefix=f".{c.name}-partial-"))
    tmp_nb = work / f"{c.name}.ipynb"
    try:
        with _kernel_threads():
            secs = _execute(c, tmp_nb, {}, fig_tmp, progress=False, cwd=out_dir)
        _swap_folder(fig_tmp / c.name, fig_root / c.name)
        os.replace(tmp_nb, out_dir / f"{c.name}.ipynb")
    except RuntimeError as exc:  # keep the partial notebook for inspection, out of the book
        kept = partial / f"{c.name}.failed.ipynb"
        if tmp_nb.exists():
            os.replace(tmp_nb, kept)
        raise RuntimeError(str(exc).replace(str(tmp_nb), str(kept))) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(fig_tmp, ignore_errors=True)
        with contextlib.suppress(OSError):  # only if empty (no failed notebook kept)
            partial.rmdir()
    return secs


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: the kernels it ran."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _print_message(text: str, error: bool = False) -> None:
    print(text, file=sys.stderr if error else sys.stdout, flush=True)


def _execute_one(c: ChapterSource, root: Path, key: str, *, force: bool, say=_print_message) -> bool:
    """Execute one chapter for the book unless cached; returns ``False`` if it failed.

    ``say(text, error=False)`` reports progress (default: print to stdout, errors to stderr).
    """
    out_dir = root / EXECUTED_DIR
    cached = _read_record(root, c.name)
    if not force and (out_dir / f"{c.name}.ipynb").exists() and cached.get("cache_key") == key:
        if cached.get("status") == "ok":
            say(f"{c.name}: unchanged, using cached execution ({cached['seconds']:.1f} s originally)")
            return True
    say(f"{c.name}: executing ...")
    base = {"cache_key": key, "parameters": c.defaults, "title": c.title}
    # until it succeeds, the chapter's files are not trusted (an interrupt leaves this record)
    _write_record(out_dir, c.name, {**base, "seconds": float("nan"), "status": "running"})
    cpu0 = _children_cpu()
    try:
        secs = _execute_chapter(c, root, key)
    except RuntimeError as exc:
        _write_record(out_dir, c.name, {**base, "seconds": float("nan"), "status": "failed", "error": str(exc)})
        say(f"error: {exc}", True)
        return False
    date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    _write_record(out_dir, c.name, {**base, "seconds": secs, "status": "ok", "date": date})
    say(f"{c.name}: done in {secs:.1f} s ({_children_cpu() - cpu0:.1f} s of CPU)")
    return True


def default_jobs() -> int:
    """Default number of chapters ``execute`` runs at once: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _jobs_argument(text: str) -> int:
    """``--jobs`` value: an integer >= 1 (argparse type)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (chapters executed at once), got {text!r}")
    return n


def _recorded_seconds(root: Path, name: str) -> float:
    """Run time of the last successful execution of a chapter (``FALLBACK_SECONDS`` without one)."""
    rec = _read_record(root, name)
    secs = rec.get("seconds") if rec.get("status") == "ok" else None
    return float(secs) if isinstance(secs, (int, float)) and math.isfinite(secs) else FALLBACK_SECONDS


def _raise_interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _worker(c: ChapterSource, root: Path, key: str, force: bool, conn) -> None:
    """Body of one ``execute --jobs`` worker process: one chapter, under its lock, reporting through ``conn``.

    The worker ignores Ctrl-C (the parent stops it with SIGTERM, read as an interrupt, so the chapter
    is left exactly as an interrupted serial execution leaves it) and prints nothing itself: its
    messages go to the parent, which prints whole lines.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupt)

    def send(*msg) -> None:
        with contextlib.suppress(OSError):  # the parent has gone
            conn.send(msg)

    ok = False
    try:
        with _chapter_lock(root / EXECUTED_DIR, c.name):
            ok = _execute_one(c, root, key, force=force, say=lambda text, error=False: send("say", text, error))
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # reported to the parent, which counts the chapter as failed
        send("say", f"error: chapter {c.name}: {type(exc).__name__}: {exc}", True)
    send("end", ok)
    conn.close()


def _stop_workers(procs: list, timeout: float = 60.0) -> None:
    """Interrupt the running workers (SIGTERM) and wait for them; kill one that does not stop."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def _execute_parallel(
    chapters: list[ChapterSource], root: Path, code_hash: str, *, force: bool, jobs: int
) -> list[str]:
    """Execute ``chapters`` in up to ``jobs`` worker processes; returns the names of those that failed.

    Each worker executes one chapter exactly as the serial loop does (same lock, records, temporary
    files and swap; its own environment, hence its own figure folder). The longest chapters (by
    their last recorded run time) start first. Progress lines are printed whole, as they come, and
    a summary in book order follows.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("fork")  # the parent holds no threads; the workers need no re-import
    pending = sorted(chapters, key=lambda c: -_recorded_seconds(root, c.name))
    running: dict[Any, tuple[Any, ChapterSource]] = {}
    ok: dict[str, bool] = {}
    t0 = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < jobs:
                c = pending.pop(0)
                here, there = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_worker, args=(c, root, _cache_key(c, code_hash), force, there), name=f"execute-{c.name}"
                )
                proc.start()
                there.close()
                running[here] = (proc, c)
            for conn in wait(list(running)):
                proc, c = running[conn]
                try:
                    kind, *msg = conn.recv()
                except EOFError:  # the worker has ended
                    proc.join()
                    conn.close()
                    del running[conn]
                    if c.name not in ok:
                        _print_message(f"error: chapter {c.name}: worker ended with exit code {proc.exitcode}", True)
                        ok[c.name] = False
                    continue
                if kind == "say":
                    _print_message(*msg)
                else:
                    ok[c.name] = bool(msg[0])
    except KeyboardInterrupt:
        _stop_workers([proc for proc, _ in running.values()])
        raise
    wall = time.perf_counter() - t0
    lines = []
    for c in chapters:
        rec = _read_record(root, c.name)
        secs = rec.get("seconds", float("nan"))
        status = rec.get("status", "?") if ok.get(c.name) else "failed"
        lines.append(f"  {c.name:<24} {status:<7} {secs:7.1f} s")
    _print_message(f"{len(chapters)} chapter(s), {jobs} at a time, in {wall:.1f} s (book order; last run times):")
    _print_message("\n".join(lines))
    return [c.name for c in chapters if not ok.get(c.name)]


def cmd_execute(args: argparse.Namespace) -> int:
    """The ``execute`` command: execute the chapters for the book, with an execution cache.

    Writes ``book/chapters/``, the per-chapter execution records, the execution report and the
    Figures page. A chapter's notebook, figures and ``ok`` record change only when it succeeds.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``force``, ``only``, ``jobs``: chapters executed at once, in worker
        processes; 1 executes them one after the other in this process).

    Returns
    -------
    int
        Exit status: 0 on success, 1 if some chapter failed.
    """
    from .ledger import write_ledger_page
    from .report import write_execution_report, write_figures_page

    root = repo_root()
    out_dir = root / EXECUTED_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    code_hash = _code_hash(root)
    all_chapters = list_chapters(root)
    chapters = [_match(k, all_chapters) for k in args.only] if args.only else all_chapters
    jobs = min(getattr(args, "jobs", None) or default_jobs(), len(chapters))
    failed = []
    if jobs > 1:
        failed = _execute_parallel(chapters, root, code_hash, force=args.force, jobs=jobs)
    for c in chapters if jobs <= 1 else []:
        with _chapter_lock(out_dir, c.name):
            if not _execute_one(c, root, _cache_key(c, code_hash), force=args.force):
                failed.append(c.name)
    report = _all_records(out_dir, {c.name for c in all_chapters})
    _write_atomic(out_dir / "execution.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    # each page is written beside its final name (the pages hold paths relative to their folder), then moved
    for page, write in (
        ("execution.md", lambda path: write_execution_report(report, path)),
        ("figures.md", lambda path: write_figures_page(root, path)),
        ("ledger.md", lambda path: write_ledger_page(root, path)),
    ):
        tmp = out_dir / f".{page}.tmp"
        write(tmp)
        os.replace(tmp, out_dir / page)
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
        Exit status (130 after Ctrl-C, with a one-line message).
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
        "--yes", action="store_true", help=f"run even if the estimate exceeds {WORK_LIMIT_SECONDS:.0f} s"
    )
    p_run.add_argument(
        "--scheduler", help="dask scheduler for chapters that map work (ch07): tcp://HOST:8786, or 'local'"
    )
    p_runs = sub.add_parser("runs", help="list earlier runs and their status (ok, failed, incomplete)")
    p_runs.add_argument("-o", "--output", help="parent folder of the runs (default: runs/)")
    p_exe = sub.add_parser("execute", help="execute every chapter with default parameters for the book")
    p_exe.add_argument("--force", action="store_true", help="ignore the execution cache")
    p_exe.add_argument(
        "-j",
        "--jobs",
        type=_jobs_argument,
        default=None,
        help=f"chapters executed at once (default: the number of CPUs, here {default_jobs()}; 1: one after the other)",
    )
    p_exe.add_argument("only", nargs="*", help="only these chapters")
    sub.add_parser("list", help="list chapters and their parameters")
    p_led = sub.add_parser("ledger", help="the Results ledger: status of every numbered result of the paper")
    p_led.add_argument("--json", action="store_true", help="print a JSON list (result, status, where, check, figure)")
    p_led.add_argument("-v", "--verbose", action="store_true", help="also print each statement, check and test")

    _campaign_arguments(sub.add_parser("campaign", help="run or resume an OVF campaign (streams to Parquet)"))
    args = parser.parse_args(argv)
    try:
        if args.list or args.command == "list":
            return cmd_list(args)
        if args.command == "run":
            if args.scheduler:  # read by the chapter kernel (a child process): dlnlib.campaign.executor_for
                os.environ["DLN_SCHEDULER"] = args.scheduler
            return cmd_run(args)
        if args.command == "runs":
            return cmd_runs(args)
        if args.command == "campaign":
            return cmd_campaign(args)
        if args.command == "execute":
            return cmd_execute(args)
        if args.command == "ledger":
            from .ledger import run_cli

            text, status = run_cli(repo_root(), as_json=args.json, verbose=args.verbose)
            print(text)
            return status
    except KeyboardInterrupt:
        print(
            "interrupted: nothing was marked complete (a run folder without status.json is incomplete)", file=sys.stderr
        )
        return 130
    parser.print_help()
    return 2


def _campaign_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m dlnlib campaign``."""
    p.add_argument("spec", help="campaign TOML file (see campaigns/example.toml)")
    p.add_argument("--out", required=True, help="output folder (rerun the same command to resume)")
    p.add_argument("--scheduler", help="dask scheduler: tcp://HOST:8786, or 'local' for a LocalCluster")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local processes (default: all CPUs)")
    p.add_argument("--yes", action="store_true", help="run even if the estimate exceeds --limit-hours")
    p.add_argument("--limit-hours", type=float, default=1.0, help="refuse larger estimates without --yes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _human_bytes(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000:
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1000
    return f"{nbytes:.3g} PB"


def cmd_campaign(args: argparse.Namespace) -> int:
    """The ``campaign`` command: estimate, refuse above the limit without ``--yes``, run or resume.

    Returns
    -------
    int
        0 on success, 2 for an invalid spec or a refused estimate, 130 when interrupted.
    """
    import tomllib

    from .._validation import check_positive
    from ..campaign import executor_for, load_spec, run_campaign

    try:
        spec = load_spec(args.spec)
        workers = check_positive(args.workers, "--workers", integer=True)
    except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    est = spec.estimate(workers)
    n_chunks = len(spec.chunks())
    print(
        f"campaign: {len(spec.configs)} configurations, {est['trajectories']:,} trajectories in {n_chunks} chunks; "
        f"estimated {est['seconds'] / 3600:.2g} h on {workers} worker(s) ({est['cpu_seconds'] / 3600:.2g} CPU-h), "
        f"disk {_human_bytes(est['disk_bytes'])}"
    )
    if est["seconds"] > args.limit_hours * 3600 and not args.yes:
        print(
            f"error: the estimate exceeds --limit-hours {args.limit_hours:g}; pass --yes to run it anyway",
            file=sys.stderr,
        )
        return 2
    t0 = time.perf_counter()
    try:
        with executor_for(args.scheduler, workers) as ex:
            summary = run_campaign(spec, args.out, executor=ex, progress=not args.quiet)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        done = len(list((Path(args.out) / "chunks").glob("c*.parquet")))
        print(f"\ninterrupted: {done} of {n_chunks} chunks are on disk; rerun the same command to resume")
        return 130
    p = summary["pooled"]
    print(
        f"done in {time.perf_counter() - t0:.1f} s: {p['n_global']}/{p['n_done']} runs at a global minimum, "
        f"pooled 95 % Wilson lower bound {p['ci_low']:.4f}; summary: {Path(args.out) / 'summary.json'}"
    )
    return 0
