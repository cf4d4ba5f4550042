"""The Results ledger (dlnlib.companion.ledger): every numbered item of the paper is a row, statuses are
computed from the chapters' glued records, a failed check fails the book build, and the CLI prints
the same table (or JSON)."""

import ast
import dataclasses
import importlib.util
import json
import re

import pytest

from dlnlib.companion import cli, ledger
from dlnlib.companion.chapter import Chapter

# The numbered items of [CLC] (hard list: the ledger must have exactly one row for each).
REQUIRED = [
    "Assumption 1", "Assumption 2", "Assumption 3", "Assumption 4",
    "Definition 2.1", "Definition 4.1",
    "Lemma 2.3", "Lemma 2.4", "Lemma 3.1",
    "Lemma 3.2 (i)", "Lemma 3.2 (ii)", "Lemma 3.2 (iii)", "Lemma 3.2 (iv)",
    "Proposition 1", "Proposition 2", "Proposition 3", "Proposition 4", "Proposition 5",
    "Theorem 2.2", "Theorem 4.2",
    "Conjecture 1",
    "Remark 1", "Remark 2", "Remark 3", "Remark 4", "Remark 5", "Remark 6", "Remark 7",
    "Figure 1", "Figure 2", "Figure 3", "Figure 4",
]  # fmt: skip


class _Capture(Chapter):
    """A Chapter whose glue calls are kept (key, plain-text repr) instead of sent to myst-nb."""

    def __init__(self, name):
        super().__init__(name)
        self.glued = []

    def _glue(self, key, value):
        self.glued.append((key, repr(value)))


def _output(key, text):
    prefix = "application/papermill.record/"  # the layout myst-nb's glue writes (see report.glued_text)
    return {
        "output_type": "display_data",
        "data": {prefix + "text/plain": text},
        "metadata": {"scrapbook": {"name": key, "mime_prefix": prefix}},
    }


def _write_book(root, chapters):
    """``chapters``: {chapter name: [(result, record kwargs), ...]} -> executed notebooks under ``root``."""
    out = root / "book" / "chapters"
    out.mkdir(parents=True, exist_ok=True)
    for name, calls in chapters.items():
        ch = _Capture(name)
        for result, kw in calls:
            ch.record(result, **kw)
        cell = {
            "cell_type": "code",
            "metadata": {},
            "source": [],
            "execution_count": 1,
            "outputs": [_output(k, t) for k, t in ch.glued],
        }
        nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (out / f"{name}.ipynb").write_text(json.dumps(nb))
    return root


PENDING = {"Theorem 2.2", "Figure 2"}


@pytest.fixture(autouse=True)
def _pending_rows(request, monkeypatch):
    """Mark two rows pending, as if their chapter were not in the book yet, to exercise that mechanism.

    Every row of the book itself is due (no row is pending since chapters 10 and 11 landed); the tests that read
    the executed book (marker ``book``) see the real table.
    """
    if request.node.get_closest_marker("book"):
        return
    items = tuple(dataclasses.replace(it, pending=True) if it.result in PENDING else it for it in ledger.ITEMS)
    monkeypatch.setattr(ledger, "ITEMS", items)


def _all_passing():
    """Records that make every checkable, non-pending row pass."""
    out = {}
    for it in ledger.ITEMS:
        if it.checkable and not it.pending:
            out.setdefault(it.chapters[0], []).append((it.result, dict(ok=True, figure=1.0, section=None)))
    return out


def _rows(root):
    return {r.result: r for r in ledger.ledger_rows(ledger.collect_records(root))}


def test_every_numbered_item_is_a_row_once():
    names = [it.result for it in ledger.ITEMS]
    assert len(names) == len(set(names)), "duplicate rows"
    paper = [it.result for it in ledger.ITEMS if it.paper]
    assert sorted(paper) == sorted(REQUIRED), set(paper) ^ set(REQUIRED)
    for it in ledger.ITEMS:
        assert it.statement and it.how and it.test and it.chapters, it.result
        assert all(re.fullmatch(r"ch\d\d_\w+", c) for c in it.chapters), it.result


def test_not_checkable_rows_say_why_and_what_enforces_them():
    not_checkable = [it for it in ledger.ITEMS if not it.checkable]
    assert {it.result for it in not_checkable} >= {"Assumption 1", "Assumption 2", "Assumption 3", "Assumption 4"}
    for it in not_checkable:
        assert it.how.startswith("not numerically checkable: "), it.result
        assert "`" in it.how, f"{it.result}: name the function that enforces or implements it"
        assert it.section, f"{it.result}: say where the book uses it"


