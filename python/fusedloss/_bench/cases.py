"""The cases of ``fusedloss bench`` and of the pytest-benchmark suite (``bench/``): which losses
at which shapes and options, their inputs, the fused call, the float64 reference and the check.

Shared by the parent process (:mod:`fusedloss._bench.runner`) and the JAX workers
(:mod:`fusedloss._bench.jax_peer`), which rebuild the same inputs from the same seed; it
imports neither of them.

The elementwise losses come from the registry (:data:`fusedloss._regression.ELEMENTWISE_LOSSES`):
each entry gets the shapes of :data:`ELEMENTWISE_SHAPES`, the ``sample_weight`` option, inputs
in its target domain (:func:`elementwise_inputs`), its default parameters, and
:func:`fusedloss._reference.elementwise_loss` on its ``terms`` as the reference; a loss added to
the registry gets its bench rows without an edit here. So do the row-wise losses of the
registry (:data:`fusedloss._classification.ROW_LOSSES`: focal, distillation): softmax
cross-entropy's shapes, its ``sample_weight`` option, labels or a teacher's logits, the
entry's default parameters and :func:`fusedloss._reference.row_loss`. The classification
losses of :data:`_CLASSIFICATION` have their own tables (the hinge's and the cross-entropy of
probabilities' options and peers, which differ from softmax-CE's); so does sigmoid BCE, an
elementwise entry timed
at ``(rows, classes)`` shapes with its per-class ``weight`` / ``pos_weight`` options (its
inputs, call and reference are the registry's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import fusedloss

from .. import _reference
from .._classification import ROW_LOSSES, RowLoss
from .._regression import ELEMENTWISE_LOSSES, ElementwiseLoss

Shape = Tuple[int, ...]

#: The shapes of every elementwise loss (numbers of elements), and with ``--large`` (1 GiB in
#: float32, larger than the last-level cache), and for ``--options``.
ELEMENTWISE_SHAPES: List[Shape] = [(100_000,), (1_000_000,), (10_000_000,)]
ELEMENTWISE_LARGE_SHAPES: List[Shape] = [(268_435_456,)]
ELEMENTWISE_OPTION_SHAPES: List[Shape] = [(1_000_000,)]
ELEMENTWISE_OPTIONS: Tuple[str, ...] = ("sample_weight",)

_CLASSIFICATION = ("softmax_cross_entropy", "multiclass_hinge", "sigmoid_binary_cross_entropy", "cross_entropy")


def _table(classification: Dict[str, Any], elementwise: Any) -> Dict[str, Any]:
    """The classification losses' entries, then one per registered elementwise loss (the
    order of the default run: mean squared error, the first registered, third as it was)."""
    table = {name: classification[name] for name in ("softmax_cross_entropy", "multiclass_hinge")}
    table.update({name: list(elementwise) if isinstance(elementwise, list) else elementwise
                  for name in ELEMENTWISE_LOSSES})
    table.update({name: classification[name] for name in ("sigmoid_binary_cross_entropy", "cross_entropy")})
    table.update({name: classification["softmax_cross_entropy"] for name in ROW_LOSSES
                  if name not in table})
    return table


#: The shapes benchmarked for each loss by default: (rows, classes) for the classification
#: losses, the number of elements (1-d) for the elementwise losses.
SHAPES: Dict[str, List[Shape]] = _table({
    "softmax_cross_entropy": [(65536, 10), (4096, 1000), (256, 32000), (32, 128000)],
    "multiclass_hinge": [(65536, 10), (4096, 1000), (256, 32000), (32, 128000)],
    "sigmoid_binary_cross_entropy": [(65536, 10), (4096, 1000)],
    "cross_entropy": [(65536, 10), (4096, 1000)],
}, ELEMENTWISE_SHAPES)
#: Arrays larger than the last-level cache (1 GiB in float32), added by ``--large``.
LARGE_SHAPES: Dict[str, List[Shape]] = _table({
    "softmax_cross_entropy": [(8192, 32000), (262144, 1000)],
    "multiclass_hinge": [(8192, 32000), (262144, 1000)],
    "sigmoid_binary_cross_entropy": [(262144, 1000)],
    "cross_entropy": [(262144, 1000)],
}, ELEMENTWISE_LARGE_SHAPES)
#: The shapes at which ``--options`` measures each option against the plain loss.
OPTION_SHAPES: Dict[str, List[Shape]] = _table({
    "softmax_cross_entropy": [(65536, 10), (4096, 1000)],
    "multiclass_hinge": [(65536, 10), (4096, 1000)],
    "sigmoid_binary_cross_entropy": [(65536, 10), (4096, 1000)],
    "cross_entropy": [(65536, 10), (4096, 1000)],
}, ELEMENTWISE_OPTION_SHAPES)
LOSSES: Tuple[str, ...] = tuple(SHAPES)
#: Options measured by ``--options``, per loss (``"plain"`` is the loss with none).
OPTIONS: Dict[str, Tuple[str, ...]] = _table({
    "softmax_cross_entropy": (
        "weight", "ignore_index", "label_smoothing", "z_loss", "softcap", "return_argmax",
        "soft_targets", "sample_weight",
    ),
    "multiclass_hinge": ("weight", "squared", "sample_weight"),
    "sigmoid_binary_cross_entropy": ("weight", "pos_weight", "sample_weight"),
    "cross_entropy": ("soft_targets", "sample_weight"),
    # (the row-wise losses of the registry get softmax-CE's entry of each table; their options
    # are set after the table)
}, ELEMENTWISE_OPTIONS)
OPTIONS.update({name: ("sample_weight",) for name in ROW_LOSSES if name not in _CLASSIFICATION})
#: The shape kinds each loss is timed at (``--shape``): ELEMENTS is a 1-D shape, ROWSxCLASSES 2-D.
SHAPE_KINDS: Dict[str, str] = _table({
    "softmax_cross_entropy": "ROWSxCLASSES",
    "multiclass_hinge": "ROWSxCLASSES",
    "sigmoid_binary_cross_entropy": "ELEMENTS or ROWSxCLASSES",
    "cross_entropy": "ROWSxCLASSES",
}, "ELEMENTS")


def elementwise_entry(loss: str) -> Optional[ElementwiseLoss]:
    """The registry entry of ``loss``, ``None`` for a loss that is not elementwise."""
    return ELEMENTWISE_LOSSES.get(loss)


def row_entry(loss: str) -> Optional[RowLoss]:
    """The registry entry of a row-wise loss timed by the registry's generic cases, ``None``
    for another loss (those of :data:`_CLASSIFICATION` have their own cases and peers)."""
    return None if loss in _CLASSIFICATION else ROW_LOSSES.get(loss)


def shape_fits(loss: str, shape: Shape) -> bool:
    """Whether ``loss`` is timed at ``shape`` (see :data:`SHAPE_KINDS`)."""
    if loss == "sigmoid_binary_cross_entropy":
        return len(shape) in (1, 2)
    if loss in ELEMENTWISE_LOSSES:
        return len(shape) == 1
    return len(shape) == 2


# --------------------------------------------------------------------------- inputs and calls


@dataclass
class Case:
    """The inputs of one (loss, shape, dtype, option) case and the keyword arguments that the
    fused call and the reference take for the option."""

    loss: str
    shape: Shape
    dtype: np.dtype
    option: str
    x: np.ndarray
    y: np.ndarray
    kwargs: Dict[str, Any] = field(default_factory=dict)
    reference_kwargs: Dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        """Bytes a one-pass loss+grad moves: every input read once, the gradient written once."""
        moved = self.x.nbytes + self.y.nbytes + self.x.nbytes
        for value in self.kwargs.values():
            if isinstance(value, np.ndarray):
                moved += value.nbytes
        return moved


def elementwise_inputs(entry: ElementwiseLoss, shape: Shape, dtype: np.dtype,
                       rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """``(first, target)`` for an elementwise loss at its default parameters. A ``"pred"``
    loss gets a standard normal prediction and target (a residual of order 1, on both sides of
    Huber's and smooth L1's knees); a ``"raw"`` loss (a log link) a moderate raw prediction,
    ``N(0, 0.5^2)``, and positive log-normal targets; a ``"logits"`` loss (classification:
    sigmoid_focal_loss) standard normal logits and 0/1 labels, as sigmoid BCE's case. The first
    candidate target inside the loss's domain (``entry.domain``) is taken, so that a new loss
    needs no case of its own."""
    first = rng.standard_normal(shape, dtype=np.float32)
    if entry.first == "logits":
        labels = (rng.random(shape, dtype=np.float32) < 0.5).astype(dtype)
        return first.astype(dtype, copy=False), labels
    if entry.first == "raw":
        first *= np.float32(0.5)
    domain = entry.domain(*entry.defaults()) if entry.domain is not None else None
    candidates: List[Callable[[], np.ndarray]] = [
        lambda: rng.standard_normal(shape, dtype=np.float32),
        lambda: np.exp(np.float32(0.5) * rng.standard_normal(shape, dtype=np.float32)),  # > 0
        lambda: rng.uniform(0.05, 0.95, shape).astype(np.float32),  # in (0, 1)
    ]
    if entry.first == "raw":
        candidates = candidates[1:] + candidates[:1]
    for make in candidates:
        target = make().astype(dtype, copy=False)
        if domain is None or bool(np.all(domain[1](target))):
            return first.astype(dtype, copy=False), target
    raise ValueError(f"{entry.name}: no bench target inside its domain ({domain[0] if domain else ''})")


# The dtypes `fusedloss bench --dtype` takes (bfloat16: ml_dtypes').
BENCH_DTYPES = ("float32", "float64", "bfloat16", "float16")


def bench_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype; the name "bfloat16" is ml_dtypes' bfloat16."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        import ml_dtypes

        dtype = ml_dtypes.bfloat16
    result: np.dtype = np.dtype(dtype)
    return result


# Relative tolerances of a fused result against the float64 reference of the same inputs: the
# loss and the gradient are rounded once to the dtype (half an ulp), plus float32 arithmetic.
RESULT_RTOL = {"float32": 1e-4, "float64": 1e-9, "bfloat16": 1e-2, "float16": 2e-3}
SUBNORMAL_STEP = {"float16": 2.0 ** -24, "bfloat16": 2.0 ** -133}


def make_inputs(loss: str, shape: Shape, dtype: Any = np.float32, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Deterministic inputs for one case: ``(x, labels_or_target)``."""
    rng = np.random.default_rng(seed)
    dtype = bench_dtype(dtype)
    entry = elementwise_entry(loss)
    if entry is not None:
        return elementwise_inputs(entry, shape, dtype, rng)
    rows, classes = shape
    x = rng.standard_normal(shape, dtype=np.float32)
    row = row_entry(loss)
    if row is not None and not row.takes_labels:  # a teacher's logits
        teacher = rng.standard_normal(shape, dtype=np.float32)
        return x.astype(dtype, copy=False), teacher.astype(dtype, copy=False)
    if loss == "multiclass_hinge":
        # Quantized scores: every margin difference is exact in float32 and float64, so the
        # (discontinuous) hinge derivative is the same in both and the check stays exact.
        x = (np.round(x * 64.0) / np.float32(64.0)).astype(np.float32)
    if loss == "cross_entropy":
        x = np.exp(x - x.max(axis=-1, keepdims=True))
        x /= x.sum(axis=-1, keepdims=True)
    labels = rng.integers(0, classes, size=rows, dtype=np.int64)
    return x.astype(dtype, copy=False), labels


