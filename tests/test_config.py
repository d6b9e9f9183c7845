"""show_config, ISA selection and the FUSEDLOSS_ISA / FUSEDLOSS_BACKEND variables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fusedloss
from fusedloss import _core


def run_python(code, **env):
    environment = dict(os.environ)
    environment.pop("FUSEDLOSS_ISA", None)
    environment.pop("FUSEDLOSS_BACKEND", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=60
    )


def test_show_config_prints_version_backend_isa(capsys):
    fusedloss.show_config()
    printed = capsys.readouterr().out
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
             for line in printed.splitlines() if ":" in line}
    assert lines["version"] == fusedloss.__version__
    assert lines["backend"] == "native"
    assert lines["isa_selected"] == _core.selected_isa()
    assert lines["isa_supported"] == ", ".join(_core.supported_isas())
    assert lines["isa_built"] == ", ".join(_core.built_isas())
    assert "openmp_threads" in lines and "compiler" in lines
    assert lines["streaming_stores"] == (
        f"gradients of {_core.streaming_threshold()} bytes or more" if _core.isa_has_streaming_stores()
        else "none (this ISA has none)")


def test_show_config_reports_numpy_backend(capsys):
    fusedloss.set_backend("numpy")
    fusedloss.show_config()
    assert "backend: numpy" in capsys.readouterr().out
    assert fusedloss.config()["backend"] == "numpy"


def test_default_isa_is_the_best_supported():
    supported = _core.supported_isas()
    assert supported[0] == "baseline"
    assert set(supported) <= set(_core.built_isas())
    assert _core.selected_isa() == supported[-1]
    result = run_python("from fusedloss import _core; print(_core.selected_isa())")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == supported[-1]


def test_select_isa_rejects_unknown_names():
    with pytest.raises(ValueError):
        _core.select_isa("bogus")
    assert _core.selected_isa() == _core.supported_isas()[-1]


def test_env_isa_baseline_forces_baseline():
    result = run_python(
        "import fusedloss, numpy as np; from fusedloss import _core; print(_core.selected_isa());"
        "print(float(fusedloss.softmax_cross_entropy(np.array([[3.2, 5.1, -1.7]]), [0])))",
        FUSEDLOSS_ISA="baseline",
    )
    assert result.returncode == 0, result.stderr
    isa, loss = result.stdout.split()
    assert isa == "baseline"
    assert float(loss) == pytest.approx(2.0404, abs=5e-5)


def test_env_isa_bogus_fails_extension_import_clearly():
    # the extension itself refuses to load, naming the variable and the bad value
    result = run_python("import fusedloss._core", FUSEDLOSS_ISA="bogus")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "FUSEDLOSS_ISA" in result.stderr and "'bogus'" in result.stderr
    # with warnings as errors, importing the package fails with the same explanation
    result = run_python("import warnings; warnings.simplefilter('error'); import fusedloss",
                        FUSEDLOSS_ISA="bogus")
    assert result.returncode != 0
    assert "FUSEDLOSS_ISA" in result.stderr and "'bogus'" in result.stderr


def test_env_isa_bogus_fails_package_import_with_runtime_error():
    # a forced instruction set that cannot run is never silently replaced by the slow reference
    result = run_python("import fusedloss", FUSEDLOSS_ISA="bogus")
    assert result.returncode != 0
    assert "RuntimeError" in result.stderr
    assert "FUSEDLOSS_ISA" in result.stderr and "'bogus'" in result.stderr


def test_env_backend_numpy():
    result = run_python("import fusedloss; print(fusedloss.get_backend())", FUSEDLOSS_BACKEND="numpy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


def test_set_backend_round_trip():
    fusedloss.set_backend("numpy")
    assert fusedloss.get_backend() == "numpy"
    fusedloss.set_backend("native")
    assert fusedloss.get_backend() == "native"
    with pytest.raises(ValueError, match="backend must be one of"):
        fusedloss.set_backend("bogus")
    with pytest.raises(ValueError, match="backend must be one of"):
        fusedloss.set_backend(None)


def test_streaming_threshold_from_the_environment():
    code = "from fusedloss import _core; print(_core.streaming_threshold())"
    assert run_python(code).stdout.strip() == str(32 * 2 ** 20)
    result = run_python(code, FUSEDLOSS_STREAMING_BYTES="1048576")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1048576"
    for bad in ("lots", "-5", "1.5"):
        result = run_python(code, FUSEDLOSS_STREAMING_BYTES=bad)
        assert result.returncode != 0
        assert "FUSEDLOSS_STREAMING_BYTES: expected a whole number of bytes >= 0, got" in result.stderr


def test_streaming_stores_per_isa(isa):
    """The baseline's kernels have no streaming stores (traits_baseline.hpp); AVX2's and
    AVX-512's have, and config() says which."""
    assert _core.isa_has_streaming_stores() == (isa != "baseline")
    expected = ("none (this ISA has none)" if isa == "baseline"
                else f"gradients of {_core.streaming_threshold()} bytes or more")
    assert fusedloss.config()["streaming_stores"] == expected
