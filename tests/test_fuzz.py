"""Fuzz (hypothesis): native against the NumPy reference on hostile inputs (issue 16).

Where `test_properties.py` draws well-behaved values, this draws what breaks kernels: class
counts around every vector width and tile (C = 1..17, 31..33, 63..65, occasionally a long row
of 40000 classes: the chunked kernel), both dtypes, every layout, every ISA (drawn per
example), values with ±inf, NaN (with payload bits), ±huge (float32 ±3e38, float64 ±1e307),
denormals, large offsets (±1e4..±1e8 added to the row), and option combinations (weights with
zeros, ignore_index, smoothing, z-loss, softcap, soft targets, pos_weight, squared hinge,
reductions, threads).

Oracle: the float64 NumPy reference on the same inputs. Checked: the NaN positions are equal;
where the reference rounded to the dtype is ±inf the native value is the same inf; elsewhere
``|native - reference| <= rtol |reference| + atol``, with float32 rtol 2e-5 (~170 ulp: sums over
up to 17 x 65 values, exp/log/tanh of a few ulp), atol 2e-6 times the part's scale (its largest
finite reference magnitude, at least 1, times the softcap where one is set: float32 must round
``c tanh(x / c)``); float64 rtol 1e-11, atol 1e-12 x scale plus ``16 eps |max x|`` (the
reference itself forms ``m + log S - x``, which loses ``|m| 2^-53``). No offset term for float32:
a float32 loss must not lose its offset's magnitude (SPEC "Accuracy at any offset").

Bounded in the suite: ``FUZZ_EXAMPLES`` examples per function (derandomized: the same examples
every run; no database). A longer run (docs/robustness.md):
``FUSEDLOSS_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py -x`` (random seeds each
run unless ``FUSEDLOSS_FUZZ_SEED`` is set).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fusedloss import _core
from test_input_matrix import native, reference
from test_properties import LAYOUTS as PROPERTY_LAYOUTS

SUPPORTED_ISAS = tuple(_core.supported_isas())
FUZZ_EXAMPLES = int(os.environ.get("FUSEDLOSS_FUZZ_EXAMPLES", "0")) or None
_SEED = int(os.environ["FUSEDLOSS_FUZZ_SEED"]) if os.environ.get("FUSEDLOSS_FUZZ_SEED") else None
if FUZZ_EXAMPLES is None:
    PROFILE = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                       suppress_health_check=[HealthCheck.too_slow])
else:  # the long run: random examples (or FUSEDLOSS_FUZZ_SEED's), the failing one printed
    PROFILE = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                       suppress_health_check=list(HealthCheck), print_blob=True)

NAMES = ["softmax_cross_entropy", "multiclass_hinge", "cross_entropy",
         "sigmoid_binary_cross_entropy", "mean_squared_error", "softmax", "log_softmax",
         "logsumexp"]
CLASS_COUNTS = list(range(1, 18)) + [31, 32, 33, 63, 64, 65]
LONG_ROW = 40_000
IGNORE = -100


# The layouts of the property tests, plus Python lists.
LAYOUTS = {**PROPERTY_LAYOUTS, "list": lambda a: a.tolist()}


def _specials(dtype):
    info = np.finfo(dtype)
    huge = 3e38 if dtype == np.float32 else 1e307
    payload = (np.array(0x7FC00001, np.uint32).view(np.float32) if dtype == np.float32
               else np.array(0x7FF00000000007A2, np.uint64).view(np.float64))
    return [np.nan, payload, np.inf, -np.inf, huge, -huge, float(info.tiny) / 4,
            -float(info.tiny) / 4, 0.0, -0.0]


@st.composite
def cases(draw, name):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    if draw(st.integers(0, 19)) == 0 and name not in ("cross_entropy",):
        classes, batch = LONG_ROW, (draw(st.integers(1, 2)),)
    else:
        classes = draw(st.sampled_from(CLASS_COUNTS))
        batch = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=2)))
    shape = batch + (classes,)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows = int(np.prod(batch))
    if name == "cross_entropy":
        x = rng.uniform(0.0, 1.0, shape)
    else:
        scale = draw(st.sampled_from([1e-3, 1.0, 3.0, 30.0]))
        offset = draw(st.sampled_from([0.0, 0.0, 1e4, -1e4, 1e6, -1e6, 1e8, -1e8]))
        x = rng.standard_normal(shape) * scale + offset
    x = x.astype(dtype)
    special_count = draw(st.sampled_from([0, 0, 1, 2, 5]))
    specials = _specials(dtype)
    for _ in range(special_count):
        index = tuple(int(rng.integers(0, n)) for n in shape)
        x[index] = specials[draw(st.integers(0, len(specials) - 1))]
    kwargs, reference_kwargs = {}, {}

    def both(key, value, ref_value=None):
        kwargs[key] = value
        reference_kwargs[key] = value if ref_value is None else ref_value

    def maybe_zeros(values):
        if draw(st.booleans()):
            values[rng.random(values.shape) < 0.3] = 0.0
        return values

    if name in ("softmax_cross_entropy", "multiclass_hinge", "cross_entropy",
                "sigmoid_binary_cross_entropy", "mean_squared_error"):
        both("reduction", draw(st.sampled_from(["mean", "sum", "none"])))
        count = rows if name in ("softmax_cross_entropy", "multiclass_hinge",
                                 "cross_entropy") else shape[0]
        if draw(st.booleans()):
            both("sample_weight", maybe_zeros(rng.uniform(0.0, 2.0, count)))
    if name in ("softmax_cross_entropy", "multiclass_hinge", "cross_entropy"):
        soft = name != "multiclass_hinge" and draw(st.booleans())
        if soft:
            targets = rng.dirichlet(np.ones(classes), rows).reshape(shape).astype(dtype)
            both("labels", targets, targets.astype(np.float64))
        else:
            labels = rng.integers(0, classes, batch)
            if name == "softmax_cross_entropy" and draw(st.booleans()):
                labels[rng.random(batch) < 0.3] = IGNORE
                both("ignore_index", IGNORE)
            both("labels", labels.astype(draw(st.sampled_from([np.int64, np.int32]))), labels)
    if name in ("softmax_cross_entropy", "multiclass_hinge") and draw(st.booleans()):
        both("weight", maybe_zeros(rng.uniform(0.1, 2.0, classes)))
    if name == "softmax_cross_entropy":
        if draw(st.booleans()):
            both("label_smoothing", draw(st.sampled_from([0.1, 1.0])))
        if draw(st.booleans()):
            both("z_loss", draw(st.sampled_from([1e-4, 0.1])))
        if draw(st.booleans()):
            both("softcap", draw(st.sampled_from([0.5, 5.0, 30.0])))
    if name == "multiclass_hinge":
        both("margin", draw(st.sampled_from([0.0, 1.0, 2.5])))
        both("squared", draw(st.booleans()))
    if name == "sigmoid_binary_cross_entropy":
        target_shape = draw(st.sampled_from([shape, shape[-1:], ()]))
        targets = rng.uniform(0, 1, target_shape)
        if draw(st.booleans()):
            targets = np.round(targets)
        targets = targets.astype(dtype)
        both("targets", targets, targets.astype(np.float64))
        if draw(st.booleans()):
            weight = rng.uniform(0.1, 2, shape[-1:]).astype(dtype)
            both("weight", weight, weight.astype(np.float64))
        if draw(st.booleans()):
            positive = rng.uniform(0.1, 3, shape[-1:]).astype(dtype)
            both("pos_weight", positive, positive.astype(np.float64))
    if name == "mean_squared_error":
        target_shape = draw(st.sampled_from([shape, shape[-1:], ()]))
        target = (rng.standard_normal(target_shape) * 3).astype(dtype)
        both("target", target, target.astype(np.float64))
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    threads = draw(st.sampled_from([None, 1, 2]))
    isa = draw(st.sampled_from(SUPPORTED_ISAS))
    return isa, layout, x, dtype, kwargs, reference_kwargs, threads


def check(name, case):
    isa, layout, x, dtype, kwargs, reference_kwargs, threads = case
    _core.select_isa(isa)
    assert _core.selected_isa() == isa
    try:
        got = native(name, LAYOUTS[layout](x), threads=threads, **dict(kwargs))
    finally:
        _core.select_isa(SUPPORTED_ISAS[-1])
    if layout == "list":  # Python floats: the call sees float64 values
        x, dtype = x.astype(np.float64), np.float64
    with np.errstate(all="ignore"):  # inf - inf, 0 * inf in the reference: expected here
        want = reference(name, x, **dict(reference_kwargs))
        _compare(name, got, want, x, dtype, kwargs, isa, layout)


def _compare(name, got, want, x, dtype, kwargs, isa, layout):
    assert len(got) == len(want)
    finite_x = np.abs(x[np.isfinite(x)].astype(np.float64))
    largest_x = float(finite_x.max(initial=0.0))
    cap = float(kwargs.get("softcap", 1.0))
    for which, (part, expected) in enumerate(zip(got, want)):
        part = np.asarray(part)
        assert part.dtype == dtype
        assert part.shape == expected.shape
        what = f"{name} part {which} on {isa}, {layout}, {np.dtype(dtype).name}"
        np.testing.assert_array_equal(np.isnan(part), np.isnan(expected),
                                      err_msg=f"{what}: NaN positions")
        with np.errstate(over="ignore"):
            rounded = expected.astype(dtype).astype(np.float64)
        infinite = np.isinf(rounded)
        np.testing.assert_array_equal(part[infinite], rounded[infinite],
                                      err_msg=f"{what}: infinite values")
        compare = ~np.isnan(expected) & ~infinite
        if not compare.any():
            continue
        got_values = part[compare].astype(np.float64)
        want_values = expected[compare]
        scale = max(1.0, float(np.abs(want_values).max()))
        if dtype == np.float32:
            rtol, atol = 2e-5, 2e-6 * scale * max(1.0, cap)
        else:
            rtol, atol = 1e-11, 1e-12 * scale + 16 * 2.0**-52 * largest_x
        np.testing.assert_allclose(got_values, want_values, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_native_against_reference(name):
    @PROFILE
    @given(case=cases(name))
    def run(case):
        check(name, case)

    if FUZZ_EXAMPLES is not None and _SEED is not None:
        run = seed(_SEED)(run)
    run()