def make_case(loss: str, shape: Shape, dtype: Any = np.float32, option: str = "plain", seed: int = 0) -> Case:
    """The inputs of ``loss`` at ``shape`` with ``option`` on (see :data:`OPTIONS`)."""
    dtype = bench_dtype(dtype)
    x, y = make_inputs(loss, shape, dtype, seed)
    case = Case(loss, tuple(shape), dtype, option, x, y)
    rng = np.random.default_rng(seed + 1)
    rows = x.shape[0]
    classes = x.shape[-1] if x.ndim > 1 else 1
    kwargs: Dict[str, Any] = {}
    if option not in ("plain",) + OPTIONS.get(loss, ()):
        raise ValueError(f"unknown option {option!r} for {loss}; choose from {', '.join(OPTIONS.get(loss, ()))}")
    if option == "plain":
        pass
    elif option == "weight" and loss in ("softmax_cross_entropy", "multiclass_hinge"):
        kwargs["weight"] = rng.uniform(0.5, 2.0, classes)
    elif option == "weight" and loss == "sigmoid_binary_cross_entropy":
        kwargs["weight"] = rng.uniform(0.5, 2.0, classes).astype(dtype)
    elif option == "pos_weight":
        kwargs["pos_weight"] = rng.uniform(0.5, 2.0, classes).astype(dtype)
    elif option == "sample_weight":
        kwargs["sample_weight"] = rng.uniform(0.5, 2.0, rows)
    elif option == "ignore_index":
        labels = y.copy()
        labels[rng.random(rows) < 0.1] = -100
        case.y = labels
        kwargs["ignore_index"] = -100
    elif option == "label_smoothing":
        kwargs["label_smoothing"] = 0.1
    elif option == "z_loss":
        kwargs["z_loss"] = 1e-4
    elif option == "softcap":
        kwargs["softcap"] = 30.0
    elif option == "return_argmax":
        kwargs["return_argmax"] = True
    elif option == "squared":
        kwargs["squared"] = True
    elif option == "soft_targets":
        soft = rng.random(x.shape, dtype=np.float32).astype(dtype)
        soft /= soft.sum(axis=-1, keepdims=True)
        case.y = soft
    case.kwargs = kwargs
    case.reference_kwargs = {k: v for k, v in kwargs.items() if k != "return_argmax"}
    if loss == "cross_entropy" and option == "soft_targets":
        case.reference_kwargs["targets"] = case.y
    return case


