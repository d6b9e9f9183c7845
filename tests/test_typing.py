"""mypy --strict accepts the package and a typed usage snippet (py.typed, overloads, _core stub)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fusedloss

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(fusedloss.__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install fusedloss[test])"
)


def _mypy(tmp_path: Path, *targets: str, expect_ok: bool = True) -> str:
    command = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--show-error-codes",
               "--cache-dir", str(tmp_path / "mypy_cache"), *targets]
    env = dict(os.environ, MYPY_FORCE_COLOR="0")
    if "site-packages" not in PACKAGE.parts:
        # An editable install imports through a finder hook mypy cannot follow: point mypy at
        # the source tree (never at site-packages, which mypy refuses in MYPYPATH).
        env["MYPYPATH"] = str(PACKAGE.parent)
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    if expect_ok:
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    else:
        assert result.returncode == 1, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# What the overloads promise, checked through mypy's reveal_type (and one misuse it must reject).
_REVEAL = """\
import numpy as np
import fusedloss
from fusedloss.typing import Reduction
x = np.zeros((2, 3))
reduction: Reduction = "sum"
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1]))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], reduction="none"))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], reduction=reduction))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], return_grad=True))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], return_argmax=True))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], return_grad=True, return_argmax=True))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], reduction="none", return_grad=True,
                                            return_argmax=True))
reveal_type(fusedloss.multiclass_hinge(x, [0, 1], reduction="sum", return_grad=True))
reveal_type(fusedloss.mean_squared_error(x, x, reduction="none", return_grad=True))
reveal_type(fusedloss.cross_entropy(x, [0, 1], reduction=reduction, return_grad=True))
reveal_type(fusedloss.l2_penalty(x, 0.1))
reveal_type(fusedloss.l2_penalty(x, 0.1, return_grad=True))
reveal_type(fusedloss.softmax(x))
reveal_type(fusedloss.linear_cross_entropy(x, x, [0, 1]))
reveal_type(fusedloss.linear_cross_entropy(x, x, [0, 1], return_grad=True))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], return_hessian=True))
reveal_type(fusedloss.softmax_cross_entropy(x, [0, 1], reduction="none", return_hessian=True,
                                            return_argmax=True))
