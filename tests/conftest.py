"""Shared fixtures and helpers for the fusedloss test suite."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _core

SUPPORTED_ISAS = tuple(_core.supported_isas())
BEST_ISA = SUPPORTED_ISAS[-1]


# The core correctness suite (reference comparisons, special values, options, layouts, the
# vectorised maths): every test in these modules runs once per SIMD path this CPU supports
# (issue 16 item 3), through the `isa` fixture that `pytest_pycollect_makeitem` below adds to
# them (tests of Python-level validation errors opt out with `@pytest.mark.isa_independent`).
# The other modules (CLI, config, benchmarks, Dask, threads, memory, typing, examples) test
# what does not depend on the kernels' instruction set and run on the widest path only.
CORE_CORRECTNESS_MODULES = frozenset({
    "test_building_blocks.py",
    "test_classification_losses.py",
    "test_cross_entropy.py",
    "test_fast_paths.py",
    "test_forward_equals_gradient_call.py",
    "test_hessians.py",
    "test_input_matrix.py",
    "test_long_rows.py",
    "test_low_precision.py",
    "test_mean_squared_error.py",
    "test_multiclass_hinge.py",
    "test_multiclass_hinge_small_classes.py",
    "test_nan_payloads.py",
    "test_offset_accuracy.py",
    "test_properties.py",
    "test_regression_losses.py",
    "test_sigmoid_bce_weights.py",
    "test_sigmoid_binary_cross_entropy.py",
    "test_sigmoid_focal_loss.py",
    "test_softmax_cross_entropy.py",
    "test_special_values.py",
    "test_vector_log.py",
    "test_vector_math.py",
    "test_vector_tanh.py",
})


def pytest_pycollect_makeitem(collector, name, obj):
    """Every test function of a core correctness module uses the `isa` fixture (one run per
    ISA), except those marked `isa_independent` (validation errors raised before any kernel
    runs), which run on the widest path only."""
    if (collector.path.name in CORE_CORRECTNESS_MODULES and collector.funcnamefilter(name)
            and callable(obj) and not isinstance(obj, type)):
        marks = getattr(obj, "pytestmark", [])
        if not any(mark.name == "isa_independent" for mark in marks):
            pytest.mark.usefixtures("isa")(obj)
    return None


@pytest.fixture(params=SUPPORTED_ISAS, ids=[f"isa={name}" for name in SUPPORTED_ISAS])
def isa(request):
    """Run the test once per SIMD path this CPU supports; restore the best one afterwards.

    The path is asserted selected before the test and still selected after it: the kernels
    the test called ran on it (a test that selects another path itself fails here)."""
    _core.select_isa(request.param)
    assert _core.selected_isa() == request.param
    try:
        yield request.param
        assert _core.selected_isa() == request.param, (
            f"the test ran on {_core.selected_isa()!r}, not on {request.param!r}")
    finally:
        _core.select_isa(BEST_ISA)


@pytest.fixture(autouse=True, scope="session")
def _threaded_schedule_whatever_the_load():
    """The kernels' pool wakes workers only for idle CPUs; the tests run the threaded schedule
    (threads=2, None, ...) even on a loaded machine, so that it is what they check."""
    before = _core.wake_when_busy()
    _core.set_wake_when_busy(True)
    yield
    _core.set_wake_when_busy(before)


@pytest.fixture(autouse=True)
def _restore_backend():
    """Every test starts and ends on the native backend and the best ISA."""
    fusedloss.set_backend("native")
    yield
    fusedloss.set_backend("native")
    _core.select_isa(BEST_ISA)


def tolerances(dtype, scale=1.0):
    """(rtol, atol) for comparing a result of `dtype` to the float64 reference."""
    if np.dtype(dtype) == np.float32:
        return 1e-5, 1e-6 * scale
    return 1e-12, 1e-12 * scale


def assert_close(actual, expected, dtype, scale=1.0):
    rtol, atol = tolerances(dtype, scale)
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def unaligned(array):
    """A copy of `array` whose data pointer is offset by one byte (not aligned)."""
    array = np.ascontiguousarray(array)
    buffer = bytearray(array.nbytes + 1)
    view = np.frombuffer(buffer, dtype=np.uint8, count=array.nbytes, offset=1)
    result = view.view(array.dtype).reshape(array.shape)
    result[...] = array
    assert not result.flags.aligned or array.itemsize == 1
    return result


def fortran(array):
    return np.asfortranarray(array)


LAYOUTS = [
    "strided_rows", "column_slice", "fortran", "negative_strides", "readonly", "unaligned", "list",
]


def layout(name, array):
    """`array`'s values in the layout called `name` (one of LAYOUTS)."""
    return dict(layouts(array))[name]


def layouts(array):
    """(name, same-valued array in another layout) pairs."""
    c = array.shape[-1]
    wide = np.zeros(array.shape[:-1] + (c + 3,), dtype=array.dtype)
    wide[..., :c] = array
    doubled = np.zeros((2 * array.shape[0],) + array.shape[1:], dtype=array.dtype)
    doubled[::2] = array
    reversed_rows = array[::-1].copy()[::-1]
    readonly = array.copy()
    readonly.flags.writeable = False
    return [
        ("strided_rows", doubled[::2]),
        ("column_slice", wide[..., :c]),
        ("fortran", fortran(array)),
        ("negative_strides", reversed_rows),
        ("readonly", readonly),
        ("unaligned", unaligned(array)),
        ("list", array.tolist()),
    ]