def test_notes_labels_follow_the_naming_rule():
    assert ledger._notes("Lemma 3.2 (ii)") == "notes-lemma-3-2"
    assert ledger._notes("Proposition 5") == "notes-proposition-5"
    for it in ledger.ITEMS:
        if it.paper and not it.result.startswith("Figure"):
            assert it.notes == ledger._notes(it.result), it.result


def test_guarding_tests_exist(root):
    for it in ledger.ITEMS:
        path, _, func = it.test.partition("::")
        func = func.split("[")[0]
        file = root / path
        assert path.startswith("tests/") and file.exists(), f"{it.result}: {path} missing"
        names = {n.name for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.FunctionDef)}
        assert func in names, f"{it.result}: {path} has no test {func}"


def _chapter_sources(root):
    """(chapter, all code, all markdown) for every chapter source."""
    out = []
    for c in cli.list_chapters(root):
        nb = json.loads(c.path.read_text())
        code = "\n".join("".join(x["source"]) for x in nb["cells"] if x["cell_type"] == "code")
        md = "\n".join("".join(x["source"]) for x in nb["cells"] if x["cell_type"] == "markdown")
        out.append((c.name, code, md))
    return out


def test_chapters_record_known_results_in_labelled_sections(root):
    known = {it.result for it in ledger.ITEMS}
    recorded = {}
    sources = _chapter_sources(root)
    for name, code, md in sources:
        calls = list(re.finditer(r'ch\.record\(\s*"([^"]+)"', code))
        assert calls, f"{name} records no result for the ledger"
        for m in calls:
            assert m[1] in known, f"{name} records {m[1]!r}, not a row of the ledger"
            recorded.setdefault(m[1], []).append(name)
        for label in re.findall(r'section="([^"]+)"', code):
            assert f"({label})=" in md, f"{name}: section label {label} is not defined"
    for it in ledger.ITEMS:
        if it.checkable and not it.pending:
            assert it.chapters[0] in recorded.get(it.result, []), f"{it.result} is not recorded by {it.chapters[0]}"
        if not it.checkable:
            md = next(md for name, _, md in sources if name == it.chapters[0])
            assert f"({it.section})=" in md, f"{it.result}: label {it.section} missing in {it.chapters[0]}"


def test_statuses_are_computed_from_records(tmp_path):
    book = _all_passing()
    book["ch02_invariants"] = [("Lemma 2.3", dict(ok=True, figure=3e-12, section="ch02-lemma-2-3"))]
    book["ch06_geometry"] = [
        ("Lemma 2.3", dict(ok=True, figure=1e-13)),
        ("Proposition 5", dict(ok=True, figure="9/9 strata")),
        ("Remark 7", dict(ok=True)),
    ]
    book["ch03_convergence"] = [(r, kw) for r, kw in book["ch03_convergence"] if r != "Proposition 1"]  # missing
    book["ch03_convergence"].append(("Remark 4", dict(ok=True, kind="illustrated", figure=0.5)))
    book["ch04_critical"] = [(r, kw) for r, kw in book["ch04_critical"]] + [("Assumption 4", dict(ok=True))]
    book["ch05_hessian"] = [(r, dict(kw, ok=r != "Remark 6")) for r, kw in book["ch05_hessian"]]  # Remark 6 fails
    book["ch09_pure_spurious"].append(("Proposition 4", dict(ok=True, kind="illustrated")))
    rows = _rows(_write_book(tmp_path, book))

    assert rows["Lemma 2.3"].status == "verified"
    assert rows["Lemma 2.3"].where == "ch02_invariants § ch02-lemma-2-3; ch06_geometry § ch06"
    assert rows["Lemma 2.3"].figure == "ch02: 3e-12; ch06: 1e-13"
    assert rows["Proposition 5"].figure == "9/9 strata"
    assert rows["Remark 4"].status == "illustrated"
    assert rows["Proposition 4"].status == "verified"  # verified in ch05, illustrated in ch09
    assert rows["Proposition 1"].status == "failed"  # checkable, no record
    assert rows["Remark 6"].status == "failed" and rows["Remark 6"].has_failed_record
    assert rows["Theorem 2.2"].status == "failed" and not rows["Theorem 2.2"].records  # pending, missing
    assert rows["Assumption 1"].status == "not_checkable"
    assert rows["Assumption 4"].status == "not_checkable"  # a passing record does not change that
    assert rows["Assumption 1"].figure is None


