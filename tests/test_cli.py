"""The ``fusedloss`` command (run as ``python -m fusedloss``): ``bench`` and ``info``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

import fusedloss
from fusedloss import _core


def run_cli(*args, timeout=120):
    environment = dict(os.environ)
    for name in ("FUSEDLOSS_ISA", "FUSEDLOSS_BACKEND"):
        environment.pop(name, None)
    return subprocess.run([sys.executable, "-m", "fusedloss", *args], capture_output=True, text=True,
                          env=environment, timeout=timeout)


def table_rows(stdout):
    """The data lines of the printed table, split on whitespace (header and rule dropped)."""
    lines = [line for line in stdout.splitlines() if line and not line.startswith("note:")]
    assert set(lines[1].replace(" ", "")) == {"-"}, stdout
    return [line.split() for line in lines[2:]]


def test_info_prints_the_configuration():
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    printed = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
               for line in result.stdout.splitlines() if ":" in line}
    assert printed["version"] == fusedloss.__version__
    assert printed["backend"] == "native"
    assert printed["isa_selected"] == _core.selected_isa()
    assert printed["openmp_threads"] == str(_core.openmp_max_threads())
    assert printed["threads"] == str(_core.max_threads())
    assert printed["compiler"] and "cxx_flags" in printed
    assert printed["openmp_library"] == _core.openmp_library()


def test_bench_json_and_table(tmp_path):
    pytest.importorskip("torch")  # the `peers` extra: the torch column is checked too
    json_path = tmp_path / "bench.json"
    result = run_cli("bench", "--loss", "softmax_cross_entropy,mean_squared_error", "--loss", "multiclass_hinge",
                     "--shape", "64x10", "--shape", "1000", "--threads", "1,2", "--repeats", "2",
                     "--json", str(json_path))
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    # 64x10 for the two classification losses, 1000 for MSE; one row per thread count
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("softmax_cross_entropy", "64x10", "1"), ("softmax_cross_entropy", "64x10", "2"),
        ("mean_squared_error", "1000", "1"), ("mean_squared_error", "1000", "2"),
        ("multiclass_hinge", "64x10", "1"), ("multiclass_hinge", "64x10", "2"),
    ]
    document = json.loads(json_path.read_text())
    machine = document["machine"]
    assert machine["cpu_count"] == os.cpu_count() and machine["cpu"]
    assert machine["fusedloss"]["isa_selected"] == _core.selected_isa()
    assert machine["versions"]["numpy"] and machine["versions"]["torch"]
    assert document["settings"]["repeats"] == 2 and document["settings"]["threads"] == [1, 2]
    assert len(document["rows"]) == 6
    for row in document["rows"]:
        for key in ("fusedloss_ms", "numpy_ms", "torch_ms", "copy_ms", "copyto_ms", "gb_per_s",
                    "copy_ratio", "speedup_vs_fastest_peer"):
            assert row[key] > 0, (key, row)
        fastest = min(v for v in (row["numpy_ms"], row["torch_ms"], row["jax_ms"]) if v is not None)
        assert row["speedup_vs_fastest_peer"] == pytest.approx(fastest / row["fusedloss_ms"])
        assert row["copy_ratio"] == pytest.approx(row["fusedloss_ms"] / row["copy_ms"])
    # every raw timing is there: 2 rounds of each contender
    contenders = {(t["loss"], t["contender"]) for t in document["timings"]}
    for loss in ("softmax_cross_entropy", "mean_squared_error", "multiclass_hinge"):
        for name in ("numpy", "copyto", "fusedloss@1", "fusedloss@2", "copy@1", "copy@2", "torch@1", "torch@2"):
            assert (loss, name) in contenders
    assert all(len(t["times_s"]) == 2 and min(t["times_s"]) > 0 for t in document["timings"])
    # every peer's result agreed with fusedloss's (PyTorch's hinge after its division by C)
    assert "differs" not in result.stdout, result.stdout
    if all(importlib.util.find_spec(name) is not None for name in ("jax", "optax")):
        # a JAX worker per thread count (tests/test_bench_jax.py covers the rest)
        for loss in ("softmax_cross_entropy", "mean_squared_error", "multiclass_hinge"):
            assert {(loss, "jax@1"), (loss, "jax@2")} <= contenders
        assert all(row["jax_ms"] > 0 for row in document["rows"])


def test_bench_options_and_plot(tmp_path):
    pytest.importorskip("matplotlib")  # the `bench` extra
    plot_path = tmp_path / "options.png"
    result = run_cli("bench", "--options", "--loss", "softmax_cross_entropy", "--loss", "sigmoid_binary_cross_entropy",
                     "--shape", "64x10", "--repeats", "1", "--no-peers", "--plot", str(plot_path))
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    options = [r[4] for r in rows]
    assert options == ["plain", "weight", "ignore_index", "label_smoothing", "z_loss", "softcap",
                       "return_argmax", "soft_targets", "sample_weight", "plain", "weight", "pos_weight",
                       "sample_weight"]
    assert all(r[7] == "+0.0%" for r in rows if r[4] == "plain")
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_plain_plot(tmp_path):
    pytest.importorskip("matplotlib")
    plot_path = tmp_path / "bench.png"
    result = run_cli("bench", "--loss", "cross_entropy", "--shape", "32x8", "--repeats", "1", "--no-peers",
                     "--quiet", "--plot", str(plot_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no progress
    assert [r[:2] for r in table_rows(result.stdout)] == [["cross_entropy", "32x8"]]
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--threads", "0"], "--threads"),
    (["--threads", "1,x"], "--threads"),
    (["--shape", "10x10x10"], "--shape"),
    (["--repeats", "0"], "--repeats"),
    (["--loss", "bogus"], "unknown loss 'bogus'"),
])
def test_bench_rejects_bad_arguments(args, message):
    result = run_cli("bench", "--no-peers", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_progress_without_tqdm_prints_plain_lines(monkeypatch, capsys):
    from fusedloss import cli

    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    progress, close = cli._progress(True, quiet=False)
    progress("[1/2] softmax_cross_entropy 64x10 float32")
    close()
    assert capsys.readouterr().err == "[1/2] softmax_cross_entropy 64x10 float32\n"
    progress, _ = cli._progress(True, quiet=True)
    assert progress is None


def test_progress_bar_on_stderr(capsys):
    pytest.importorskip("tqdm")  # the `bench` extra
    from fusedloss import cli

    progress, close = cli._progress(True, quiet=False)
    progress("[1/2] softmax_cross_entropy 64x10 float32")
    progress("[2/2] multiclass_hinge 64x10 float32")
    close()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "multiclass_hinge 64x10 float32" in captured.err and "1/2" in captured.err


def test_bench_linear_cross_entropy_scaled_down(tmp_path):
    json_path = tmp_path / "linear.json"
    result = run_cli("bench", "--loss", "linear_cross_entropy", "--scale", "0.02", "--threads", "1",
                     "--repeats", "1", "--no-peers", "--quiet", "--json", str(json_path))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("note:")]
    assert lines[0].startswith("ms (ratio to the three-GEMM floor)")
    rows = [line.split() for line in lines[3:]]
    assert [row[0] for row in rows] == ["41x512x640", "10x1024x2560", "164x256x164"], result.stdout
    document = json.loads(json_path.read_text())
    assert document["settings"]["loss"] == "linear_cross_entropy"
    for row in document["rows"]:
        assert set(row["ms"]) == {"fusedloss", "numpy+fusedloss", "floor"}
        assert row["ratio_to_floor"]["floor"] == 1.0
        assert row["peak_mib"]["fusedloss"] >= 0


def test_bench_linear_cross_entropy_shape_and_errors():
    result = run_cli("bench", "--loss", "linear_cross_entropy", "--shape", "64x16x300", "--threads", "1",
                     "--repeats", "1", "--no-peers", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "64x16x300" in result.stdout
    result = run_cli("bench", "--loss", "softmax_cross_entropy", "--shape", "64x16x300", "--no-peers")
    assert result.returncode == 2 and "linear_cross_entropy only" in result.stderr
    result = run_cli("bench", "--loss", "linear_cross_entropy", "--scale", "0", "--no-peers")
    assert result.returncode == 2 and "--scale" in result.stderr


def test_version_flag():
    for args in (["--version"], ["bench", "--version"]):
        result = run_cli(*args, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"fusedloss {fusedloss.__version__}"


@pytest.mark.parametrize("text", ["10x", "x10", "10xx10", "10x-1", "0", "abc", "10x10x"])
def test_bench_rejects_malformed_shapes(text):
    result = run_cli("bench", "--no-peers", "--shape", text, timeout=60)
    assert result.returncode == 2
    assert "--shape" in result.stderr and repr(text) in result.stderr
    assert result.stdout == ""


def test_parse_shape_accepts_well_formed_shapes():
    from fusedloss import cli

    assert cli._parse_shape("4096x1000") == (4096, 1000)
    assert cli._parse_shape("1000000") == (1000000,)
    assert cli._parse_shape("64,10") == (64, 10)
    assert cli._parse_shape("2x3x4") == (2, 3, 4)


@pytest.mark.parametrize("option", ["--json", "--plot"])
def test_bench_rejects_bad_output_paths_before_timing(tmp_path, option):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    missing = tmp_path / "no_such_dir" / "out.file"
    # the default cases would take minutes: a quick exit shows nothing was timed
    result = run_cli("bench", "--no-peers", "--quiet", option, str(missing), timeout=60)
    assert result.returncode == 2
    assert option in result.stderr and "does not exist" in result.stderr
    assert result.stdout == ""
    result = run_cli("bench", "--no-peers", "--quiet", option, str(tmp_path), timeout=60)
    assert result.returncode == 2 and "is a directory" in result.stderr
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            result = run_cli("bench", "--no-peers", "--quiet", option, str(locked / "out"), timeout=60)
        finally:
            locked.chmod(0o700)
        assert result.returncode == 2 and "not writable" in result.stderr


def test_bench_explains_shape_kinds_when_nothing_fits():
    result = run_cli("bench", "--no-peers", "--quiet", "--shape", "100x10", "--loss", "mean_squared_error",
                     timeout=60)
    assert result.returncode == 2
    assert "mean_squared_error: ELEMENTS" in result.stderr
    assert result.stdout == ""
    result = run_cli("bench", "--no-peers", "--quiet", "--shape", "1000", "--loss", "softmax_cross_entropy",
                     timeout=60)
    assert result.returncode == 2 and "softmax_cross_entropy: ROWSxCLASSES" in result.stderr


def test_bench_notes_a_loss_no_shape_fits():
    result = run_cli("bench", "--no-peers", "--quiet", "--shape", "32x8", "--repeats", "1",
                     "--loss", "cross_entropy,mean_squared_error")
    assert result.returncode == 0, result.stderr
    assert "no --shape fits mean_squared_error (it takes ELEMENTS)" in result.stderr
    assert [r[0] for r in table_rows(result.stdout)] == ["cross_entropy"]


def _plot_rows(peers):
    rows = []
    for loss, shape in (("softmax_cross_entropy", [64, 10]), ("mean_squared_error", [1000])):
        for threads, fused in ((1, 2.0), (2, 1.0)):
            rows.append({"loss": loss, "shape": shape, "dtype": "float32", "threads": threads, "option": "plain",
                         "fusedloss_ms": fused, "numpy_ms": 250.0, "torch_ms": 4.0 if peers else None,
                         "jax_ms": None, "speedup_vs_numpy": 250.0 / fused,
                         "speedup_vs_fastest_peer": (4.0 if peers else 250.0) / fused,
                         "copy_ms": 2.4, "copyto_ms": 3.0})
    return rows


@pytest.mark.parametrize("peers", [False, True])
def test_write_plot_log_axis_legend_and_honest_labels(tmp_path, monkeypatch, peers):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fusedloss._bench.runner import write_plot

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    path = tmp_path / "plot.png"
    write_plot(_plot_rows(peers), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (figure,) = figures
    speedup, copy = figure.axes[:2]
    assert speedup.get_yscale() == "log"
    if peers:
        assert speedup.get_ylabel().startswith("speedup vs fastest peer")
    else:
        assert speedup.get_ylabel() == "speedup vs NumPy"
    assert "fraction" not in copy.get_ylabel() and copy.get_ylabel().startswith("copy time / fusedloss time")
    for axis in (speedup, copy):
        assert [t.get_text() for t in axis.get_legend().get_texts()] == ["1 thread", "2 threads"]
    heights = sorted(round(p.get_height(), 6) for p in speedup.patches)
    expected = [2.0, 2.0, 4.0, 4.0] if peers else [125.0, 125.0, 250.0, 250.0]
    assert heights == expected
    plt.close(figure)
