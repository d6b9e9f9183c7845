"""An ``out=`` that is not aligned to its item size is refused with a ``ValueError`` naming
the alignment (issue 16 item 7, SPEC "Zero weights and NaN" paragraph on ``out``): the kernels
store whole vectors of the item type, and a misaligned store is undefined behaviour (UBSan
flagged every kernel family on every ISA). Refused on every function that takes ``out``,
through the validated path and the fast paths (which hand ``out`` to the kernel module's own
check), on both backends, also when ``out`` is the (unaligned) input itself; nothing is
written to it."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss

from conftest import unaligned
from test_input_matrix import FUNCTIONS, NAMES, data_for

WITH_OUT = [name for name in NAMES if FUNCTIONS[name]["grad"] or not FUNCTIONS[name]["reduction"]]


def _call(name, x, out):
    spec = FUNCTIONS[name]
    kwargs = {"out": out}
    if spec["grad"]:
        kwargs["return_grad"] = True
    return spec["call"](x, **kwargs)


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", WITH_OUT)
def test_unaligned_out_is_refused(name, dtype, backend):
    fusedloss.set_backend(backend)
    x = data_for(name).astype(dtype)
    expected_shape = _call(name, x, None)
    result_shape = np.shape(expected_shape[1] if isinstance(expected_shape, tuple) else expected_shape)
    out = unaligned(np.full(result_shape, 7.0, dtype))
    with pytest.raises(ValueError, match="aligned"):
        _call(name, x, out)
    assert (out == 7.0).all()  # nothing written


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [n for n in WITH_OUT if FUNCTIONS[n]["grad"] or n != "logsumexp"])
def test_unaligned_input_as_its_own_out_is_refused(name, dtype):
    x = unaligned(data_for(name).astype(dtype))
    before = x.copy()
    with pytest.raises(ValueError, match="aligned"):
        _call(name, x, x)
    np.testing.assert_array_equal(x, before)


def test_fast_path_shapes_are_refused_by_the_kernel_module():
    # (32, 10) float32 C-contiguous logits and int64 labels take softmax_cross_entropy's fast
    # path; an unaligned out must still be refused there.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 10)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    out = unaligned(np.zeros_like(x))
    with pytest.raises(ValueError, match="aligned"):
        fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=out)
    with pytest.raises(ValueError, match="aligned"):
        fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=out, threads=1)
