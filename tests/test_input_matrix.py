"""The input matrix of issue 5: every public function x dtypes, shapes, layouts, labels, weights,
out, threads, reductions and flags. Each case either gives the right answer (the float64 NumPy
reference, or the same call on a contiguous float64 copy) or a ValueError/TypeError whose
message says what was expected and what came.

The per-loss test files already check each loss's own options in depth; this file runs the
same hostile inputs through every function, so that no function is left out of a rule.
"""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from fusedloss._classification import ROW_LOSSES
from fusedloss._regression import ELEMENTWISE_LOSSES

ROWS, CLASSES = 5, 4
RNG = np.random.default_rng(20261123)
X = RNG.standard_normal((ROWS, CLASSES)) * 2
LABELS = np.array([0, 3, 1, 2, 3])
TARGETS = RNG.uniform(0, 1, (ROWS, CLASSES))
PROBS = RNG.uniform(0.05, 1, (ROWS, CLASSES))


def _soft(x, labels):
    del x
    return labels


# Every public function that takes arrays: how to call it on a first argument `x`
# (shape (..., C); other inputs derived from `x.shape`), what its other array inputs are
# called, and its float64 reference. Each call returns a tuple of arrays (loss, grad) or (result,).
def _labels_for(x):
    shape = np.shape(x)[:-1]
    return np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape) % np.shape(x)[-1]


def _pop_labels(kwargs, x):
    return kwargs.pop("labels") if "labels" in kwargs else _labels_for(x)


def _reference_cross_entropy(x, labels, **kwargs):
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":  # soft targets
        return _reference.cross_entropy(x, targets=labels, **kwargs)
    return _reference.cross_entropy(x, labels, **kwargs)


FUNCTIONS = {
    "softmax_cross_entropy": dict(
        kind="rows", grad=True, reduction=True,
        call=lambda x, **k: fusedloss.softmax_cross_entropy(x, _pop_labels(k, x), **k),
        ref=lambda x, **k: _reference.softmax_cross_entropy(x, _pop_labels(k, x), **k),
    ),
    "multiclass_hinge": dict(
        kind="rows", grad=True, reduction=True,
        call=lambda x, **k: fusedloss.multiclass_hinge(x, _pop_labels(k, x), **k),
        ref=lambda x, **k: _reference.multiclass_hinge(x, _pop_labels(k, x), **k),
    ),
    "cross_entropy": dict(
        kind="rows", grad=True, reduction=True,
        call=lambda x, **k: fusedloss.cross_entropy(x, _pop_labels(k, x), **k),
        ref=lambda x, **k: _reference_cross_entropy(x, _pop_labels(k, x), **k),
    ),
    "sigmoid_binary_cross_entropy": dict(
        kind="elementwise", grad=True, reduction=True,
        call=lambda x, **k: fusedloss.sigmoid_binary_cross_entropy(
            x, k.pop("targets", np.full(np.shape(x), 0.25)), **k),
        ref=lambda x, **k: _reference.sigmoid_binary_cross_entropy(
            x, k.pop("targets", np.full(np.shape(x), 0.25)), **k),
    ),
    "softmax": dict(kind="rows", grad=False, reduction=False,
                    call=lambda x, **k: fusedloss.softmax(x, **k),
                    ref=lambda x, **k: (_reference.softmax(x),)),
    "log_softmax": dict(kind="rows", grad=False, reduction=False,
                        call=lambda x, **k: fusedloss.log_softmax(x, **k),
                        ref=lambda x, **k: (_reference.log_softmax(x),)),
    "logsumexp": dict(kind="rows", grad=False, reduction=False,
                      call=lambda x, **k: fusedloss.logsumexp(x, **k),
                      ref=lambda x, **k: (_reference.logsumexp(x),)),
    "l2_penalty": dict(kind="elementwise", grad=True, reduction=False,
                       call=lambda x, **k: fusedloss.l2_penalty(x, 0.7, **k),
                       ref=lambda x, **k: _reference.penalty(x, "l2", 0.7, 0.0, True)),
    "l1_penalty": dict(kind="elementwise", grad=True, reduction=False,
                       call=lambda x, **k: fusedloss.l1_penalty(x, 0.7, **k),
                       ref=lambda x, **k: _reference.penalty(x, "l1", 0.7, 0.0, True)),
    "elastic_net_penalty": dict(kind="elementwise", grad=True, reduction=False,
                                call=lambda x, **k: fusedloss.elastic_net_penalty(x, 0.7, 0.3, **k),
                                ref=lambda x, **k: _reference.penalty(x, "elastic_net", 0.7, 0.3, True)),
}


def _elementwise_row(entry):
    """The matrix row of a registered elementwise loss (fusedloss._regression); its target is
    passed under its own name (``target``, ``targets``), as the rows of SECONDARY name it."""
    def ref(x, **k):
        target = k.pop(entry.second, 0.5)
        value, grad, _ = _reference.elementwise_loss(entry.terms, x, target, entry.defaults(),
                                                     unit=entry.unit, **k)
        return value, grad
    return dict(kind="elementwise", grad=True, reduction=True,
                call=lambda x, **k: entry.function(x, k.pop(entry.second, 0.5), **k), ref=ref)


def _row_loss_row(entry):
    """The matrix row of a registered row-wise loss (fusedloss._classification): labels as the
    other label losses get them, or a teacher's logits of the first argument's shape."""
    def second(k, x):
        if entry.takes_labels:
            return _pop_labels(k, x)
        if "target_logits" in k:
            return k.pop("target_logits")
        if np.ndim(x) == 0:
            return np.float64(0.0)
        # the same teacher row for every row (so that a 1-d x is row i of a 2-d one)
        return np.broadcast_to(np.linspace(-1.0, 1.0, np.shape(x)[-1]), np.shape(x)).copy()

    def ref(x, **k):
        operand = second(k, x)
        value, grad, _ = _reference.row_loss(
            entry.terms, np.asarray(x, np.float64), np.asarray(operand), entry.defaults(),
            takes_labels=entry.takes_labels, ignore_index=k.pop("ignore_index", -100) if entry.takes_labels else None,
            class_weight_in_mean=entry.class_weight_in_mean, **k)
        return value, grad
    return dict(kind="rows", grad=True, reduction=True,
                call=lambda x, **k: entry.function(x, second(k, x), **k), ref=ref)


