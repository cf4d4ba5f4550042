"""The `python -m dlnlib` command line: parameter validation, output folders, failures."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from dlnlib.companion import _schema, cli
from dlnlib.companion.report import glued_text


def test_list_shows_every_chapter_with_defaults(capsys):
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    for c in cli.list_chapters():
        assert c.name in out
        for k in c.defaults:
            assert k in out


def test_find_chapter_by_number_prefix_and_name():
    c = cli.find_chapter("1")
    assert c.name == "ch01_model"
    assert cli.find_chapter("ch01").name == c.name == cli.find_chapter("ch01_model").name
    with pytest.raises(SystemExit, match="matches no chapter"):
        cli.find_chapter("ch99")


def test_unknown_parameter_is_refused_with_the_valid_list():
    c = cli.find_chapter("ch01")
    with pytest.raises(ValueError, match=r"unknown parameter 'nope'.*valid parameters: seed \(default 0\)"):
        cli.validate_parameters(c, [("nope", "1")])


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("seed", "3", True),
        ("seed", "3.5", False),
        ("noise", "1", True),
        ("noise", "abc", False),
        ("dims", "[4, 3, 3]", True),
        ("dims", "4", False),
    ],
)
def test_parameter_types_are_checked(name, value, ok):
    c = cli.find_chapter("ch01")
    if ok:
        assert name in cli.validate_parameters(c, [(name, value)])
    else:
        with pytest.raises(ValueError, match=f"ch01_model: parameter '{name}' \\("):
            cli.validate_parameters(c, [(name, value)])


def test_run_refuses_unknown_parameter_exit_code(capsys, tmp_path):
    assert cli.main(["run", "ch01", "-p", "bogus", "1", "-o", str(tmp_path)]) == 2
    assert "valid parameters" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_run_writes_a_new_folder_per_run_with_figures_and_provenance(tmp_path):
    args = [sys.executable, "-m", "dlnlib", "run", "ch01", "-p", "n_random_weights", "12", "-o", str(tmp_path), "-q"]
    first = subprocess.run(args, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(args, capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 2 and folders[1] == folders[0] + "-2"
    folder = tmp_path / folders[0]
    params = json.loads((folder / "parameters.json").read_text())
    assert params["parameters"]["n_random_weights"] == 12
    nb = nbformat.read(folder / "ch01_model.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "n_random_weights = 12" in injected[0].source
    prov = json.loads((folder / "figures" / "ch01_model" / "reduction.json").read_text())
    assert prov["parameters"]["n_random_weights"] == 12
    assert prov["chapter"] == "ch01_model" and prov["git_commit"] and prov["dlnlib_version"]
    for ext in ("pdf", "png"):  # the default formats
        assert (folder / "figures" / "ch01_model" / f"reduction.{ext}").stat().st_size > 1000
    # reproducible: the second run glued the same numbers and drew the same pixels
    other = tmp_path / folders[1]
    assert _glued(folder / "ch01_model.ipynb") == _glued(other / "ch01_model.ipynb")
    with (
        Image.open(folder / "figures/ch01_model/reduction.png") as a,
        Image.open(other / "figures/ch01_model/reduction.png") as b,
    ):
        assert a.size == b.size and a.tobytes() == b.tobytes()


def _glued(path):
    glued = glued_text(nbformat.read(path, as_version=4))
    out = {k: v for k, v in glued.items() if not k.endswith("-reduction")}
    assert len(out) > 5
    return out


def test_failing_cell_names_chapter_and_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("y = 2"),
        nbformat.v4.new_code_cell("raise ZeroDivisionError('boom')"),
    ]
    src = tmp_path / "ch98_broken.ipynb"
    nbformat.write(nb, src)
    chapter = cli.ChapterSource("ch98_broken", src, "broken", {"x": 1})
    expected = r"ch98_broken failed in cell 3 \(`raise ZeroDivisionError\('boom'\)`\): ZeroDivisionError: boom"
    with pytest.raises(RuntimeError, match=expected):
        cli._execute(chapter, tmp_path / "out" / "ch98_broken.ipynb", {}, tmp_path / "figs", progress=False)


# ---------------------------------------------------------------------------------------------
# Reliability (issue 13): atomic execution, marked run folders, schema-checked parameters,
# work estimate. Commands that start a kernel run in a throw-away copy of the package with
# one-cell toy chapters, so they never touch the book's own executed chapters.

TOY_CODE = (
    "import os, time\n"
    "from dlnlib.companion.chapter import Chapter\n"
    "ch = Chapter('{name}', seed=seed, n_points=n_points)\n"
    "fig, ax = ch.subplots()\n"
    "ax.plot(range(n_points))\n"
    "ch.save(fig, os.environ.get('TOY_FIGURE', 'first'), glue=False)\n"
    "time.sleep(float(os.environ.get('TOY_SLEEP', '0')))\n"
    "assert n_points < 500, 'too many points'"
)


@pytest.fixture
def toy_repo(tmp_path, root):
    """A copy of ``dlnlib`` with two toy chapters (``ch01_toy``, ``ch02_toy``) as its book."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(root / "dlnlib", repo / "dlnlib", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "_config.yml").write_text("title: toy\n")
    (repo / "book" / "src").mkdir(parents=True)
    for name in ("ch01_toy", "ch02_toy"):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        params = "seed = 0  # int, >= 0: seed\nn_points = 10  # int, >= 1: points drawn\n# cost: n_points"
        nb.cells = [
            nbformat.v4.new_markdown_cell(f"# Toy {name}"),
            nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(TOY_CODE.format(name=name)),
        ]
        nbformat.write(nb, repo / "book" / "src" / f"{name}.ipynb")
    return repo


