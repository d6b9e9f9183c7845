"""Property tests (hypothesis): random shapes, dtypes, layouts and options for every function;
the native result equals the float64 NumPy reference within the suite's tolerance
(conftest.tolerances: float32 rtol 1e-5, float64 rtol 1e-12, atol scaled by the result's size).

Bounded and derandomized (the same examples on every run, no example database), deadline off:
EXAMPLES per function, 11 functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_close
from test_input_matrix import FUNCTIONS, LABEL_LOSSES, NAMES, native, reference

EXAMPLES = 60
PROFILE = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


def _unaligned(array):
    buffer = np.zeros(array.nbytes + 1, dtype=np.uint8)
    view = buffer[1:].view(array.dtype).reshape(array.shape)
    view[...] = array
    return view


LAYOUTS = {
    "c": lambda a: a,
    "fortran": np.asfortranarray,
    "strided_rows": lambda a: np.repeat(a, 2, axis=0)[::2] if a.ndim > 1 else np.repeat(a, 2)[::2],
    "negative": lambda a: a[::-1].copy()[::-1],
    "column_slice": lambda a: np.concatenate([a, a], axis=-1)[..., : a.shape[-1]],
    "unaligned": _unaligned,
    "readonly": lambda a: np.lib.stride_tricks.as_strided(a, writeable=False),
}


@st.composite
def cases(draw, name):
    spec = FUNCTIONS[name]
    batch = tuple(draw(st.lists(st.integers(0, 6), max_size=2)))
    classes = draw(st.integers(1, 40))
    shape = batch + (classes,)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scale = draw(st.sampled_from([1e-3, 1.0, 4.0, 30.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if name == "cross_entropy":
        x = rng.uniform(0.0, 1.0, shape)
    else:
        x = rng.standard_normal(shape) * scale
    x = x.astype(dtype)
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    rows = int(np.prod(batch, dtype=np.int64))
    native_kwargs, reference_kwargs = {}, {}

    def both(key, value, ref_value=None):
        native_kwargs[key] = value
        reference_kwargs[key] = value if ref_value is None else ref_value

    if spec["reduction"]:
        both("reduction", draw(st.sampled_from(["mean", "sum", "none"])))
        first_axis = shape[0] if len(shape) else 1
        count = rows if spec["kind"] == "rows" else first_axis
        if draw(st.booleans()):
            both("sample_weight", rng.uniform(0.0, 2.0, count))
    if name in LABEL_LOSSES:
        soft = name in ("softmax_cross_entropy", "cross_entropy") and draw(st.booleans())
        if soft:
            targets = rng.dirichlet(np.ones(classes), max(rows, 1))[:rows].reshape(shape)
            both("labels", targets.astype(dtype), targets.astype(dtype).astype(np.float64))
        else:
            labels = rng.integers(0, classes, batch)
            if name in ("softmax_cross_entropy", "softmax_focal_loss") and rows and draw(st.booleans()):
                labels.reshape(-1)[rng.random(rows) < 0.3] = -100
            # uint8 only where it holds every label (not the ignore value -100, nor C >= 256).
            unsigned_fits = classes < 200 and not (labels < 0).any()
            label_types = [np.int64, np.int32, np.uint8] if unsigned_fits else [np.int64, np.int32]
            both("labels", labels.astype(draw(st.sampled_from(label_types))), labels)
    if name in ("softmax_cross_entropy", "multiclass_hinge", "softmax_focal_loss") and draw(st.booleans()):
        both("weight", rng.uniform(0.1, 2.0, classes))
    if name == "softmax_cross_entropy":
        if draw(st.booleans()):
            both("label_smoothing", draw(st.sampled_from([0.0, 0.1, 1.0])))
        if draw(st.booleans()):
            both("z_loss", draw(st.sampled_from([1e-4, 0.1])))
        if draw(st.booleans()):
            both("softcap", draw(st.sampled_from([0.5, 5.0, 30.0])))
    if name == "multiclass_hinge":
        both("margin", draw(st.sampled_from([0.0, 1.0, 2.5])))
        both("squared", draw(st.booleans()))
    if name == "cross_entropy" and draw(st.booleans()):
        both("eps", draw(st.sampled_from([0.0, 1e-7, 1e-3])), None)
        if native_kwargs["eps"] == 0.0:  # log 0 where t > 0 would be inf: keep p > 0
            x = np.maximum(x, dtype(1e-3))
    if name == "sigmoid_binary_cross_entropy":
        target_shape = draw(st.sampled_from([shape, shape[-1:], ()]))
        targets = rng.uniform(0, 1, target_shape).astype(dtype)
        both("targets", targets, targets.astype(np.float64))
        if draw(st.booleans()):
            weight = rng.uniform(0.1, 2, shape[-1:]).astype(dtype)
            both("weight", weight, weight.astype(np.float64))
        if draw(st.booleans()):
            pos = rng.uniform(0.1, 3, shape[-1:]).astype(dtype)
            both("pos_weight", pos, pos.astype(np.float64))
    if name == "mean_squared_error":
        target_shape = draw(st.sampled_from([shape, shape[-1:], ()]))
        target = (rng.standard_normal(target_shape) * scale).astype(dtype)
        both("target", target, target.astype(np.float64))
    threads = draw(st.sampled_from([None, 1, 2]))
    return layout, LAYOUTS[layout](x), dtype, native_kwargs, reference_kwargs, threads


def check(name, case):
    layout, x, dtype, native_kwargs, reference_kwargs, threads = case
    got = native(name, x, threads=threads, **native_kwargs)
    want = reference(name, np.asarray(x), **reference_kwargs)
    assert len(got) == len(want)
    for part, expected in zip(got, want):
        assert np.asarray(part).dtype == dtype
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        if dtype == np.float32:
            scale *= 10  # float32 inputs summed over up to 36 rows x 40 classes
        assert_close(part, expected, dtype, scale)


@pytest.mark.parametrize("name", NAMES)
def test_native_equals_reference(name):
    @PROFILE
    @given(case=cases(name))
    def run(case):
        check(name, case)

    run()