FUNCTIONS.update({name: _elementwise_row(entry) for name, entry in ELEMENTWISE_LOSSES.items()})
# (the hinge's and the cross-entropy of probabilities' rows above call them with their
# options: margin and squared, soft targets)
FUNCTIONS.update({name: _row_loss_row(entry) for name, entry in ROW_LOSSES.items()
                  if name not in FUNCTIONS})
NAMES = sorted(FUNCTIONS)
LOSSES = [name for name in NAMES if FUNCTIONS[name]["reduction"]]
WITH_GRAD = [name for name in NAMES if FUNCTIONS[name]["grad"]]
ROW_FUNCTIONS = [name for name in NAMES if FUNCTIONS[name]["kind"] == "rows"]
LABEL_LOSSES = ["softmax_cross_entropy"] + [
    name for name, entry in ROW_LOSSES.items() if entry.takes_labels]
IGNORE_INDEX_LOSSES = ["softmax_cross_entropy"] + [
    name for name, entry in ROW_LOSSES.items() if entry.takes_ignore_index]
FIRST_ARGUMENT = {"softmax_cross_entropy": "logits", "multiclass_hinge": "scores",
                  "cross_entropy": "probs", "sigmoid_binary_cross_entropy": "logits",
                  "softmax": "x", "log_softmax": "x",
                  "logsumexp": "x", "l2_penalty": "w", "l1_penalty": "w",
                  "elastic_net_penalty": "w",
                  **{name: entry.first for name, entry in ELEMENTWISE_LOSSES.items()},
                  **{name: entry.first for name, entry in ROW_LOSSES.items()}}


def test_every_public_function_is_in_the_matrix():
    not_arrays = {"__version__", "config", "show_config", "get_backend", "set_backend"}
    # two float arrays and labels: its layouts, dtypes and errors are in test_linear_cross_entropy.py
    own_matrix = {"linear_cross_entropy"}
    assert set(fusedloss.__all__) - not_arrays - own_matrix == set(FUNCTIONS)


def data_for(name, shape=(ROWS, CLASSES), seed=0):
    rng = np.random.default_rng(seed)
    if name == "cross_entropy":
        return rng.uniform(0.05, 1.0, shape)
    return rng.standard_normal(shape) * 2


def native(name, x, **kwargs):
    """The call's arrays: (loss, grad) with grad where the function has one, else (result,)."""
    spec = FUNCTIONS[name]
    if spec["reduction"]:
        kwargs.setdefault("reduction", "none")
    if spec["grad"]:
        kwargs.setdefault("return_grad", True)
    result = spec["call"](x, **kwargs)
    return result if isinstance(result, tuple) else (result,)


def reference(name, x, **kwargs):
    spec = FUNCTIONS[name]
    x64 = np.asarray(x, dtype=np.float64)
    if spec["reduction"]:
        kwargs.setdefault("reduction", "none")
        kwargs.setdefault("return_grad", True)
    result = spec["ref"](x64, **kwargs)
    return tuple(np.asarray(part, dtype=np.float64) for part in result)


def assert_matches(actual, expected, dtype):
    dtype = np.dtype(dtype)
    rtol = {np.dtype(np.float16): 2e-3, np.dtype(BFLOAT16): 1e-2,
            np.dtype(np.float32): 2e-5}.get(dtype, 1e-12)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        got = np.asarray(got)
        assert got.dtype == dtype, (got.dtype, dtype)
        assert got.shape == want.shape
        scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=rtol * scale)


def assert_same(actual, expected):
    """Same dtype, shape and numbers (the kernels do not depend on the layout)."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == want.dtype and got.shape == want.shape
        rtol = 2e-6 if got.dtype == np.float32 else 1e-14
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


# ------------------------------------------------------------------------------------- dtypes

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

# NumPy's real numeric dtypes (and ml_dtypes' bfloat16) and the result dtype the spec asks for.
ACCEPTED_DTYPES = {
    "bfloat16": BFLOAT16,
    "int8": np.float64, "int16": np.float64, "int32": np.float64, "int64": np.float64,
    "uint8": np.float64, "uint16": np.float64, "uint32": np.float64, "uint64": np.float64,
    "bool": np.float64, "float16": np.float16, "float32": np.float32, "float64": np.float64,
    ">f4": np.float32, ">f8": np.float64,  # big-endian: byte-swapped, the same numbers
}


def cast_first_argument(name, dtype):
    x = data_for(name)
    dtype = BFLOAT16 if dtype == "bfloat16" else np.dtype(dtype)
    if dtype.kind == "b":
        return x > 0.5 if name == "cross_entropy" else x > 0
    if dtype.kind in "iu":
        x = np.round(np.abs(x) * 3) + (1 if name == "cross_entropy" else 0)
        if dtype.kind == "i" and name != "cross_entropy":
            x = x * np.sign(data_for(name, seed=1))
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", list(ACCEPTED_DTYPES))
@pytest.mark.parametrize("name", NAMES)
def test_accepted_dtypes(name, dtype):
    x = cast_first_argument(name, dtype)
    assert_matches(native(name, x), reference(name, x), ACCEPTED_DTYPES[dtype])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.isa_independent  # raises before any kernel runs
def test_longdouble_rejected(name):
    """SPEC: float64 would silently drop a long double's extra precision."""
    if np.dtype(np.longdouble).itemsize <= 8:  # pragma: no cover - platforms where it is float64
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(TypeError, match=rf"{FIRST_ARGUMENT[name]}: expected float16, float32 or "
                                        r"float64, got float\d+ \(long double\)"):
        native(name, data_for(name).astype(np.longdouble))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.isa_independent  # raises before any kernel runs
def test_dask_array_rejected_by_the_in_memory_api(name):
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match=rf"{FIRST_ARGUMENT[name]}: got a Dask collection .*"
                                        r"Use fusedloss.dask"):
        native(name, da.from_array(data_for(name), chunks=2))


REJECTED_DTYPES = {
    "complex64": np.zeros((ROWS, CLASSES), np.complex64),
    "complex128": np.zeros((ROWS, CLASSES), np.complex128),
    "object": np.zeros((ROWS, CLASSES)).astype(object),
    "str": np.zeros((ROWS, CLASSES)).astype(str),
    "bytes": np.zeros((ROWS, CLASSES)).astype(bytes),
    "datetime64": np.zeros((ROWS, CLASSES), "datetime64[s]"),
    "timedelta64": np.zeros((ROWS, CLASSES), "timedelta64[s]"),
}