def _dln(repo, *args, env=None, cwd=None, popen=False):
    """``python -m dlnlib *args`` with the toy repository's package first on the path."""
    import os

    full_env = {**os.environ, "PYTHONPATH": str(repo), "MPLBACKEND": "agg", **(env or {})}
    cmd = [sys.executable, "-m", "dlnlib", *args]
    if popen:
        return subprocess.Popen(
            cmd, env=full_env, cwd=cwd or repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(cmd, env=full_env, cwd=cwd or repo, capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.slow
def test_interrupted_execute_is_not_trusted_and_leaves_old_files(toy_repo):
    import signal
    import time

    first = _dln(toy_repo, "execute", "ch01")
    assert first.returncode == 0, first.stderr
    executed = toy_repo / "book" / "chapters" / "ch01_toy.ipynb"
    before = executed.read_bytes()
    figs = toy_repo / "figures" / "ch01_toy"
    assert sorted(p.name for p in figs.iterdir()) == ["first.json", "first.pdf", "first.png"]

    child = _dln(toy_repo, "execute", "--force", "ch01", env={"TOY_FIGURE": "second", "TOY_SLEEP": "120"}, popen=True)
    deadline = time.monotonic() + 300
    while not list((toy_repo / "figures").glob(".*/ch01_toy/second.png")):  # the kernel is sleeping
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted:")
    # nothing of the interrupted run is visible: the old notebook and the old figures only
    assert executed.read_bytes() == before
    assert sorted(p.name for p in figs.iterdir()) == ["first.json", "first.pdf", "first.png"]
    record = json.loads((toy_repo / "book/chapters/.records/ch01_toy.json").read_text())
    assert record["status"] == "running"

    again = _dln(toy_repo, "execute", "ch01", env={"TOY_FIGURE": "second"})
    assert again.returncode == 0, again.stderr
    assert "unchanged" not in again.stdout and "done in" in again.stdout
    # the new figures replaced the old ones as a whole (no mix)
    assert sorted(p.name for p in figs.iterdir()) == ["second.json", "second.pdf", "second.png"]
    assert not [p for p in (toy_repo / "figures").iterdir() if p.name.startswith(".")]
    assert "unchanged" in _dln(toy_repo, "execute", "ch01").stdout


@pytest.mark.slow
def test_concurrent_executes_keep_every_record(toy_repo):
    a = _dln(toy_repo, "execute", "ch01", popen=True)
    b = _dln(toy_repo, "execute", "ch02", popen=True)
    for p in (a, b):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    report = json.loads((toy_repo / "book/chapters/execution.json").read_text())
    assert sorted(report) == ["ch01_toy", "ch02_toy"]
    assert all(r["status"] == "ok" for r in report.values())


def test_execute_removes_the_temporary_folders_of_a_killed_execution(toy_repo):
    """A SIGKILLed execute leaves its temporary notebook and figures behind; the next one removes them
    (they are never trusted, and the book build must not read them)."""
    stale_nb = toy_repo / "book/chapters/.partial/ch01_toy-dead1234"
    stale_nb.mkdir(parents=True)
    (stale_nb / "ch01_toy.ipynb").write_text("{}")
    stale_fig = toy_repo / "figures/.ch01_toy-partial-dead1234/ch01_toy"
    stale_fig.mkdir(parents=True)
    (stale_fig / "first.png").write_bytes(b"stale")
    done = _dln(toy_repo, "execute", "ch01")
    assert done.returncode == 0, done.stderr
    assert not stale_nb.exists() and not stale_fig.parent.exists()
    assert not (toy_repo / "book/chapters/.partial").exists()


@pytest.mark.slow
def test_run_with_relative_output_writes_one_folder_marked_complete(toy_repo, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    done = _dln(toy_repo, "run", "ch01", "-p", "n_points", "12", "-o", "rel", "-q", cwd=work)
    assert done.returncode == 0, done.stderr
    (folder,) = (work / "rel").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "ch01_toy.ipynb",
        "figures",
        "figures.md",
        "index.html",
        "parameters.json",
        "status.json",
    ]
    assert (folder / "figures" / "ch01_toy" / "first.png").exists()
    assert json.loads((folder / "status.json").read_text())["status"] == "ok"
    printed = [
        line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith(("notebook", "figures"))
    ]
    assert len(printed) == 2 and all(Path(p).is_absolute() and Path(p).exists() for p in printed)
    # a failing run is marked failed; a folder without status.json is listed as incomplete
    failed = _dln(toy_repo, "run", "ch01", "-p", "n_points", "600", "-o", "rel", "-q", "--yes", cwd=work)
    assert failed.returncode == 1 and "too many points" in failed.stderr
    (work / "rel" / "ch01_toy-interrupted").mkdir()
    listing = _dln(toy_repo, "runs", "-o", "rel", cwd=work).stdout
    statuses = sorted(line.split()[0] for line in listing.splitlines())
    assert statuses == ["failed", "incomplete", "ok"]


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [
        ("dims", "[]", "needs len >= 2"),
        ("dims", "[4, 0, 3]", "must be >= 1, got 0"),
        ("dims", "[4, 'a', 3]", "element [1] must be an int"),
        ("dims", "[4, 2.5, 3]", "element [1] must be an int"),
        ("n_samples", "0", "must be >= 1, got 0"),
        ("seed", "-1", "must be >= 0, got -1"),
        ("noise", "1e400", "must be a finite float"),
        ("noise", "nan", "must be a float"),
        ("noise", "-0.5", "must be >= 0"),
        ("t_flow", "0", "must be > 0"),
        ("seed", "True", "must be an int"),
    ],
)
def test_schema_refuses_bad_values_naming_parameter_and_rule(name, value, phrase):
    c = cli.find_chapter("ch01")
    with pytest.raises(ValueError, match=re.escape(phrase)) as info:
        cli.validate_parameters(c, [(name, value)])
    assert f"parameter '{name}'" in str(info.value) and c.schema[name].description in str(info.value)


@pytest.mark.parametrize(
    ("chapter", "name", "value", "phrase"),
    [
        ("ch02", "configs", "[['a']]", "element [0][0] must be an int"),
        ("ch02", "configs", "[]", "must hold at least one list"),
        ("ch02", "configs", "[[4, 3], [3]]", "needs len >= 2, got [3]"),
        ("ch02", "eta_max", "1e400", "must be a finite float"),
        ("ch02", "rtol", "2", "must be < 1"),
        ("ch03", "prop2_scales", "[[0.1, -1.0]]", "must be > 0"),
        ("ch07", "n_inits", "0", "must be >= 1"),
    ],
)
def test_schema_checks_nested_lists_and_ranges(chapter, name, value, phrase):
    with pytest.raises(ValueError, match=re.escape(phrase)):
        cli.validate_parameters(cli.find_chapter(chapter), [(name, value)])


def test_invalid_parameter_starts_no_kernel_and_writes_nothing(capsys, tmp_path):
    assert cli.main(["run", "ch01", "-p", "dims", "[]", "-o", str(tmp_path / "out")]) == 2
    assert "needs len >= 2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_chapter_parameter_has_a_valid_schema_comment():
    chapters = cli.list_chapters()
    assert len(chapters) >= 9
    for c in chapters:
        assert c.schema_error is None, c.schema_error
        assert list(c.schema) == list(c.defaults), c.name
        for spec in c.schema.values():
            assert spec.description and spec.type, (c.name, spec.name)
        secs, ratio = cli.estimate_seconds(c, {})
        assert ratio == pytest.approx(1.0) and secs > 0


def test_schema_comment_grammar():
    src = (
        "dims = [4, 3, 3]  # list[int], >= 1, len >= 2: widths d_0, ..., d_N\n"
        "mode = 'a'  # str, in {a, b}: which variant\n"
        "x = 0.5  # float, > 0, <= 1: a fraction\n"
        "# cost: x * len(dims)"
    )
    schema = _schema.parse_schema(src)
    assert schema["dims"].min_len == 2 and schema["dims"].bounds == ((">=", 1.0),)
    assert schema["mode"].choices == ("a", "b") and schema["x"].bounds == ((">", 0.0), ("<=", 1.0))
    assert schema["dims"].description == "widths d_0, ..., d_N"
    assert _schema.chapter_cost(_schema.parse_cost(src), {"x": 2.0, "dims": [1, 2]}) == 4.0
    with pytest.raises(ValueError, match="must be in"):
        _schema.check_value(schema["mode"], "c")
    for bad, phrase in [
        ("n = 1", "has no schema comment"),
        ("n = 1  # integer: count", "unknown type 'integer'"),
        ("n = 1  # int, >= 1", "needs '# <type>"),
        ("n = 1  # int, odd: count", "unknown constraint 'odd'"),
        ("n = 0  # int, >= 1: count", "must be >= 1"),
        ("n = 1  # int, len >= 2: count", "needs a list type"),
    ]:
        with pytest.raises(ValueError, match=re.escape(phrase)):
            _schema.parse_schema(bad)
    with pytest.raises(ValueError, match="not allowed"):
        _schema.parse_cost("# cost: __import__('os').system('true')")


def test_list_prints_descriptions_and_recorded_run_time(capsys, toy_repo, monkeypatch):
    monkeypatch.setattr(cli, "repo_root", lambda: toy_repo)
    records = toy_repo / "book/chapters/.records"
    records.mkdir(parents=True)
    (records / "ch01_toy.json").write_text(json.dumps({"status": "ok", "seconds": 12.3}))
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "ch01_toy: Toy ch01_toy  [about 12 s at the defaults]" in out
    assert "n_points = 10  (int, >= 1): points drawn" in out


def test_work_estimate_refuses_hours_without_yes(capsys, toy_repo, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "repo_root", lambda: toy_repo)
    records = toy_repo / "book/chapters/.records"
    records.mkdir(parents=True)
    (records / "ch01_toy.json").write_text(json.dumps({"status": "ok", "seconds": 10.0}))
    c = cli.find_chapter("ch01")
    assert cli.estimate_seconds(c, {"n_points": 20}) == (pytest.approx(20.0), pytest.approx(2.0))
    assert cli.main(["run", "ch01", "-p", "n_points", "10000", "-o", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert "estimated run time 2.8 h (1e+03 x the work" in captured.out
    assert "pass --yes" in captured.err and not (tmp_path / "out").exists()
    # the book's own chapters: a million initializations of ch07 is refused
    monkeypatch.undo()
    ch07 = cli.find_chapter("ch07")
    secs, ratio = cli.estimate_seconds(ch07, {"n_inits": 1_000_000})  # the cost line is linear in n_inits
    assert ratio == pytest.approx(1_000_000 / ch07.defaults["n_inits"]) and secs > cli.WORK_LIMIT_SECONDS


def test_uncreatable_output_folder_is_a_clear_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert cli.main(["run", "ch01", "-o", str(blocker / "sub"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot create the output folder") and str(blocker / "sub") in err


def test_run_status_of_folders(tmp_path):
    assert cli.run_status(tmp_path) == "incomplete"
    (tmp_path / "status.json").write_text('{"status": "ok"}')
    assert cli.run_status(tmp_path) == "ok"


# ---------------------------------------------------------------------------------------------
# A rerun that closes the loop (issue 12): verdict and checks, readable folder, offline page,
# figure map, diff against the book's run; --list descriptions; the execution report's environment.
# The fast tests feed the reporting code a hand-made "executed" notebook (glued outputs as
# myst-nb writes them); one slow test runs a toy chapter end to end.

from dlnlib.companion import rerun  # noqa: E402
from dlnlib.companion.report import environment_info, write_execution_report  # noqa: E402

RICH_MARKDOWN = (
    "# Toy rich\n\n"
    "**Verdict:** the numbers below {glue}`ch03_toy-verdict` the toy statement, with total "
    "{glue}`ch03_toy-total` and $\\R^n$ ({cite:t}`chitour2023geometric`, {ref}`notes-glossary`).\n\n"
    "```{glue:figure} ch03_toy-line\n:name: fig-ch03-toy-line\n\n"
    "A line through {glue}`ch03_toy-total` points.\n```\n\n"
    "```{glue:figure} ch03_toy-other\n:name: fig-ch03-toy-other\n\nThe other figure.\n```"
)
RICH_CODE = (
    "from dlnlib.companion.chapter import Chapter\n"
    "ch = Chapter('ch03_toy', seed=seed, n_points=n_points)\n"
    "for name in ('line', 'other'):\n"
    "    fig, ax = ch.subplots()\n"
    "    ax.plot(range(n_points))\n"
    "    ch.save(fig, name)\n"
    "fig, ax = ch.subplots()\n"
    "ch.save(fig, 'extra', glue=False)\n"
    "ch.glue('total', sum(range(n_points)))\n"
    "ch.glue('verdict', 'confirm' if n_points < 100 else 'do NOT confirm', '{}')\n"
    "ch.record('Lemma 2.3', ok=n_points < 100, figure=float(n_points), how='toy count')"
)


def _glued_output(key, text):
    """A display output as ``myst_nb.glue(display=False)`` writes it."""
    return nbformat.v4.new_output(
        "display_data",
        data={"application/papermill.record/text/plain": text},
        metadata={"scrapbook": {"name": key, "mime_prefix": "application/papermill.record/"}},
    )


def _fake_executed(total="66", status="verified", verdict="confirm"):
    record = json.dumps({"result": "Lemma 2.3", "status": status, "chapter": "ch03_toy", "figure": "12", "how": "toy"})
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(RICH_MARKDOWN),
        nbformat.v4.new_code_cell("n_points = 12", metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell(
            "# NBVAL_CHECK_OUTPUT\nprint('hello')", outputs=[nbformat.v4.new_output("stream", text="hello\n")]
        ),
        nbformat.v4.new_code_cell(
            "glue",
            outputs=[
                _glued_output("ch03_toy-total", total),
                _glued_output("ch03_toy-verdict", verdict),
                _glued_output("ch03_toy-ledger-lemma-2-3", record),
            ],
        ),
    ]
    return json.loads(nbformat.writes(nb))


def _rich_repo(repo):
    """Add ``ch03_toy`` (glued verdict, ledger record, two captioned figures) and a ``_toc.yml``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = "seed = 0  # int, >= 0: seed of the toy\nn_points = 10  # int, >= 1: points on the toy line"
    nb.cells = [
        nbformat.v4.new_markdown_cell(RICH_MARKDOWN.split("\n\n```")[0]),
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(RICH_CODE),
        nbformat.v4.new_markdown_cell("```" + RICH_MARKDOWN.split("\n\n```", 1)[1]),
    ]
    nbformat.write(nb, repo / "book" / "src" / "ch03_toy.ipynb")
    # ch03_toy is the book's second chapter: its figures are Fig. 2.x
    toc = "parts:\n  - chapters:\n      - file: book/chapters/ch01_toy\n      - file: book/chapters/ch03_toy\n"
    (repo / "_toc.yml").write_text(toc)
    return repo


def test_run_folder_name_shows_changed_parameters():
    defaults = {"seed": 0, "dims": [4, 3, 3], "eta": 0.1}
    assert rerun.run_folder_stem("ch02_invariants", {**defaults, "seed": 3}, defaults, "abc") == (
        "ch02_invariants-seed3-abc"
    )
    assert rerun.run_folder_stem("ch02_x", defaults, defaults, "abc") == "ch02_x-default-abc"
    name = rerun.run_folder_stem("ch02_x", {**defaults, "dims": [5, 4], "eta": 0.25}, defaults, "h")
    assert name == "ch02_x-dims5_4-eta0.25-h"
    assert re.fullmatch(r"[\w.+-]+", rerun.run_folder_stem("c", {"s": "a b/c"}, {"s": ""}, "h"))


def test_figure_numbers_follow_the_toc_and_the_directives(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "parts:\n  - numbered: true\n    chapters:\n      - file: book/chapters/ch05_b\n"
        "      - file: book/chapters/ch01_a\n"
        "  - caption: Reference\n    chapters:\n      - file: book/chapters/ledger\n"
    )
    assert rerun.chapter_numbers(tmp_path) == {"ch05_b": 1, "ch01_a": 2}
    figs = rerun.figure_numbers(_fake_executed(), 2)
    assert [(f["number"], f["name"], f["label"]) for f in figs] == [
        ("Fig. 2.1", "line", "fig-ch03-toy-line"),
        ("Fig. 2.2", "other", "fig-ch03-toy-other"),
    ]
    assert rerun.figure_numbers(_fake_executed(), None)[0]["number"] == "Fig. ?.1"


def test_verdict_lines_print_the_verdict_sentence_and_each_check():
    lines = rerun.verdict_lines(_fake_executed(), "ch03_toy")
    assert lines[0] == (
        "verdict: the numbers below confirm the toy statement, with total 66 and \\R^n (chitour2023geometric,"
    )
    assert lines[1] == "  Mathematical notes, glossary)."
    assert lines[2] == "checks (1 recorded for the Results ledger):"
    assert lines[3] == "  [verified] Lemma 2.3: 12 (toy)"
    failed = rerun.verdict_lines(_fake_executed(status="failed", verdict="do NOT confirm"), "ch03_toy")
    assert "do NOT confirm" in failed[0] and "  [failed] Lemma 2.3: 12 (toy)" in failed


def test_glued_diff_lists_changed_values_only():
    book = {"c-total": "45", "c-same": "1.0", "c-fig": "<IPython.core.display.Image object>", "c-old": "x"}
    run = {"c-total": "66", "c-same": "1.0", "c-fig": "<IPython.core.display.Image object>", "c-new": "y"}
    lines = rerun.glued_diff(run, book)
    assert lines[0] == "3 of 5 glued values differ from the book's run (book -> this run):"
    assert lines[1:] == ["  c-new: (absent) -> y", "  c-old: x -> (absent)", "  c-total: 45 -> 66"]
    assert rerun.glued_diff(book, book) == ["same glued values as the book's run (4 compared)"]
    many = rerun.glued_diff({f"k{i}": "1" for i in range(20)}, {f"k{i}": "2" for i in range(20)}, limit=3)
    assert len(many) == 5 and many[-1] == "  ... and 17 more"


def _write_pngs(folder, names):
    folder.mkdir(parents=True)
    for name in names:
        Image.new("RGB", (4, 4)).save(folder / f"{name}.png")


def test_run_report_prints_verdict_diff_and_writes_offline_page_and_figure_map(toy_repo, monkeypatch, capsys):
    repo = _rich_repo(toy_repo)
    monkeypatch.setattr(cli, "repo_root", lambda: repo)
    (repo / "references.bib").write_text(
        "@article{chitour2023geometric,\n  author = {Chitour, Y. and Liao, Z. and Couillet, R.},\n  year = {2023},\n}\n"
    )
    mathjax = repo / "book/_static/mathjax/tex-chtml.js"
    mathjax.parent.mkdir(parents=True)
    mathjax.write_text("/* MathJax */")
    chapter = cli.find_chapter("ch03", repo)
    folder = repo / "runs" / "ch03_toy-n_points12-x"
    folder.mkdir(parents=True)
    (folder / "ch03_toy.ipynb").write_text(json.dumps(_fake_executed()))
    _write_pngs(folder / "figures" / "ch03_toy", ["line", "other", "extra"])
    merged = {"seed": 0, "n_points": 12}

    # without a book run: say so
    assert cli._report_run(chapter, folder, merged) == "confirm"
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("verdict: the numbers below confirm the toy statement, with total 66")
    assert "  [verified] Lemma 2.3: 12 (toy)" in out
    assert "no book run to compare with" in out and "ch03_toy.ipynb is absent" in out

    page = (folder / "index.html").read_text()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page), "the page must load nothing from the network"
    assert "cdn" not in page.lower()
    assert '<script defer src="../../book/_static/mathjax/tex-chtml.js">' in page
    assert "window.MathJax" in page
    assert (
        '<img src="figures/ch03_toy/line.png"' in page and "<strong>Fig. 2.1</strong> A line through 66 points." in page
    )
    assert "Chitour et al. (2023)" in page and "{glue}" not in page and "NBVAL" not in page
    assert "n_points = 12" in page and "hello" in page
    fmap = (folder / "figures.md").read_text()
    assert "- **Fig. 2.1**: [line.png](figures/ch03_toy/line.png)" in fmap and "A line through 66 points." in fmap
    assert "- **Fig. 2.2**: [other.png](figures/ch03_toy/other.png)" in fmap
    assert "- (not a numbered figure of the book): [extra.png](figures/ch03_toy/extra.png)" in fmap

    # against the book's run at the defaults: the glued numbers that differ
    (repo / "book/chapters").mkdir(parents=True)
    (repo / "book/chapters/ch03_toy.ipynb").write_text(json.dumps(_fake_executed(total="45")))
    cli._report_run(chapter, folder, merged)
    out = capsys.readouterr().out
    assert "against the book's run at the defaults (book/chapters/ch03_toy.ipynb):" in out
    assert "  1 of 3 glued values differ from the book's run (book -> this run):" in out
    assert "    ch03_toy-total: 45 -> 66" in out


def test_list_shows_descriptions_and_says_when_no_run_time_is_recorded(capsys, toy_repo, monkeypatch):
    repo = _rich_repo(toy_repo)
    monkeypatch.setattr(cli, "repo_root", lambda: repo)
    (repo / "book/chapters").mkdir(parents=True)
    (repo / "book/chapters/execution.json").write_text(json.dumps({"ch03_toy": {"status": "ok", "seconds": 7.4}}))
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "ch03_toy: Toy rich  [about 7 s at the defaults]" in out
    assert "n_points = 10  (int, >= 1): points on the toy line" in out
    assert "ch01_toy: Toy ch01_toy  [run time not recorded yet: python -m dlnlib execute]" in out


def test_execution_report_links_chapters_and_shows_the_environment(tmp_path):
    (tmp_path / "ch03_toy.ipynb").write_text(json.dumps(_fake_executed()))
    report = {
        "ch03_toy": {"status": "ok", "seconds": 2.5, "title": "Toy", "parameters": {"n_points": 10}, "date": "d"},
        "ch04_gone": {"status": "failed", "seconds": float("nan"), "title": "Gone", "parameters": {}},
    }
    env = environment_info()
    import numpy as np
    import scipy

    assert env["numpy"] == np.__version__ and env["scipy"] == scipy.__version__
    assert env["CPUs"].startswith(f"{os.cpu_count()} logical")
    assert env["BLAS"] and env["BLAS"] != "unknown"  # numpy's build configuration names its BLAS
    out = tmp_path / "execution.md"
    write_execution_report(report, out)
    text = out.read_text()
    assert "| {doc}`Toy <ch03_toy>` | `ch03` | confirm (1 check passed) | ok | 2.5 | d |" in text
    assert "| Gone | `ch04` |  | failed | nan |  |" in text
    assert "- `ch03`: `n_points=10`" in text
    env_section = text.split("## Environment", 1)[1]
    for key, value in env.items():
        assert f"| {key} | {value} |" in env_section
    write_execution_report(report, out, environment={"CPUs": "64 logical", "BLAS": "mkl 2024"})
    assert "| CPUs | 64 logical |" in out.read_text() and "| BLAS | mkl 2024 |" in out.read_text()


@pytest.mark.slow
def test_rerun_prints_verdict_and_diff_and_names_its_folder(toy_repo, tmp_path):
    repo = _rich_repo(toy_repo)
    book = _dln(repo, "execute", "ch03")
    assert book.returncode == 0, book.stderr
    done = _dln(repo, "run", "ch03", "-p", "n_points", "12", "-o", str(tmp_path / "runs"), "-q")
    assert done.returncode == 0, done.stderr
    for noise in ("without encryption", "Unable to parse line", "Passed unknown parameter"):
        assert noise not in done.stderr + done.stdout
    (folder,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"ch03_toy-n_points12-[0-9a-f]{10}", folder.name)
    out = done.stdout
    assert "verdict: the numbers below confirm the toy statement, with total 66" in out
    assert "  [verified] Lemma 2.3: 12 (toy count)" in out
    assert "ch03_toy-total: 45 -> 66" in out and "ch03_toy-ledger-lemma-2-3: verified 10 -> verified 12" in out
    assert f"page:     {folder / 'index.html'}" in out
    page = (folder / "index.html").read_text()
    assert "<strong>Fig. 2.1</strong>" in page and not re.search(r"(src|href)=[\"']?(https?:)?//", page)
    assert (folder / "figures" / "ch03_toy" / "line.png").exists()
    assert "- **Fig. 2.2**: [other.png](figures/ch03_toy/other.png)" in (folder / "figures.md").read_text()
    listing = _dln(repo, "runs", "-o", str(tmp_path / "runs")).stdout
    assert listing.split()[0] == "ok" and listing.rstrip().endswith(f"{folder}  (verdict: confirm)")


def _without_times(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "date")}


@pytest.mark.slow
def test_parallel_execute_gives_the_serial_records_and_files(toy_repo):
    names = ("ch01_toy", "ch02_toy")
    chapters, records, figs = toy_repo / "book/chapters", toy_repo / "book/chapters/.records", toy_repo / "figures"

    def state():
        recs = {n: _without_times(json.loads((records / f"{n}.json").read_text())) for n in names}
        nbs = {n: [c.source for c in nbformat.read(chapters / f"{n}.ipynb", as_version=4).cells] for n in names}
        sidecars = {n: _without_times(json.loads((figs / n / "first.json").read_text())) for n in names}
        files = {n: sorted(p.name for p in (figs / n).iterdir()) for n in names}
        return recs, nbs, sidecars, files

    par = _dln(toy_repo, "execute", "--jobs", "2")
    assert par.returncode == 0, par.stderr
    lines = par.stdout.splitlines()
    # whole lines from both workers, then a summary in book order
    assert sorted(line for line in lines if line.endswith("executing ...")) == [f"{n}: executing ..." for n in names]
    assert sorted(line.split(":")[0] for line in lines if ": done in " in line) == list(names)
    assert "2 chapter(s), 2 at a time" in lines[-3]
    assert [line.split()[:2] for line in lines[-2:]] == [[n, "ok"] for n in names]
    in_parallel = state()
    assert all(r["status"] == "ok" for r in in_parallel[0].values())
    assert json.loads((chapters / "execution.json").read_text()).keys() == set(names)
    assert not (chapters / ".partial").exists() and not [p for p in figs.iterdir() if p.name.startswith(".")]

    serial = _dln(toy_repo, "execute", "--force", "--jobs", "1")
    assert serial.returncode == 0, serial.stderr
    assert state() == in_parallel
    cached = _dln(toy_repo, "execute", "--jobs", "2")
    assert cached.returncode == 0 and cached.stdout.count("unchanged, using cached execution") == 2


@pytest.mark.slow
def test_interrupted_parallel_execute_stops_its_workers_and_trusts_nothing(toy_repo):
    import signal
    import time

    assert _dln(toy_repo, "execute", "--jobs", "2").returncode == 0
    executed = {n: (toy_repo / "book/chapters" / f"{n}.ipynb").read_bytes() for n in ("ch01_toy", "ch02_toy")}
    child = _dln(
        toy_repo, "execute", "--force", "-j", "2", env={"TOY_FIGURE": "second", "TOY_SLEEP": "120"}, popen=True
    )
    deadline = time.monotonic() + 300
    while len(list((toy_repo / "figures").glob(".*/ch0*_toy/second.png"))) < 2:  # both kernels are sleeping
        assert child.poll() is None and time.monotonic() < deadline, child.communicate()
        time.sleep(0.5)
    child.send_signal(signal.SIGINT)  # to the parent only: it must stop its workers
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130
    # the kernels may log their interruption; the command itself fails cleanly
    assert "companion/cli.py" not in err and err.strip().splitlines()[-1].startswith("interrupted:")
    for name, before in executed.items():
        assert (toy_repo / "book/chapters" / f"{name}.ipynb").read_bytes() == before
        assert sorted(p.name for p in (toy_repo / "figures" / name).iterdir())[0] == "first.json"
        record = json.loads((toy_repo / f"book/chapters/.records/{name}.json").read_text())
        assert record["status"] == "running"
    assert not [p for p in (toy_repo / "figures").iterdir() if p.name.startswith(".")]
    assert not (toy_repo / "book/chapters/.partial").exists()


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_execute_jobs_must_be_a_positive_integer(capsys, value):
    with pytest.raises(SystemExit) as exc:
        cli.main(["execute", "--jobs", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--jobs" in err and "must be an integer >= 1" in err and repr(value) in err


def test_kernel_threads_are_set_for_the_block_only(monkeypatch):
    import os

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # a user's own setting is kept
    with cli._kernel_threads():
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["OMP_NUM_THREADS"] == "3"
    assert "OPENBLAS_NUM_THREADS" not in os.environ and os.environ["OMP_NUM_THREADS"] == "3"


def test_a_kernel_that_lost_a_port_race_is_started_again(tmp_path, monkeypatch):
    """Two kernels started at once can be handed the same free port; the one that loses dies binding it,
    before any cell ran, and ``_execute`` starts another kernel instead of failing the chapter."""
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    src = tmp_path / "ch97_race.ipynb"
    nbformat.write(nb, src)
    chapter = cli.ChapterSource("ch97_race", src, "race", {"x": 1})
    calls = []

    def flaky(*args, kernel_manager_class, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # what a kernel that lost the race leaves: its log, and a dead-kernel error
            kernel_manager_class.stderr_log.write(b"zmq.error.ZMQError: Address already in use (addr='tcp://x:1')\n")
            raise RuntimeError("Kernel died before replying to kernel_info")
        nbformat.write(nb, args[1])

    monkeypatch.setattr(pm, "execute_notebook", flaky)
    cli._execute(chapter, tmp_path / "out" / "ch97_race.ipynb", {}, tmp_path / "figs", progress=False)
    assert len(calls) == 2

    calls.clear()

    def dead(*args, kernel_manager_class, **kwargs):  # any other death is an error, with the kernel's log
        calls.append(1)
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(pm, "execute_notebook", dead)
    with pytest.raises(RuntimeError, match="ch97_race: Kernel died"):
        cli._execute(chapter, tmp_path / "out" / "ch97_race.ipynb", {}, tmp_path / "figs", progress=False)
    assert len(calls) == 1


def test_asyncio_echo_of_a_dead_kernel_is_dropped():
    """An interrupted kernel leaves futures holding DeadKernelError; asyncio's "never retrieved" log of them
    (a traceback on the user's terminal after Ctrl-C) is dropped, other asyncio records are kept."""
    import asyncio
    import gc
    import io
    import logging

    from nbclient.exceptions import DeadKernelError

    log = logging.getLogger("asyncio")
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    log.addHandler(handler)
    log.addFilter(cli._ASYNCIO_FILTER)
    try:
        loop = asyncio.new_event_loop()
        fut = loop.create_future()
        fut.set_exception(DeadKernelError("Kernel died"))
        del fut
        gc.collect()
        loop.close()
        assert buf.getvalue() == ""
        log.error("something else went wrong")
        assert "something else" in buf.getvalue()
    finally:
        log.removeHandler(handler)
        log.removeFilter(cli._ASYNCIO_FILTER)