def test_any_failed_record_fails_the_row(tmp_path):
    book = {
        "ch02_invariants": [("Lemma 2.3", dict(ok=True))],
        "ch06_geometry": [("Lemma 2.3", dict(ok=False))],
        "ch01_model": [("Assumption 2", dict(ok=False))],
    }
    rows = _rows(_write_book(tmp_path, book))
    assert rows["Lemma 2.3"].status == "failed"
    assert rows["Assumption 2"].status == "failed"


def test_build_problems_decide_the_build(tmp_path):
    # everything that is due passes, pending rows missing: the build may pass
    root = _write_book(tmp_path / "ok", _all_passing())
    records = ledger.collect_records(root)
    assert ledger.build_problems(ledger.ledger_rows(records), records) == []
    assert {r.status for r in ledger.ledger_rows(records) if r.item.pending} == {"failed"}

    # a failed record fails the build, even on a pending row
    book = _all_passing()
    book.setdefault("ch11_rates_remarks", []).append(("Theorem 2.2", dict(ok=False)))  # pending (fixture)
    book["ch04_critical"] = [(r, dict(kw, ok=r != "Lemma 3.1")) for r, kw in book["ch04_critical"]]
    records = ledger.collect_records(_write_book(tmp_path / "bad", book))
    problems = ledger.build_problems(ledger.ledger_rows(records), records)
    assert any("Theorem 2.2 failed its check in ch11_rates_remarks" in p for p in problems)
    assert any("Lemma 3.1 failed its check in ch04_critical" in p for p in problems)
    assert len(problems) == 2

    # a missing record of a checkable, non-pending row fails it; so does an unknown result
    book = _all_passing()
    book["ch07_ovf"] = [("Remark 5", dict(ok=True)), ("Conjecture 2", dict(ok=True))]
    records = ledger.collect_records(_write_book(tmp_path / "missing", book))
    problems = ledger.build_problems(ledger.ledger_rows(records), records)
    assert any("Conjecture 1 has no record" in p for p in problems)
    assert any("'Conjecture 2', which is not a row" in p for p in problems)


def test_no_executed_chapters_fails_every_checkable_row(tmp_path):
    rows = ledger.ledger_rows(ledger.collect_records(tmp_path))
    assert {r.status for r in rows if r.item.checkable} == {"failed"}
    assert {r.status for r in rows if not r.item.checkable} == {"not_checkable"}
    assert ledger.build_problems(rows)