@pytest.mark.parametrize("dtype", list(REJECTED_DTYPES))
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.isa_independent  # raises before any kernel runs
def test_rejected_dtypes_first_argument(name, dtype):
    bad = REJECTED_DTYPES[dtype]
    with pytest.raises(TypeError, match=rf"{FIRST_ARGUMENT[name]}: expected a real numeric array.*"
                                        rf"got dtype {re.escape(str(bad.dtype))}"):
        native(name, bad)


# Secondary array arguments: (function, keyword, a valid value of the right shape).
SECONDARY = [
    ("softmax_cross_entropy", "labels", LABELS),
    ("softmax_cross_entropy", "weight", np.ones(CLASSES)),
    ("softmax_cross_entropy", "sample_weight", np.ones(ROWS)),
    ("multiclass_hinge", "labels", LABELS),
    ("multiclass_hinge", "weight", np.ones(CLASSES)),
    ("multiclass_hinge", "sample_weight", np.ones(ROWS)),
    ("cross_entropy", "labels", LABELS),
    ("cross_entropy", "sample_weight", np.ones(ROWS)),
    ("sigmoid_binary_cross_entropy", "targets", TARGETS),
    ("sigmoid_binary_cross_entropy", "weight", np.ones(CLASSES)),
    ("sigmoid_binary_cross_entropy", "pos_weight", np.ones(CLASSES)),
    ("sigmoid_binary_cross_entropy", "sample_weight", np.ones(ROWS)),
    ("mean_squared_error", "target", TARGETS),
    ("mean_squared_error", "sample_weight", np.ones(ROWS)),
    ("sigmoid_focal_loss", "targets", TARGETS),
    ("sigmoid_focal_loss", "weight", np.ones(CLASSES)),
    ("sigmoid_focal_loss", "sample_weight", np.ones(ROWS)),
]
SECONDARY_IDS = [f"{name}-{key}" for name, key, _ in SECONDARY]


@pytest.mark.parametrize("dtype", ["complex128", "object", "str", "bytes", "datetime64"])
@pytest.mark.parametrize(("name", "key", "valid"), SECONDARY, ids=SECONDARY_IDS)
@pytest.mark.isa_independent  # raises before any kernel runs
def test_rejected_dtypes_other_arguments(name, key, valid, dtype):
    bad = np.asarray(valid).astype(REJECTED_DTYPES[dtype].dtype)
    with pytest.raises(TypeError, match=rf"{key}: expected .*(real|integer).*got dtype"):
        native(name, data_for(name), **{key: bad})


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16",
                                   "uint32", "uint64"])
@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_label_integer_dtypes(name, dtype):
    x = data_for(name)
    expected = native(name, x, labels=LABELS)
    assert_same(native(name, x, labels=LABELS.astype(dtype)), expected)


@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_bool_labels_rejected(name):
    with pytest.raises(TypeError, match="labels: expected an integer array, got dtype bool"):
        native(name, data_for(name), labels=LABELS > 1)


@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_whole_float_labels_of_the_batch_shape_rejected(name):
    """Float labels are soft targets (logits' shape): whole floats of the batch shape are not
    silently taken as class indices."""
    with pytest.raises((TypeError, ValueError),
                       match=r"labels: .*(soft targets|float).*\(5, 4\)|float array"):
        native(name, data_for(name), labels=LABELS.astype(np.float64))


@pytest.mark.parametrize(("name", "key", "valid"),
                         [case for case in SECONDARY if case[1] not in ("labels",)],
                         ids=[i for i, case in zip(SECONDARY_IDS, SECONDARY) if case[1] != "labels"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "uint8"])
def test_other_arguments_real_dtypes(name, key, valid, dtype):
    x = data_for(name)
    converted = np.asarray(valid).astype(dtype) if dtype != "uint8" else np.ones_like(valid, dtype)
    expected = native(name, x, **{key: np.asarray(converted, dtype=np.float64)})
    assert_same(native(name, x, **{key: converted}), expected)


# ------------------------------------------------------------------- 16-bit: float32, rounded once

SIXTEEN_BIT = {"bf16": BFLOAT16, "f16": np.dtype(np.float16)}


def _sixteen_bit_call(name, x, dtype, **kwargs):
    """The call on x as given, its second float operand (where it has one) of x's dtype."""
    if name == "softmax_kl_divergence":
        teacher = np.linspace(-3.0, 2.0, x.size).reshape(x.shape)[::-1].copy()
        kwargs["target_logits"] = teacher.astype(dtype).astype(x.dtype)
    return native(name, x, **kwargs)


@pytest.mark.parametrize("shape", [(5, 4), (3, 37), (2, 3, 5), (40, 1), (0, 6), (2, 20000)],
                         ids=lambda shape: "x".join(map(str, shape)))
@pytest.mark.parametrize("dtype", list(SIXTEEN_BIT), ids=list(SIXTEEN_BIT))
@pytest.mark.parametrize("name", NAMES)
def test_sixteen_bit_results_are_the_float32_results_rounded_once(name, dtype, shape):
    """SPEC "Low-precision": a 16-bit call reads 16-bit, computes as the float32 kernel on the
    widened values and rounds each gradient / per-row loss once to nearest even: the same bits
    as the float32 call on the upcast input, rounded (both conversions are NumPy's and
    ml_dtypes', independent of the kernels'); the reduced loss is the float32 call's, in the
    input dtype. (2 x 20000: rows longer than a 16K-element tile; 40 x 1: tiles of many rows.)"""
    dtype = SIXTEEN_BIT[dtype]
    x16 = data_for(name, shape).astype(dtype)
    x32 = x16.astype(np.float32)
    for reduction in ("none", "sum", "mean") if FUNCTIONS[name]["reduction"] else (None,):
        extra = {} if reduction is None else {"reduction": reduction}
        got = _sixteen_bit_call(name, x16, dtype, **extra)
        want = _sixteen_bit_call(name, x32, dtype, **extra)
        for index, (part16, part32) in enumerate(zip(got, want)):
            part16, part32 = np.asarray(part16), np.asarray(part32)
            assert part16.dtype == dtype, (index, part16.dtype)
            if part16.ndim == 0:  # a reduced loss: float64 sums of the same float32 terms
                with np.errstate(over="ignore"):  # (a float16 sum may round to inf, as it should)
                    expected = float(part32.astype(dtype))
                np.testing.assert_allclose(float(part16), expected, rtol=2 ** -7)
                continue
            np.testing.assert_array_equal(part16.view(np.uint16), part32.astype(dtype).view(np.uint16))


