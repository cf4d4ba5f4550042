"""Tests for dlnlib.campaign: streaming, resumable OVF campaigns, and Dask executors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dlnlib.campaign import (
    campaign_summary,
    critical_values_of_draw,
    executor_for,
    load_spec,
    read_spec,
    read_table,
    run_campaign,
)
from dlnlib.experiments import ovf_experiment

pa = pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
SPEC = """
[campaign]
seed = 3
chunk_size = 1
slots = 1
t_max = 2000.0

[[grid]]
dims = [[3, 3, 2]]
init_scale = [0.5, 1.0]
n_data = 2
n_inits = 2
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("spec") / "tiny.toml"
    p.write_text(SPEC)
    return p


@pytest.fixture(scope="module")
def serial(spec_file, tmp_path_factory):
    """The reference: the whole campaign, uninterrupted, in this process."""
    out = tmp_path_factory.mktemp("serial")
    run_campaign(load_spec(spec_file), out, progress=False)
    return out


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "dlnlib", "campaign", *map(str, args)], env=env, **kw)


def test_spec_expands_the_grid_and_rejects_bad_input(spec_file, tmp_path):
    spec = load_spec(spec_file)
    assert len(spec.configs) == 2 and spec.n_trials == 8 and len(spec.chunks()) == 8
    for text, match in (
        ("[[grid]]\nn_data = 2\n", "needs dims"),
        ("[[grid]]\ndims = [3, 3, 2]\nwidth = 3\n", "unknown key"),
        ("[campaign]\nchunk_size = 0\n[[grid]]\ndims = [3, 3, 2]\n", "chunk_size"),
        ("[[grid]]\ndims = [3, 2]\n", "hidden layer"),
        ("[campaign]\nseed = -1\n[[grid]]\ndims = [3, 3, 2]\n", "seed"),
    ):
        p = tmp_path / "bad.toml"
        p.write_text(text)
        with pytest.raises(ValueError, match=match):
            load_spec(p)


def test_campaign_table_matches_ovf_experiment(spec_file, serial):
    table = read_table(serial).to_pydict()
    spec = load_spec(spec_file)
    c = spec.configs[1]
    ref = ovf_experiment(
        c.dims, n_data=2, n_inits=2, rng=np.random.SeedSequence(3, spawn_key=(1,)), init_scale=c.init_scale,
        t_max=spec.t_max, progress=False,
    )  # fmt: skip
    rows = [k for k, ci in enumerate(table["config"]) if ci == 1]
    np.testing.assert_array_equal([table["final_loss"][k] for k in rows], ref.final_loss)
    summary = campaign_summary(serial)
    assert summary["complete"] and summary["pooled"]["n_done"] == 8
    # the folder knows its spec, and the data draws can be regenerated from it
    assert read_spec(serial) == spec
    values, gmin = critical_values_of_draw(spec, 1, 0)
    np.testing.assert_array_equal(values, ref.critical_values[0])
    assert gmin == ref.global_minimum_value[0]
    with pytest.raises(ValueError, match="not a campaign folder"):
        read_spec(serial / "chunks")
    assert summary["configs"][1]["n_global"] == ref.n_global


def test_campaign_resumes_after_sigkill_with_the_same_table(spec_file, serial, tmp_path):
    out = tmp_path / "killed"
    proc = _cli(spec_file, "--out", out, "--workers", 1, "-q", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((out / "chunks").glob("c*.parquet")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    n_before = len(list((out / "chunks").glob("c*.parquet")))
    assert 1 <= n_before < 8 and not (out / "summary.json").exists()  # killed mid-run
    assert not campaign_summary(out)["complete"]
    rerun = _cli(spec_file, "--out", out, "--workers", 1, "-q", stdout=subprocess.PIPE, text=True)
    stdout, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stdout
    assert read_table(out).equals(read_table(serial))
    assert campaign_summary(out) == campaign_summary(serial)


def test_campaign_refuses_large_estimate_without_yes_and_foreign_folder(tmp_path, serial):
    big = tmp_path / "big.toml"
    big.write_text("[[grid]]\ndims = [[4, 4, 4, 3]]\nn_data = 1000\nn_inits = 1000\n")
    proc = _cli(big, "--out", tmp_path / "big", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "1,000,000 trajectories" in stdout and "--yes" in stderr
    assert not (tmp_path / "big").exists()
    other = tmp_path / "other.toml"
    other.write_text(SPEC.replace("seed = 3", "seed = 4"))
    with pytest.raises(ValueError, match="different campaign"):
        run_campaign(load_spec(other), serial, progress=False)


def test_dask_local_cluster_identical_to_serial_and_survives_a_killed_worker(spec_file, serial, tmp_path):
    pytest.importorskip("dask.distributed")
    spec = load_spec(spec_file)
    with executor_for("local", 2) as ex:
        client = ex._client
        killed = []

        def kill_one_worker(n_written):
            if n_written == 1:  # mid-run: the other chunks are queued or running on the workers
                pids = client.run(os.getpid)
                addr, pid = sorted(pids.items())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(addr)

        run_campaign(spec, tmp_path / "dask", executor=ex, progress=False, max_in_flight=8, on_chunk=kill_one_worker)
        assert killed  # a worker process really died mid-run
        # identical results through the Dask executor (ovf_experiment as well)
        res = ovf_experiment((3, 3, 2), n_data=2, n_inits=3, rng=5, t_max=2e3, chunk_size=2, executor=ex,
                             progress=False)  # fmt: skip
    assert read_table(tmp_path / "dask").equals(read_table(serial))
    ref = ovf_experiment((3, 3, 2), n_data=2, n_inits=3, rng=5, t_max=2e3, chunk_size=2, progress=False)
    np.testing.assert_array_equal(res.final_loss, ref.final_loss)
    assert res.index_set == ref.index_set


def test_cli_campaign_and_scheduler_options(spec_file, tmp_path):
    proc = _cli(
        spec_file, "--out", tmp_path / "x", "--workers", 0, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--workers" in stderr and not (tmp_path / "x").exists()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "dlnlib", "run", "--help"], env=env, capture_output=True, text=True, check=True
    )
    assert "--scheduler" in out.stdout