reveal_type(fusedloss.multiclass_hinge(x, [0, 1], reduction="none", return_hessian=True))
reveal_type(fusedloss.sigmoid_binary_cross_entropy(x, x, return_hessian=True, out=(x, None)))
reveal_type(fusedloss.cross_entropy(x, [0, 1], reduction=reduction, return_hessian=True))
reveal_type(fusedloss.l2_penalty(x, 0.1, return_hessian=True))
fusedloss.mean_squared_error(x, x, out=x)
fusedloss.softmax_cross_entropy(x, [0, 1], out=x)
fusedloss.softmax_cross_entropy(x, [0, 1], return_argmax=True, out=x)
fusedloss.softmax_cross_entropy(x, [0, 1], reduction="meen")
fusedloss.multiclass_hinge(x, [0, 1], out=x)
fusedloss.mean_squared_error(x, x, reduction="meen", return_grad=True)
fusedloss.sigmoid_binary_cross_entropy(x, x, out=x)
fusedloss.linear_cross_entropy(x, x, [0, 1], out=[x, x, None])
flag: bool = bool(x.size)
fusedloss.softmax_cross_entropy(x, [0, 1], return_grad=flag, out=x)
fusedloss.softmax_cross_entropy(x, [0, 1], return_argmax=flag)
"""
# Each misuse above (after the reveal_type lines) must be an error, on its own line.
_MISUSES = ["mean_squared_error", "softmax_cross_entropy", "softmax_cross_entropy", "softmax_cross_entropy",
            "multiclass_hinge", "mean_squared_error", "sigmoid_binary_cross_entropy", "linear_cross_entropy"]
_SCALAR = "numpy.floating[Any]"
_FLOAT_ARRAY = "numpy.ndarray[builtins.tuple[Any, ...], numpy.dtype[numpy.floating[Any]]]"
_LOSS = f"{_SCALAR} | {_FLOAT_ARRAY}"
_INT_ARRAY = "numpy.ndarray[builtins.tuple[Any, ...], numpy.dtype[numpy.signedinteger[numpy._typing._nbit_base._64Bit]]]"
_EXPECTED = [
    _SCALAR,
    _FLOAT_ARRAY,
    _LOSS,
    f"tuple[{_SCALAR}, {_FLOAT_ARRAY}]",
    f"tuple[{_SCALAR}, {_INT_ARRAY}]",
    f"tuple[{_SCALAR}, {_FLOAT_ARRAY}, {_INT_ARRAY}]",
    f"tuple[{_FLOAT_ARRAY}, {_FLOAT_ARRAY}, {_INT_ARRAY}]",
    f"tuple[{_SCALAR}, {_FLOAT_ARRAY}]",
    f"tuple[{_FLOAT_ARRAY}, {_FLOAT_ARRAY}]",
    f"tuple[{_LOSS}, {_FLOAT_ARRAY}]",
    _SCALAR,
    f"tuple[{_SCALAR}, {_FLOAT_ARRAY}]",
    _FLOAT_ARRAY,
    _SCALAR,
    f"tuple[{_SCALAR}, tuple[{_FLOAT_ARRAY}, {_FLOAT_ARRAY}, {_FLOAT_ARRAY} | None]]",
    f"tuple[{_SCALAR}, {_FLOAT_ARRAY}, {_FLOAT_ARRAY}]",
    f"tuple[{_LOSS}, {_FLOAT_ARRAY}, {_FLOAT_ARRAY}, {_INT_ARRAY}]",
    f"tuple[{_FLOAT_ARRAY}, {_FLOAT_ARRAY}, {_FLOAT_ARRAY}]",
    f"tuple[{_SCALAR}, {_FLOAT_ARRAY}, {_FLOAT_ARRAY}]",
    f"tuple[{_LOSS}, {_FLOAT_ARRAY}, {_FLOAT_ARRAY}]",
    f"tuple[{_SCALAR}, {_FLOAT_ARRAY}, {_FLOAT_ARRAY}]",
]


def test_mypy_strict_package_and_typed_usage(tmp_path: Path) -> None:
    # The package as installed (editable or wheel), then the snippet, which imports fusedloss
    # through the installed, py.typed package (one cache: the second run is quick).
    snippet = ROOT / "examples" / "typed_usage.py"
    if not snippet.exists():  # tests run from a copy (e.g. against a wheel): no examples/ there
        pytest.skip("examples/typed_usage.py is not next to the tests")
    _mypy(tmp_path, "-p", "fusedloss")
    _mypy(tmp_path, str(snippet))  # reuses the cache of the first run

    reveal = tmp_path / "reveal.py"
    reveal.write_text(_REVEAL)
    output = _mypy(tmp_path, str(reveal), expect_ok=False)
    revealed = [line.split('Revealed type is "', 1)[1].rstrip('"')
                for line in output.splitlines() if "Revealed type is" in line]
    # numpy's stubs spell some names differently across versions (shape parameter, int64).
    def norm(text: str) -> str:
        text = re.sub(r"ndarray\[(builtins\.)?tuple\[Any, \.\.\.\], |ndarray\[Any, ", "ndarray[S, ", text)
        text = re.sub(r"numpy\.signedinteger\[[\w.]*_64Bit\]", "numpy.int64", text)
        loss = "numpy.floating[Any], numpy.ndarray[S, numpy.dtype[numpy.floating[Any]]]"
        return text.replace(f"Union[{loss}]", loss.replace(", numpy.ndarray", " | numpy.ndarray", 1))
    assert [norm(r) for r in revealed] == [norm(e) for e in _EXPECTED], output
    errors = [line for line in output.splitlines() if ": error:" in line]
    first = _REVEAL.splitlines().index("fusedloss.mean_squared_error(x, x, out=x)") + 1
    lines = [int(line.split(":")[1]) for line in errors]
    assert lines == list(range(first, first + len(_MISUSES))), output
    for line, name in zip(errors, _MISUSES):
        assert f'No overload variant of "{name}"' in line, output


def test_typed_usage_runs() -> None:
    snippet = ROOT / "examples" / "typed_usage.py"
    if not snippet.exists():
        pytest.skip("examples/typed_usage.py is not next to the tests")
    result = subprocess.run([sys.executable, str(snippet)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


# fusedloss.dask: Dask arrays, narrowed by the return_grad / return_hessian literals.
_DASK_REVEAL = """\
import numpy as np
import fusedloss.dask as fd
x = np.zeros((2, 3))
flag: bool = bool(x.size)
reveal_type(fd.softmax_cross_entropy(x, [0, 1]))
reveal_type(fd.softmax_cross_entropy(x, [0, 1], return_grad=True))
reveal_type(fd.softmax_cross_entropy(x, [0, 1], return_hessian=True))
reveal_type(fd.softmax_cross_entropy(x, [0, 1], return_argmax=True))
reveal_type(fd.multiclass_hinge(x, [0, 1], return_grad=flag))
reveal_type(fd.sigmoid_binary_cross_entropy(x, x, return_grad=True))
reveal_type(fd.l2_penalty(x, 0.1, return_hessian=True))
reveal_type(fd.softmax(x))
reveal_type(fd.mean_squared_error(x, x, return_grad=True))
reveal_type(fd.linear_cross_entropy(x, x, [0, 1]))
reveal_type(fd.linear_cross_entropy(x, x, [0, 1], return_grad=True))
"""
_DA = "dask.array.core.Array"
_DASK_ANY = f"{_DA} | tuple[{_DA}, ...]"
_DASK_EXPECTED = [
    _DA, f"tuple[{_DA}, {_DA}]", f"tuple[{_DA}, {_DA}, {_DA}]", _DASK_ANY, _DASK_ANY,
    _DASK_ANY,  # sigmoid BCE, a twin of the registry: Callable[..., DaskResult]
    f"tuple[{_DA}, {_DA}, {_DA}]", _DA,
    _DASK_ANY,  # the registry's twins: Callable[..., DaskResult]
    _DA, f"{_DA} | tuple[Any, ...]",
]


def test_mypy_dask_results_are_typed(tmp_path: Path) -> None:
    pytest.importorskip("dask.array")
    reveal = tmp_path / "reveal_dask.py"
    reveal.write_text(_DASK_REVEAL)
    output = _mypy(tmp_path, str(reveal))  # reveal_type notes only: no error
    revealed = [line.split('Revealed type is "', 1)[1].rstrip('"')
                for line in output.splitlines() if "Revealed type is" in line]
    # older mypy spells unions Union[...]
    def norm(text: str) -> str:
        match = re.fullmatch(r"Union\[(.*)\]", text)
        return " | ".join(part.strip() for part in match.group(1).split(", ", 1)) if match else text
    assert [norm(r) for r in revealed] == _DASK_EXPECTED, output