# ------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_zero_d_rejected_for_row_functions(name):
    with pytest.raises(ValueError, match=rf"{FIRST_ARGUMENT[name]}: expected an array of shape "
                                         r"\(\.\.\., C\), got a 0-d array"):
        FUNCTIONS[name]["call"](np.float64(1.0), **({"labels": np.int64(0)}
                                                    if name in LABEL_LOSSES else {}))


@pytest.mark.parametrize("name", sorted(set(NAMES) - set(ROW_FUNCTIONS)))
def test_zero_d_elementwise(name):
    x = np.float64(0.8)
    assert_matches(native(name, x), reference(name, x), np.float64)
    if FUNCTIONS[name]["reduction"]:  # one sample: same as the (1,) array, shapes kept
        for reduction in ("mean", "sum", "none"):
            scalar = native(name, x, sample_weight=[2.0], reduction=reduction)
            vector = native(name, np.array([x]), sample_weight=[2.0], reduction=reduction)
            assert_same(scalar, tuple(np.asarray(v).reshape(np.shape(s)) for s, v in zip(scalar, vector)))
            assert all(np.shape(part) == () for part in scalar)


@pytest.mark.parametrize("name", ROW_FUNCTIONS)
def test_one_d_is_a_single_row(name):
    x = data_for(name)
    labels = {"labels": LABELS[2]} if name in LABEL_LOSSES else {}
    row = native(name, x[2], **labels)
    whole = native(name, x, **({"labels": LABELS} if labels else {}))
    assert_same(row, tuple(part[2] for part in whole))