def fused_call(loss: str, x: np.ndarray, y: np.ndarray, threads: Optional[int] = None, out: Optional[np.ndarray] = None, **kwargs: Any) -> Any:
    """The fused loss and gradient (``return_grad=True``, ``reduction="mean"``); an
    elementwise loss at its default parameters."""
    entry = elementwise_entry(loss) or row_entry(loss)
    fn = entry.function if entry is not None and entry.function is not None else getattr(fusedloss, loss)
    return fn(x, y, reduction="mean", return_grad=True, threads=threads, out=out, **kwargs)


def reference_call(loss: str, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> Tuple[Any, np.ndarray]:
    """The NumPy reference loss and gradient (float64)."""
    entry = elementwise_entry(loss)
    if entry is not None:
        value, grad, _ = _reference.elementwise_loss(
            entry.terms, x, y, entry.defaults(), unit=entry.unit, reduction="mean", return_grad=True,
            **kwargs)
        assert grad is not None
        return value, grad
    row = row_entry(loss)
    if row is not None:
        value, grad, _ = row.run_reference(
            x, y, row.defaults(), ignore_index=-100 if row.takes_labels else None,
            reduction="mean", return_grad=True, **kwargs)
        assert grad is not None
        return value, grad
    fn = getattr(_reference, loss)
    if loss == "cross_entropy" and "targets" in kwargs:
        result: Tuple[Any, np.ndarray] = fn(x, None, reduction="mean", return_grad=True, **kwargs)
    else:
        result = fn(x, y, reduction="mean", return_grad=True, **kwargs)
    return result


def check_result(loss: str, fused: Sequence[Any], reference: Tuple[Any, np.ndarray], dtype: Any,
                 rtol: Optional[float] = None) -> None:
    """Raise ``AssertionError`` if the fused result differs from the reference beyond
    ``rtol``, by default the tolerance of ``dtype`` (gradients are compared relative to their
    largest entry)."""
    dtype = bench_dtype(dtype)
    if rtol is None:
        rtol = RESULT_RTOL[dtype.name]
    value, grad = fused[0], fused[1]
    ref_value, ref_grad = reference
    if np.asarray(grad).dtype != dtype:
        raise AssertionError(f"{loss}: gradient dtype {np.asarray(grad).dtype}, expected {dtype}")
    if np.asarray(grad).shape != np.shape(ref_grad):
        raise AssertionError(f"{loss}: gradient shape {np.shape(grad)}, expected {np.shape(ref_grad)}")
    with np.errstate(over="ignore"):  # a float16 mean beyond 65504 is inf, as it should be
        ref_in_dtype = float(np.asarray(ref_value, dtype=np.float64).astype(dtype))
    if np.isinf(ref_in_dtype) and float(value) == ref_in_dtype:
        pass
    elif not np.allclose(float(value), float(ref_value), rtol=rtol, atol=rtol * 1e-3):
        raise AssertionError(f"{loss}: loss {float(value)!r} != reference {float(ref_value)!r}")
    scale = float(np.max(np.abs(ref_grad))) if np.size(ref_grad) else 0.0
    # Half a step of the dtype's subnormals: a 16-bit gradient of 1e-5 (MSE's 2 d / n) is
    # rounded to float16's subnormal grid (5.96e-8), correctly, beyond any relative tolerance.
    subnormal = SUBNORMAL_STEP.get(dtype.name, 0.0)
    if not np.allclose(grad, ref_grad, rtol=rtol, atol=rtol * scale + subnormal + 1e-30):
        err = float(np.max(np.abs(np.asarray(grad, dtype=np.float64) - ref_grad)))
        raise AssertionError(f"{loss}: gradient differs from the reference (max abs error {err:.3g}, scale {scale:.3g})")


def check_case(case: Case, fused: Sequence[Any], rows: Optional[int] = None) -> None:
    """Check a fused result of ``case`` against the reference, on its first ``rows`` rows only
    when given (the reference of a 1 GiB case would need several GiB)."""
    x, y = case.x, case.y
    kwargs = dict(case.reference_kwargs)
    if rows is not None and rows < x.shape[0]:
        # The mean over a prefix differs: recompute the fused result on the prefix itself.
        x, y = x[:rows], (y[:rows] if y.ndim else y)
        for key in ("sample_weight", "targets"):
            if key in kwargs:
                kwargs[key] = kwargs[key][:rows]
        fused_kwargs = {k: (v[:rows] if k == "sample_weight" else v) for k, v in case.kwargs.items()}
        fused = fused_call(case.loss, x, y, **fused_kwargs)
    check_result(case.loss, fused, reference_call(case.loss, x, y, **kwargs), case.dtype)
    if case.kwargs.get("return_argmax"):
        expected = _reference.argmax_rows(np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1]))
        if not np.array_equal(np.asarray(fused[2]).reshape(-1), expected):
            raise AssertionError(f"{case.loss}: return_argmax differs from np.argmax")
