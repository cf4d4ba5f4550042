"""The `python -m dlnlib` command line: parameter validation, output folders, failures."""

import json
import subprocess
import sys

import nbformat
import pytest
from PIL import Image

from dlnlib import cli
from dlnlib.report import glued_text


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
        with pytest.raises(ValueError, match=f"parameter '{name}' of ch01_model expects"):
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
    for ext in ("pdf", "png", "svg"):
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