@pytest.mark.parametrize("shape", [(0, CLASSES), (0, 3, CLASSES), (2, 0, CLASSES)], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_empty_batch(name, shape):
    x = data_for(name, shape)
    assert_matches(native(name, x), reference(name, x), np.float64)
    if FUNCTIONS[name]["reduction"]:
        for reduction in ("mean", "sum"):
            result = native(name, x, reduction=reduction)
            assert result[0] == 0.0 and result[0].dtype == np.float64  # never NaN


@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_zero_classes_rejected(name):
    # The classification losses keep C = 0 an error; softmax / log_softmax / logsumexp return
    # the empty result (tests/test_building_blocks.py::test_row_ops_empty_class_axis).
    for backend in ("native", "numpy"):
        fusedloss.set_backend(backend)
        with pytest.raises(ValueError, match=r"C >= 1\), got C = 0"):
            native(name, np.zeros((ROWS, 0)), labels=np.zeros(ROWS, int))


@pytest.mark.parametrize("shape", [(ROWS, 0), (1, 0, 1), (2, 3, 0)], ids=str)
@pytest.mark.parametrize("name", sorted(set(NAMES) - set(ROW_FUNCTIONS)))
def test_zero_width_elementwise(name, shape):
    x = np.zeros(shape)
    assert_matches(native(name, x), reference(name, x), np.float64)
    if FUNCTIONS[name]["reduction"]:  # one weight per sample of the first axis
        weights = np.ones(shape[0])
        for reduction in ("mean", "sum", "none"):
            assert_matches(native(name, x, sample_weight=weights, reduction=reduction),
                           reference(name, x, sample_weight=weights, reduction=reduction),
                           np.float64)


@pytest.mark.parametrize("classes", [1, 2, 3, 17])
@pytest.mark.parametrize("name", NAMES)
def test_small_class_counts(name, classes):
    x = data_for(name, (7, classes))
    assert_matches(native(name, x), reference(name, x), np.float64)


# (function, keyword, bad value, pattern): mismatched batch / broadcast shapes.
MISMATCHED = [
    ("softmax_cross_entropy", "labels", LABELS[:4], r"labels: expected shape \(5,\).*got \(4,\)"),
    ("softmax_cross_entropy", "labels", LABELS[None], r"labels: expected shape \(5,\).*got \(1, 5\)"),
    ("multiclass_hinge", "labels", LABELS[:4], r"labels: expected shape \(5,\).*got \(4,\)"),
    ("multiclass_hinge", "labels", np.int64(1), r"labels: expected shape \(5,\).*got \(\)"),
    ("cross_entropy", "labels", np.zeros(6, int), r"labels: expected shape \(5,\).*got \(6,\)"),
    ("cross_entropy", "labels", np.zeros((5, 3)),
     r"labels: expected integer class indices .* soft targets of the probs' shape \(5, 4\), got .*\(5, 3\)"),
    ("softmax_cross_entropy", "labels", np.zeros((5, 3)),
     r"logits' shape \(5, 4\), got a float array of shape \(5, 3\)"),
    ("mean_squared_error", "target", np.zeros((5, 3)),
     r"target: expected a shape that broadcasts to pred's shape \(5, 4\), got \(5, 3\)"),
    ("mean_squared_error", "target", np.zeros((2, 5, 4)),
     r"target: expected a shape that broadcasts to pred's shape \(5, 4\), got \(2, 5, 4\)"),
    ("sigmoid_binary_cross_entropy", "targets", np.zeros((4, 4)),
     r"targets: expected a shape that broadcasts to logits' shape \(5, 4\), got \(4, 4\)"),
    ("sigmoid_binary_cross_entropy", "weight", np.zeros(3),
     r"weight: expected a shape that broadcasts to the logits' shape \(5, 4\), got \(3,\)"),
    ("sigmoid_binary_cross_entropy", "pos_weight", np.ones((5, 4, 1)),
     r"pos_weight: expected a shape that broadcasts .*\(5, 4\), got \(5, 4, 1\)"),
    ("sigmoid_focal_loss", "targets", np.zeros((4, 4)),
     r"targets: expected a shape that broadcasts to logits' shape \(5, 4\), got \(4, 4\)"),
    ("sigmoid_focal_loss", "weight", np.zeros(3),
     r"weight: expected a shape that broadcasts to the logits' shape \(5, 4\), got \(3,\)"),
    ("sigmoid_focal_loss", "weight", np.ones((2, 5, 4)),
     r"weight: expected a shape that broadcasts .*\(5, 4\), got \(2, 5, 4\)"),
]


@pytest.mark.parametrize(("name", "key", "bad", "pattern"), MISMATCHED,
                         ids=[f"{n}-{k}-{np.shape(b)}" for n, k, b, _ in MISMATCHED])
def test_mismatched_shapes(name, key, bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        native(name, data_for(name), **{key: bad})


@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_leading_axes_labels_must_match_batch_shape(name):
    x = data_for(name, (2, 3, CLASSES))
    with pytest.raises(ValueError, match=r"labels: expected shape \(2, 3\).*got \(3, 2\)"):
        native(name, x, labels=np.zeros((3, 2), int))
    with pytest.raises(ValueError, match=r"labels: expected shape \(2, 3\).*got \(6,\)"):
        native(name, x, labels=np.zeros(6, int))


@pytest.mark.parametrize("name", ["mean_squared_error", "sigmoid_binary_cross_entropy",
                                  "sigmoid_focal_loss"])
def test_broadcast_targets(name):
    key = "target" if name == "mean_squared_error" else "targets"
    x = data_for(name)
    for target in (0.3, np.full(CLASSES, 0.3), np.full((1, CLASSES), 0.3), np.full((ROWS, 1), 0.3)):
        assert_same(native(name, x, **{key: target}), native(name, x, **{key: np.full(x.shape, 0.3)}))


# ------------------------------------------------------------------------------------ layouts


def _unaligned(array):
    buffer = np.zeros(array.nbytes + 1, dtype=np.uint8)
    view = buffer[1:].view(array.dtype).reshape(array.shape)
    view[...] = array
    assert not view.flags.aligned
    return view


def _memmap(array, tmp_path, mode="r"):
    path = tmp_path / "array.bin"
    writer = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
    writer[...] = array
    writer.flush()
    del writer
    return np.memmap(path, dtype=array.dtype, mode=mode, shape=array.shape)


def _readonly(array):
    copy = array.copy()
    copy.flags.writeable = False
    return copy


def _strided_rows(array):
    doubled = np.zeros((2 * array.shape[0],) + array.shape[1:], array.dtype)
    doubled[::2] = array
    return doubled[::2]


def _column_slice(array):
    wide = np.zeros(array.shape[:-1] + (array.shape[-1] * 2 + 1,), array.dtype)
    wide[..., 1::2] = array
    return wide[..., 1::2]  # last axis strided too


def _negative(array):
    return array[::-1, ::-1].copy()[::-1, ::-1]


LAYOUT_MAKERS = {
    "strided_rows": _strided_rows,
    "strided_both_axes": _column_slice,
    "fortran": np.asfortranarray,
    "negative_strides": _negative,
    "negative_rows": lambda a: a[::-1].copy()[::-1],
    "unaligned": _unaligned,
    "readonly": _readonly,
    "transposed_3d": lambda a: np.ascontiguousarray(a.reshape(1, *a.shape).transpose(1, 0, 2)
                                                    ).transpose(1, 0, 2)[0],
    "list": lambda a: a.tolist(),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", list(LAYOUT_MAKERS) + ["memmap", "memmap_copy_on_write"])
@pytest.mark.parametrize("name", NAMES)
def test_layouts_of_first_argument(name, layout, dtype, tmp_path):
    x = data_for(name).astype(dtype)
    if layout.startswith("memmap"):
        variant = _memmap(x, tmp_path, "r" if layout == "memmap" else "c")
    else:
        variant = LAYOUT_MAKERS[layout](x)
    before = np.array(variant, copy=True)
    result = native(name, variant if layout != "list" else np.asarray(variant, dtype))
    assert_same(result, native(name, x))
    np.testing.assert_array_equal(np.asarray(variant), before)  # the input is never written


@pytest.mark.parametrize("name", NAMES)
def test_zero_stride_broadcast_views(name):
    x = data_for(name)
    for view in (np.broadcast_to(x[1], x.shape), np.broadcast_to(x[:, :1], x.shape),
                 np.broadcast_to(x[1, 1], x.shape)):
        assert_same(native(name, view), native(name, np.ascontiguousarray(view)))


LABEL_LAYOUTS = {
    "strided": lambda y: np.repeat(y, 2)[::2],
    "negative": lambda y: y[::-1].copy()[::-1],
    "readonly": _readonly,
    "unaligned": _unaligned,
    "int32_strided": lambda y: np.repeat(y.astype(np.int32), 3)[::3],
    "list": lambda y: y.tolist(),
    "tuple": lambda y: tuple(y.tolist()),
}


@pytest.mark.parametrize("layout", list(LABEL_LAYOUTS) + ["memmap", "broadcast"])
@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_label_layouts(name, layout, tmp_path):
    x = data_for(name)
    labels = LABELS.copy()
    if layout == "memmap":
        variant = _memmap(labels, tmp_path)
    elif layout == "broadcast":
        labels = np.full(ROWS, 2)
        variant = np.broadcast_to(np.int64(2), (ROWS,))
    else:
        variant = LABEL_LAYOUTS[layout](labels)
    assert_same(native(name, x, labels=variant), native(name, x, labels=labels))


@pytest.mark.parametrize(("name", "key", "valid"),
                         [case for case in SECONDARY if case[1] != "labels"],
                         ids=[i for i, case in zip(SECONDARY_IDS, SECONDARY) if case[1] != "labels"])
@pytest.mark.parametrize("layout", ["negative", "strided", "unaligned", "readonly", "broadcast"])
def test_other_argument_layouts(name, key, valid, layout):
    x = data_for(name)
    valid = np.asarray(valid) * (1 + np.arange(np.shape(valid)[-1])) / 3  # not all equal
    if layout == "negative":
        variant = valid[::-1].copy()[::-1]
    elif layout == "strided":
        variant = np.repeat(valid, 2, axis=0)[::2]
    elif layout == "unaligned":
        variant = _unaligned(valid)
    elif layout == "readonly":
        variant = _readonly(valid)
    else:
        valid = np.broadcast_to(valid.reshape(-1)[:1], valid.shape).copy()
        variant = np.broadcast_to(valid.reshape(-1)[:1], valid.shape)
    assert_same(native(name, x, **{key: variant}), native(name, x, **{key: valid}))


# ------------------------------------------------------------------------------------- labels

BAD_LABELS = [
    (-1, "-1"), (CLASSES, "4"), (2**62, str(2**62)), (np.iinfo(np.int64).min, str(np.iinfo(np.int64).min)),
    (-100, "-100"),
]


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize(("value", "text"), BAD_LABELS, ids=[t for _, t in BAD_LABELS])
@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_bad_labels(name, value, text, backend):
    fusedloss.set_backend(backend)
    labels = LABELS.copy()
    labels[3] = value
    x = data_for(name)
    if name in IGNORE_INDEX_LOSSES and value == -100:  # the default ignore_index
        ignored = native(name, x, labels=labels)
        assert ignored[0][3] == 0 and np.all(ignored[1][3] == 0)
        return
    with pytest.raises(ValueError, match=rf"labels: label {text} at row 3 is out of range: "
                                         rf"expected a class index in \[0, 4\)"):
        native(name, x, labels=labels)


@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_huge_unsigned_label(name):
    labels = LABELS.astype(np.uint64)
    labels[2] = np.iinfo(np.uint64).max
    with pytest.raises(ValueError, match=rf"labels: label {np.iinfo(np.uint64).max} at row 2 is out "
                                         r"of range: expected a class index in \[0, C\)"):
        native(name, data_for(name), labels=labels)


@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_bad_label_in_leading_axes_names_batch_index(name):
    x = data_for(name, (2, 3, CLASSES))
    labels = np.zeros((2, 3), np.int16)
    labels[1, 1] = 9
    with pytest.raises(ValueError, match=r"label 9 at row 4 \(batch index \(1, 1\)\).*\[0, 4\)"):
        native(name, x, labels=labels)


@pytest.mark.parametrize("ignore_index", [2, -1, 0, np.int8(3), np.uint64(1)])
def test_ignore_index_values(ignore_index):
    x = data_for("softmax_cross_entropy")
    labels = LABELS.copy()
    labels[1] = int(ignore_index)
    loss, grad = native("softmax_cross_entropy", x, labels=labels, ignore_index=ignore_index)
    ref_loss, ref_grad = reference("softmax_cross_entropy", x, labels=labels,
                                   ignore_index=int(ignore_index))
    assert_matches((loss, grad), (ref_loss, ref_grad), np.float64)
    assert np.all(grad[labels == int(ignore_index)] == 0)


@pytest.mark.parametrize(("value", "error", "pattern"), [
    (1.0, TypeError, "ignore_index: expected an int, got float 1.0"),
    ("1", TypeError, "ignore_index: expected an int, got str '1'"),
    (None, TypeError, "ignore_index: expected an int, got NoneType"),
    (True, TypeError, "ignore_index: expected an int, got bool"),
    (2**70, ValueError, f"ignore_index: expected an int64 value, got {2**70}"),
    (-(2**63) - 1, ValueError, "ignore_index: expected an int64 value"),
])
def test_bad_ignore_index(value, error, pattern):
    with pytest.raises(error, match=pattern):
        native("softmax_cross_entropy", data_for("softmax_cross_entropy"), ignore_index=value)


def test_ignore_index_at_int64_extremes_ignores_matching_rows():
    x = data_for("softmax_cross_entropy")
    for extreme in (np.iinfo(np.int64).min, np.iinfo(np.int64).max):
        labels = LABELS.copy()
        labels[0] = extreme
        loss, grad = native("softmax_cross_entropy", x, labels=labels, ignore_index=extreme)
        assert loss[0] == 0 and np.all(grad[0] == 0)
        assert_same((loss[1:],), (native("softmax_cross_entropy", x[1:], labels=LABELS[1:])[0],))


# ------------------------------------------------------------------------------------ weights

# (function, keyword, expected length (None: broadcast to the first argument's shape)).
WEIGHTS = [(name, key, (CLASSES if key in ("weight", "pos_weight") else ROWS))
           for name, key, _ in SECONDARY if key in ("weight", "pos_weight", "sample_weight")]
WEIGHT_IDS = [f"{n}-{k}" for n, k, _ in WEIGHTS]


@pytest.mark.parametrize(("name", "key", "length"), WEIGHTS, ids=WEIGHT_IDS)
@pytest.mark.parametrize("bad", ["short", "long", "2d", "empty"])
@pytest.mark.isa_independent  # raises before any kernel runs
def test_weight_wrong_length(name, key, length, bad):
    value = {"short": np.ones(length - 1), "long": np.ones(length + 2),
             "2d": np.ones((2, length)), "empty": np.ones(0)}[bad]
    if name in ("sigmoid_binary_cross_entropy", "sigmoid_focal_loss") and key != "sample_weight":
        if bad == "2d":
            value = np.ones((3, length))
        pattern = rf"{key}: expected a shape that broadcasts to the logits' shape \(5, 4\), got"
    else:
        pattern = rf"{key}: expected shape \({length},\) .*got {re_shape(value.shape)}"
    with pytest.raises(ValueError, match=pattern):
        native(name, data_for(name), **{key: value})


def re_shape(shape):
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize(("name", "key", "length"), WEIGHTS, ids=WEIGHT_IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.isa_independent  # raises before any kernel runs
def test_weight_not_finite(name, key, length, bad):
    value = np.ones(length)
    value[1] = bad
    with pytest.raises(ValueError, match=rf"{key}: expected finite values, got NaN or inf"):
        native(name, data_for(name), **{key: value})


@pytest.mark.parametrize(("name", "key", "length"), WEIGHTS, ids=WEIGHT_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_negative_weights_allowed(name, key, length, reduction):
    """Negative weights are allowed (as in scikit-learn); the numbers follow the formula."""
    x = data_for(name)
    value = np.linspace(-1.0, 2.0, length)
    if key == "sample_weight":
        value[0] = -3.0  # sum != 0
    got = native(name, x, **{key: value}, reduction=reduction)
    want = reference(name, x, **{key: value}, reduction=reduction)
    assert_matches(got, want, np.float64)


@pytest.mark.parametrize("name", LOSSES)
def test_sample_weights_summing_to_zero_mean_is_zero(name):
    loss, grad = native(name, data_for(name), sample_weight=np.zeros(ROWS), reduction="mean")
    assert loss == 0 and not np.isnan(grad).any()


# ---------------------------------------------------------------------------------------- out


def _out_cases(shape):
    c_order = np.empty(shape)
    readonly = np.empty(shape)
    readonly.flags.writeable = False
    return {
        "wrong_shape": (np.empty(shape[::-1] + (1,)), ValueError, r"out: expected shape"),
        "wrong_dtype": (np.empty(shape, np.float32), ValueError,
                        r"out: expected dtype float64, got float32"),
        "int_dtype": (np.empty(shape, np.int64), ValueError, r"out: expected dtype float64, got int64"),
        "fortran": (np.asfortranarray(np.empty(shape + (2,))[..., 0]) if len(shape) > 1 else None,
                    ValueError, "out: expected a C-contiguous array"),
        "strided": (np.empty(shape[:-1] + (2 * shape[-1],))[..., ::2] if shape else None,
                    ValueError, "out: expected a C-contiguous array"),
        "zero_stride": (np.broadcast_to(np.empty(shape[-1:]), shape) if len(shape) > 1 else None,
                        ValueError, "out: expected a C-contiguous array|read-only"),
        "readonly": (readonly, ValueError, "out: expected a writeable array, got a read-only one"),
        "list": (c_order.tolist(), TypeError, "out: expected a numpy.ndarray, got list"),
    }


OUT_CASES = list(_out_cases((ROWS, CLASSES)))


@pytest.mark.parametrize("case", OUT_CASES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.isa_independent  # raises before any kernel runs
def test_bad_out(name, case):
    x = data_for(name)
    shape = (ROWS,) if name == "logsumexp" else x.shape
    out, error, pattern = _out_cases(shape)[case]
    if out is None:  # no such layout for a 1-d out (logsumexp): a 1-d strided one instead
        out = np.empty(2 * ROWS)[::2]
        pattern = "out: expected a C-contiguous array"
    with pytest.raises(error, match=pattern):
        native(name, x, out=out)


@pytest.mark.parametrize("name", WITH_GRAD)
def test_out_without_return_grad(name):
    with pytest.raises(ValueError, match=r"out receives the gradient: pass return_grad=True"):
        native(name, data_for(name), out=np.empty((ROWS, CLASSES)), return_grad=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, BFLOAT16],
                         ids=["f32", "f64", "f16", "bf16"])
@pytest.mark.parametrize("name", sorted(set(NAMES) - {"logsumexp"}))
def test_out_is_first_argument_in_place(name, dtype):
    x = data_for(name).astype(dtype)
    expected = native(name, x.copy())
    in_place = x.copy()
    result = native(name, in_place, out=in_place)
    assert result[-1] is in_place
    assert_same(result, expected)


@pytest.mark.parametrize("name", NAMES)
def test_out_memmap(name, tmp_path):
    x = data_for(name)
    expected = native(name, x)
    out = _memmap(np.zeros(expected[-1].shape), tmp_path, mode="r+")
    result = native(name, x, out=out)
    assert result[-1] is out
    assert_same(result, expected)


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"logsumexp"}))
def test_out_overlapping_first_argument_partially(name):
    buffer = np.zeros(ROWS * CLASSES + 1)
    x = buffer[:-1].reshape(ROWS, CLASSES)
    x[...] = data_for(name)
    before = x.copy()
    with pytest.raises(ValueError, match="out: overlaps the first argument without being the same array"):
        native(name, x, out=buffer[1:].reshape(ROWS, CLASSES))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"logsumexp"}))