def _sphinx_extension(root):
    spec = importlib.util.spec_from_file_location("dln_ledger", root / "book" / "_ext" / "dln_ledger.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sphinx_extension_warns_on_a_failed_record_and_writes_the_page(root, tmp_path, monkeypatch):
    ext = _sphinx_extension(root)
    book = _all_passing()
    book["ch02_invariants"] = [("Lemma 2.3", dict(ok=False, figure=0.5, section="ch02-lemma-2-3"))]
    _write_book(tmp_path, book)
    warnings = []
    monkeypatch.setattr(ext.logger, "warning", lambda msg, **kw: warnings.append((msg, kw)))
    ext._check_ledger(type("App", (), {"srcdir": str(tmp_path)})())
    assert warnings == [
        ("Results ledger: Lemma 2.3 failed its check in ch02_invariants", {"type": "dln", "subtype": "ledger"})
    ]
    page = (tmp_path / "book" / "chapters" / "ledger.md").read_text()
    assert "**FAILED**" in page
    # all passing: no warning
    _write_book(tmp_path, _all_passing())
    assert ext.ledger_warnings(tmp_path, write=False) == []


def test_ledger_page_links_notes_and_sections(tmp_path):
    book = _all_passing()
    book["ch02_invariants"] = [
        (
            "Lemma 2.3",
            dict(ok=True, figure=3e-12, fmt="{:.1e}", section="ch02-lemma-2-3", how="drift < 1e-8 | relative"),
        )
    ]
    root = _write_book(tmp_path, book)
    out = tmp_path / "ledger.md"
    rows = ledger.write_ledger_page(root, out)
    text = out.read_text()
    assert text.startswith("(ledger)=\n# Results ledger\n")
    assert len(rows) == len(ledger.ITEMS)
    lemma = next(line for line in text.splitlines() if "<notes-lemma-2-3>" in line)
    assert lemma.startswith("| {prf:ref}`Lemma 2.3 <notes-lemma-2-3>` |")
    assert "| ch02: {ref}`ch02-lemma-2-3` |" in lemma
    assert "drift < 1e-8 \\| relative" in lemma and "| 3.0e-12 |" in lemma
    assert "`tests/test_dynamics.py::test_flow_conserves_invariants_and_decreases_loss`" in lemma
    assert lemma.endswith("| verified |")
    assert "{prf:ref}`Lemma 3.2 (ii) <notes-lemma-3-2>`" in text
    assert "{ref}`Reduction (2)-(3) <notes-reduction>`" in text
    assert "| Figure 1 |" in text  # no notes label for the figures
    pending = next(line for line in text.splitlines() if "Theorem 2.2" in line)
    assert "not yet in the book (ch11_rates_remarks)" in pending and pending.endswith("**FAILED** (pending) |")
    assert sum(line.startswith("| ") for line in text.splitlines()) == len(ledger.ITEMS) + 2  # + 2 header rows


def test_cli_json_schema(tmp_path, monkeypatch, capsys):
    root = _write_book(tmp_path, _all_passing())
    monkeypatch.setattr(cli, "repo_root", lambda: root)
    assert cli.main(["ledger", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) == len(ledger.ITEMS)
    for obj in data:
        assert set(obj) == {"result", "status", "where", "check", "figure"}
        assert obj["status"] in ledger.STATUSES
        assert isinstance(obj["where"], str) and obj["where"].startswith("ch")
        assert obj["check"].startswith("tests/test_")
        assert obj["figure"] is None or isinstance(obj["figure"], str)
    assert set(REQUIRED) <= {obj["result"] for obj in data}
    by_name = {obj["result"]: obj for obj in data}
    lemma = {
        "result": "Lemma 2.3",
        "status": "verified",
        "where": "ch02_invariants § ch02",
        "check": "tests/test_dynamics.py::test_flow_conserves_invariants_and_decreases_loss",
        "figure": "1",
    }
    assert by_name["Lemma 2.3"] == lemma
    assert by_name["Figure 2"]["status"] == "failed" and by_name["Figure 2"]["figure"] is None
    assert by_name["Assumption 3"]["status"] == "not_checkable"


def test_cli_table_and_exit_status(tmp_path, monkeypatch, capsys):
    root = _write_book(tmp_path, _all_passing())
    monkeypatch.setattr(cli, "repo_root", lambda: root)
    assert cli.main(["ledger"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["result", "status", "where", "figure"]
    for name in REQUIRED:
        assert any(line.startswith(name + " ") for line in lines), name
    assert re.search(r"^Theorem 2\.2 \(pending\) +failed +ch11_rates_remarks", out, re.M)
    assert f"({len(ledger.ITEMS)} rows)" in out
    assert cli.main(["ledger", "--verbose"]) == 0
    verbose = capsys.readouterr().out
    for it in ledger.ITEMS:
        assert f"    statement: {it.statement}\n" in verbose and f"    test:      {it.test}\n" in verbose
    # a failed check: nonzero exit and the reason printed
    book = _all_passing()
    book["ch03_convergence"] = [("Proposition 2", dict(ok=False, figure=2.5))]
    _write_book(tmp_path, book)
    assert cli.main(["ledger"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^Proposition 2 +failed +ch03_convergence § ch03 +2\.5$", out, re.M)
    assert "Results ledger: Proposition 2 failed its check in ch03_convergence" in out


@pytest.mark.parametrize("result", ["Lemma 3.2 (ii)", "Reduction (2)-(3)", "TKB pure/spurious"])
def test_record_keys_round_trip(result, tmp_path):
    root = _write_book(tmp_path, {"ch09_pure_spurious": [(result, dict(ok=True))]})
    assert set(ledger.collect_records(root)) == {result}


@pytest.mark.book
def test_executed_book_has_no_ledger_problems(root):
    """The executed chapters (``make book``) record every result that is due, and every check passed."""
    records = ledger.collect_records(root)
    assert records, "book/chapters holds no ledger records: run `make book` first"
    assert ledger.build_problems(ledger.ledger_rows(records), records) == []