def test_out_is_a_converted_view_of_the_first_argument(name):
    """`out` sharing the first argument's bytes under another dtype is not in-place: error."""
    x = np.abs(np.round(data_for(name) * 3)).astype(np.int64) + 1
    before = x.copy()
    with pytest.raises(ValueError, match="out: overlaps the first argument"):
        native(name, x, out=x.view(np.float64))
    np.testing.assert_array_equal(x, before)


def test_logsumexp_out_overlapping_input():
    buffer = data_for("logsumexp").reshape(-1).copy()
    x = buffer.reshape(ROWS, CLASSES)
    with pytest.raises(ValueError, match="out: overlaps the first argument"):
        fusedloss.logsumexp(x, out=buffer[:ROWS])


# Each secondary input, placed inside the out buffer (possibly as a converted or broadcast
# view, which the kernels never see): ValueError and the input unchanged.
OVERLAP_CASES = SECONDARY + [
    ("softmax_cross_entropy", "labels_int32", LABELS.astype(np.int32)),
    ("sigmoid_binary_cross_entropy", "targets_broadcast", TARGETS[0]),
    ("mean_squared_error", "target_broadcast", TARGETS[0]),
    ("sigmoid_focal_loss", "targets_broadcast", TARGETS[0]),
    ("sigmoid_focal_loss", "weight_broadcast", np.ones(CLASSES)[0]),
    ("softmax_cross_entropy", "soft_targets", TARGETS),
]


@pytest.mark.parametrize(("name", "key", "valid"), OVERLAP_CASES,
                         ids=[f"{n}-{k}" for n, k, _ in OVERLAP_CASES])
def test_out_overlapping_another_input(name, key, valid):
    keyword = key.split("_int32")[0].replace("_broadcast", "").replace("soft_targets", "labels")
    out = np.zeros((ROWS, CLASSES))
    raw = out.reshape(-1).view(np.uint8)
    valid = np.asarray(valid)
    inside = raw[:valid.nbytes].view(valid.dtype).reshape(valid.shape)
    inside[...] = valid
    with pytest.raises(ValueError, match=rf"out: overlaps another input array"):
        native(name, data_for(name), out=out, **{keyword: inside})
    np.testing.assert_array_equal(inside, valid)


# ------------------------------------------------------------------------------------ threads

BAD_THREADS = [
    (0, ValueError, "threads must be None or a positive int.*got 0"),
    (-1, ValueError, "threads must be None or a positive int.*got -1"),
    (2**40, ValueError, rf"threads must be None or a positive int \(at most 2147483647\), got {2**40}"),
    (1.5, TypeError, "threads must be None or a positive int, got float"),
    (2.0, TypeError, "threads must be None or a positive int, got float"),
    ("2", TypeError, "threads must be None or a positive int, got str"),
    (True, TypeError, "threads must be None or a positive int, got bool"),
    (np.bool_(True), TypeError, "threads must be None or a positive int, got bool"),
    ([2], TypeError, "threads must be None or a positive int, got list"),
]


@pytest.mark.parametrize(("value", "error", "pattern"), BAD_THREADS,
                         ids=[repr(v) for v, _, _ in BAD_THREADS])
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.isa_independent  # raises before any kernel runs
def test_bad_threads(name, value, error, pattern):
    with pytest.raises(error, match=pattern):
        native(name, data_for(name), threads=value)


@pytest.mark.parametrize("threads", [1, 2, 3, 64, np.int32(2), np.uint8(1)], ids=repr)
@pytest.mark.parametrize("name", NAMES)
def test_good_threads_bitwise_identical(name, threads):
    x = data_for(name, (300, 257))
    for got, want in zip(native(name, x, threads=threads), native(name, x, threads=None)):
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


# ---------------------------------------------------------------------------- reduction, flags

BAD_REDUCTIONS = ["avg", "MEAN", "Mean", " mean", "", "elementwise_mean", None, 1, b"mean",
                  ["mean"]]


@pytest.mark.parametrize("reduction", BAD_REDUCTIONS, ids=repr)
@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.isa_independent  # raises before any kernel runs
def test_bad_reduction(name, reduction):
    pattern = r"reduction must be one of 'mean', 'sum', 'none', got " + re_escape(repr(reduction))
    with pytest.raises(ValueError, match=pattern):
        native(name, data_for(name), reduction=reduction)


def re_escape(text):
    return re.escape(text)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_reductions_match_reference(name, reduction):
    x = data_for(name)
    assert_matches(native(name, x, reduction=reduction), reference(name, x, reduction=reduction),
                   np.float64)


FLAGS = [(name, "return_grad") for name in WITH_GRAD] + [
    ("softmax_cross_entropy", "return_argmax"), ("multiclass_hinge", "squared"),
    ("l2_penalty", "accumulate"),
]


@pytest.mark.parametrize("value", ["no", "False", 2, None, [True]], ids=repr)
@pytest.mark.parametrize(("name", "flag"), FLAGS, ids=[f"{n}-{f}" for n, f in FLAGS])
@pytest.mark.isa_independent  # raises before any kernel runs
def test_bad_flags(name, flag, value):
    with pytest.raises(TypeError, match=rf"{flag}: expected a bool, got {type(value).__name__}"):
        native(name, data_for(name), **{flag: value})


@pytest.mark.parametrize("value", [np.bool_(True), 1, np.int64(1)], ids=repr)
@pytest.mark.parametrize("name", WITH_GRAD)
def test_flag_like_values_accepted(name, value):
    x = data_for(name)
    assert_same(native(name, x, return_grad=value), native(name, x, return_grad=True))


@pytest.mark.parametrize(("call", "error", "pattern"), [
    (lambda: fusedloss.multiclass_hinge(X, LABELS, margin="1"), TypeError,
     "margin: expected a real number, got str '1'"),
    (lambda: fusedloss.multiclass_hinge(X, LABELS, margin=None), TypeError,
     "margin: expected a real number, got NoneType"),
    (lambda: fusedloss.multiclass_hinge(X, LABELS, margin=np.nan), ValueError,
     "margin: expected a finite number, got nan"),
    (lambda: fusedloss.cross_entropy(PROBS, LABELS, eps="0"), TypeError,
     "eps: expected a real number, got str"),
    (lambda: fusedloss.cross_entropy(PROBS, LABELS, eps=-1e-3), ValueError,
     "eps: expected a finite number >= 0, got -0.001"),
    (lambda: fusedloss.cross_entropy(PROBS, LABELS, eps=np.inf), ValueError,
     "eps: expected a finite number >= 0, got inf"),
    (lambda: fusedloss.l2_penalty(X, [1.0]), TypeError, "lam: expected a real number, got list"),
    (lambda: fusedloss.elastic_net_penalty(X, 1.0, -0.5), ValueError,
     "beta: expected a finite number >= 0, got -0.5"),
    (lambda: fusedloss.l1_penalty(X, np.nan), ValueError, "lam: expected a finite number >= 0, got nan"),
    (lambda: fusedloss.softmax_cross_entropy(X, LABELS, softcap="1"), TypeError,
     "softcap: expected a real number, got str"),
    (lambda: fusedloss.set_backend("NUMPY"), ValueError,
     r"backend must be one of \('native', 'numpy'\), got 'NUMPY'"),
    (lambda: fusedloss.set_backend(None), ValueError, "backend must be one of .*got None"),
    (lambda: fusedloss.set_backend(b"numpy"), ValueError, "backend must be one of .*got b'numpy'"),
], ids=["margin-str", "margin-None", "margin-nan", "eps-str", "eps-negative", "eps-inf",
        "lam-list", "beta-negative", "lam-nan", "softcap-str", "backend-case", "backend-None",
        "backend-bytes"])
def test_bad_scalar_options(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
    assert fusedloss.get_backend() == "native"


def test_arrays_that_went_through_pickle_are_accepted():
    """pickle (every array a Dask worker receives) gives an equal but new dtype object; the
    bindings compare dtypes by value, not identity."""
    import pickle

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((5, 4)).astype(dtype)
        y = np.array([0, 1, 2, 3, 0])
        copied = pickle.loads(pickle.dumps(x))
        for function, args in [
            (fusedloss.softmax_cross_entropy, (y,)),
            (fusedloss.multiclass_hinge, (y,)),
            (fusedloss.mean_squared_error, (pickle.loads(pickle.dumps(x[::-1].copy())),)),
            (fusedloss.sigmoid_binary_cross_entropy, (pickle.loads(pickle.dumps(np.abs(x) / 4)),)),
        ]:
            got = function(copied, *args, return_grad=True)
            want = function(x, *args, return_grad=True)
            assert got[0].tobytes() == want[0].tobytes()
            assert got[1].tobytes() == want[1].tobytes()
        np.testing.assert_array_equal(fusedloss.softmax(copied), fusedloss.softmax(x))
        np.testing.assert_array_equal(fusedloss.l2_penalty(copied, 0.5), fusedloss.l2_penalty(x, 0.5))
