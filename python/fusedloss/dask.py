"""fusedloss on Dask arrays: the same losses, chunk by chunk, with exact global reductions.

Install the optional extra ``fusedloss[dask]`` (``dask[array]``, ``distributed``). Every function
takes the arguments of its :mod:`fusedloss` namesake and returns **lazy** Dask results:

- ``reduction="none"``: a Dask array of per-row (per-element) losses with the batch chunks;
- ``"mean"`` / ``"sum"``: a 0-d Dask array (``.compute()`` gives a NumPy scalar of the
  result dtype);
- ``return_grad=True``: the gradient as a Dask array with the chunks of the first argument,
  carrying the global factor (``1/N`` or ``1/sum of weights`` under ``"mean"``).
- ``return_hessian=True`` (the classification losses, sigmoid BCE, the penalties): the
  gradient and then the Hessian's diagonal, a Dask array chunked like the gradient, computed
  by the same chunk calls (with the same global factor).

Chunking rules: the batch axes may be chunked freely (uneven and empty chunks are fine); the
class axis (last) of row-wise losses must be one chunk, otherwise ``ValueError`` (rechunk with
``x.rechunk({-1: -1})``). Labels, targets and weights may be NumPy arrays or Dask arrays with
any chunking: they are **realigned** (rechunked) to the chunks of the first argument.

How a reduction is computed: the ``"mean"`` denominator (``N``, ``sum w_i`` or
``sum weight[y_i] * sample_weight[i]`` over non-ignored rows) is computed first from the
labels and weights alone (no read of the logits), as float64 partial sums per chunk combined
by Dask's fixed tree. Its inverse ``s`` (0 when the denominator is 0) is a 0-d Dask array in
the same graph; each chunk then runs the native kernel once, with ``reduction="sum"`` and row
weights ``sample_weight[i] * s``, which yields both the chunk's gradient already carrying the
global factor (the same float operations as the in-memory call) and its float64 share of the
loss. Loss shares are combined by the same fixed tree. Compute loss and gradient together
(``dask.compute(loss, grad)``) or persist them together so that each chunk of the logits is
read once; computing them in two separate calls runs the chunk kernels twice.

Types: each loss is overloaded on ``return_grad`` / ``return_hessian``: ``da.Array`` (the
loss), ``Tuple[da.Array, da.Array]`` (with ``return_grad=True``), ``Tuple[da.Array, da.Array,
da.Array]`` (with ``return_hessian=True``), and :data:`DaskResult` (the array or a tuple of
arrays) for a flag that is not a literal or with ``return_argmax=True``. The elementwise twins
made from the registry (``mean_squared_error``, ``huber_loss``, ...) are declared as
``Callable[..., DaskResult]``: their results are typed, their arguments are not checked.

Errors for a bad label are raised from the chunk that holds it, when the graph is computed;
the message gives the row within that chunk and the chunk's starting batch index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union, cast, overload

import numpy as np

try:
    import dask.array as da
    from dask.delayed import Delayed, delayed
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "fusedloss.dask needs the optional dependencies: pip install 'fusedloss[dask]' "
        f"(dask[array] and distributed); the import failed with: {error}"
    ) from error

import fusedloss as _fl
from . import _validation as check
from . import _backend, _reference
from .typing import Reduction

__all__ = [
    "cross_entropy",
    "elastic_net_penalty",
    "l1_penalty",
    "l2_penalty",
    "linear_cross_entropy",
    "log_softmax",
    "logsumexp",
    "mean_squared_error",
    "multiclass_hinge",
    "sigmoid_binary_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
]

_UNSET = object()

Chunks = Tuple[Tuple[int, ...], ...]

#: What a loss returns: the loss (a Dask array, 0-d under "mean"/"sum"), or a tuple of Dask
#: arrays -- ``(loss, grad)``, ``(loss, grad, hess)``, with the argmax last where asked. The
#: overloads of each function narrow it from ``return_grad`` / ``return_hessian`` literals.
DaskResult = Union["da.Array", Tuple["da.Array", ...]]
#: linear_cross_entropy: the loss, or ``(loss, (d_input, d_linear_weight, d_linear_bias or
#: None)[, argmax])`` -- a tuple whose second item is itself a tuple.
LinearResult = Union["da.Array", Tuple[Any, ...]]


# ----------------------------------------------------------------------------- typed dask calls
# dask ships py.typed but leaves these functions and Array methods unannotated (mypy --strict
# reports them as untyped calls returning Any), and it types Array.map_blocks through
# functools.wraps as the module-level function, which mypy cannot bind as a method. These thin
# wrappers give each call the type used here; each holds the one narrow ignore for its call.
# Array.map_blocks(f, ...) is exactly da.map_blocks(f, array, ...) in dask.


def _from_array(array: Any, chunks: Any) -> "da.Array":
    return cast("da.Array", da.from_array(array, chunks=chunks))  # type: ignore[no-untyped-call]  # dask: unannotated


def _map_blocks(func: Callable[..., Any], *args: Any, **kwargs: Any) -> "da.Array":
    return cast("da.Array", da.map_blocks(func, *args, **kwargs))  # type: ignore[no-untyped-call]  # dask: unannotated


def _blockwise(func: Callable[..., Any], out_ind: Any, *args: Any, **kwargs: Any) -> "da.Array":
    return cast("da.Array", da.blockwise(func, out_ind, *args, **kwargs))  # type: ignore[no-untyped-call]  # dask: unannotated


def _broadcast_to(array: "da.Array", shape: Tuple[int, ...]) -> "da.Array":
    return cast("da.Array", da.broadcast_to(array, shape))  # type: ignore[no-untyped-call]  # dask: unannotated


def _from_delayed(value: Any, shape: Tuple[int, ...], dtype: Any) -> "da.Array":
    return cast("da.Array", da.from_delayed(value, shape=shape, dtype=dtype))  # type: ignore[no-untyped-call]  # dask: unannotated


def _rechunk(array: "da.Array", chunks: Any) -> "da.Array":
    return cast("da.Array", array.rechunk(chunks))  # type: ignore[no-untyped-call]  # dask: unannotated


def _astype(array: "da.Array", dtype: Any) -> "da.Array":
    return cast("da.Array", array.astype(dtype))  # type: ignore[no-untyped-call]  # dask: unannotated


def _reshape(array: "da.Array", shape: Tuple[int, ...], merge_chunks: bool) -> "da.Array":
    return cast("da.Array", array.reshape(shape, merge_chunks=merge_chunks))  # type: ignore[no-untyped-call]  # dask: unannotated


def _sum(array: "da.Array", dtype: Any) -> "da.Array":
    return cast("da.Array", array.sum(dtype=dtype))  # type: ignore[no-untyped-call]  # dask: unannotated


def _to_delayed(array: "da.Array") -> np.ndarray:
    """The chunks of `array` as an object array of :class:`dask.delayed.Delayed`."""
    return cast(np.ndarray, array.to_delayed())  # type: ignore[no-untyped-call]  # dask: unannotated


def _delayed_pure(function: Callable[..., Any]) -> Delayed:
    return cast(Delayed, delayed(function, pure=True))  # dask.delayed is a toolz curry: Any


# ----------------------------------------------------------------------------- helpers


def _result_dtype(dtype: np.dtype, name: str) -> np.dtype:
    dtype = np.dtype(dtype)
    if check.is_float_dtype(dtype):  # float16/32/64, ml_dtypes' bfloat16: computed natively
        return dtype
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    raise TypeError(f"{name}: expected a real numeric array, got dtype {dtype}")


def _as_dask(value: Any, name: str) -> "da.Array":
    if isinstance(value, da.Array):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf" and not check.is_float_dtype(array.dtype):
        raise TypeError(f"{name}: expected a real numeric array, got dtype {array.dtype}")
    return _from_array(array, chunks=-1)


def _aligned(value: Any, name: str, shape: Tuple[int, ...], chunks: Chunks) -> "da.Array":
    """`value` as a Dask array of exactly `shape`, rechunked to `chunks` (realignment)."""
    if isinstance(value, da.Array):
        array = value
    else:
        data = np.asarray(value)
        if data.shape == shape:
            return _from_array(data, chunks=chunks)
        array = _from_array(data, chunks=-1)
    if array.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {array.shape}")
    return array if array.chunks == chunks else _rechunk(array, chunks)


def _broadcast(value: Any, name: str, shape: Tuple[int, ...], chunks: Chunks) -> "da.Array":
    array: Union["da.Array", np.ndarray] = value if isinstance(value, da.Array) else np.asarray(value)
    try:
        target = np.broadcast_shapes(array.shape, shape)
    except ValueError:
        target = None
    if target != shape:
        raise ValueError(f"{name}: expected a shape that broadcasts to {shape}, got {array.shape}")
    if not isinstance(array, da.Array):
        array = _from_array(array, chunks=-1)
    broadcast = _broadcast_to(array, shape)
    return broadcast if broadcast.chunks == chunks else _rechunk(broadcast, chunks)


def _check_rowwise(x: "da.Array", name: str) -> None:
    if x.ndim < 1:
        raise ValueError(f"{name}: expected an array of shape (..., C), got a 0-d array")
    if len(x.chunks[-1]) != 1:
        raise ValueError(
            f"{name}: the class axis (last, C = {x.shape[-1]}) must be a single chunk, got "
            f"chunks {x.chunks[-1]}; rechunk it first, e.g. {name}.rechunk({{-1: -1}})"
        )


def _check_out(out: Any) -> None:
    if out is not None:
        raise ValueError(
            "out: fusedloss.dask returns the gradient as a new Dask array; expected out=None, "
            f"got {type(out).__name__}"
        )


def _row_weights(sample_weight: Any, batch_shape: Tuple[int, ...], chunks: Chunks) -> Optional["da.Array"]:
    """(N,) sample weights reshaped to the batch shape and chunked like the batch axes."""
    if sample_weight is None:
        return None
    rows = int(np.prod(batch_shape, dtype=np.int64))
    weights: Union["da.Array", np.ndarray]
    if isinstance(sample_weight, da.Array):
        weights = sample_weight
    else:
        weights = np.asarray(sample_weight)
        if weights.dtype.kind not in "biuf":
            raise TypeError(f"sample_weight: expected real numbers, got dtype {weights.dtype}")
    if weights.shape != (rows,):
        raise ValueError(f"sample_weight: expected shape ({rows},) (one weight per row), got {weights.shape}")
    if isinstance(weights, da.Array):
        return _rechunk(_reshape(_astype(weights, np.float64), batch_shape, merge_chunks=True), chunks)
    return _from_array(weights.astype(np.float64).reshape(batch_shape), chunks=chunks)


def _partials(blocks: "da.Array", pick: Callable[[Any], float]) -> "da.Array":
    """One float64 per block of `blocks` (an object array), as a Dask array to tree-sum."""
    ones = tuple((1,) * len(c) for c in blocks.chunks)
    ndim = blocks.ndim

    def one(block: Any) -> np.ndarray:
        return np.full((1,) * ndim, pick(block), dtype=np.float64)

    return _map_blocks(one, blocks, chunks=ones, dtype=np.float64, meta=np.empty((0,) * ndim, np.float64))


def _tree_sum(partials: "da.Array") -> "da.Array":
    # Dask's reduction tree is fixed by the chunk structure (split_every), not by the
    # scheduler, and each node sums a fixed-order float64 array: deterministic.
    return _sum(partials, dtype=np.float64)


def _inverse(denominator: "da.Array") -> "da.Array":
    def inv(block: np.ndarray) -> np.ndarray:
        d = np.float64(block)
        return np.asarray(1.0 / d if d != 0.0 else 0.0, dtype=np.float64)

    return _map_blocks(inv, denominator, dtype=np.float64)


def _finish_scalar(total: "da.Array", result_dtype: np.dtype) -> "da.Array":
    def cast(t: np.ndarray) -> Any:
        return result_dtype.type(t)

    return _map_blocks(cast, total, dtype=result_dtype, meta=np.empty((), result_dtype))


def _getter(index: int) -> Callable[[Any], Any]:
    def get(block: Any) -> Any:
        return block[index]

    return get


def _rows(blocks: "da.Array", index: int, dtype: np.dtype, drop: bool) -> "da.Array":
    """Element `index` of each block tuple; with `drop`, the class axis is removed."""
    ndim = blocks.ndim
    if not drop:
        return _map_blocks(_getter(index), blocks, dtype=dtype, meta=np.empty((0,) * ndim, dtype))
    ind = tuple(range(ndim))

    def get(parts: Any) -> Any:  # the single block along the (contracted) class axis
        return parts[0][index]

    return _blockwise(get, ind[:-1], blocks, ind, dtype=dtype, concatenate=False,
                      meta=np.empty((0,) * (ndim - 1), dtype))


def _pack(
    blocks: "da.Array", result_dtype: np.dtype, reduction: str, return_grad: bool,
    denominator: Optional["da.Array"], rows_dropped: bool, extra: Sequence[Tuple[Any, ...]] = (),
) -> DaskResult:
    """Split the per-block tuples (loss, grad, extras...) into the public results."""
    if reduction == "none":
        loss = _rows(blocks, 0, result_dtype, rows_dropped)
    else:
        total = _tree_sum(_partials(blocks, _getter(0)))
        if reduction == "mean" and not return_grad:
            assert denominator is not None
            total = _map_blocks(
                lambda t, d: np.asarray(t / d if d != 0.0 else 0.0, dtype=np.float64),
                total, denominator, dtype=np.float64,
            )
        loss = _finish_scalar(total, result_dtype)
    results: List["da.Array"] = [loss]
    if return_grad:
        results.append(_rows(blocks, 1, result_dtype, False))
    for entry in extra:  # (index, dtype) or (index, dtype, drop): drop defaults to rows_dropped
        index, dtype = entry[0], entry[1]
        drop = entry[2] if len(entry) > 2 else rows_dropped
        results.append(_rows(blocks, index, dtype, drop))
    return results[0] if len(results) == 1 else tuple(results)


def _canonical(value: Any) -> Any:
    """The array with NumPy's own dtype object for its type.

    Arrays that crossed a process boundary (pickled to a distributed worker) carry a *copy* of
    their dtype object, and the compiled kernels recognise float32/float64 by identity of the
    dtype object, so they reject such arrays with "expected float32 or float64" (a limitation
    of the in-memory functions, reported separately). A view with the canonical dtype costs
    nothing and keeps the data as is.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        canonical = np.dtype(value.dtype.str)
        if value.dtype is not canonical:
            return value.view(canonical)
    return value


def _call_block(function: Callable[..., Any], first: np.ndarray, second: Any, row_weight: Optional[np.ndarray],
                scale: Any, reduction: str, return_grad: bool, kwargs: Dict[str, Any],
                extras: int) -> Tuple[Any, ...]:
    """Run the in-memory function on one block; always returns (loss, grad-or-None, *extras)."""
    first, second, row_weight = _canonical(first), _canonical(second), _canonical(row_weight)
    kwargs = {key: _canonical(value) for key, value in kwargs.items()}
    weights = None if row_weight is None else np.asarray(row_weight, dtype=np.float64).ravel()
    per_first_axis = kwargs.pop("_per_first_axis", False)
    fold = kwargs.pop("_fold_class_weight", False)
    if reduction == "mean" and return_grad:
        # The kernel scales row i's gradient by (Real)(row weight * factor); the in-memory call
        # has row weight = sample_weight[i] * weight[y_i] and factor 1/D. Passing row weights
        # (sample_weight[i] * weight[y_i]) * s with factor 1 repeats those float64 operations.
        s = np.float64(scale)
        samples = first.shape[0] if per_first_axis else int(np.prod(first.shape[:-1]))
        if weights is None:
            weights = np.ones(samples)
        class_weight = kwargs.get("weight")
        if fold and class_weight is not None:
            labels = np.asarray(second).ravel()
            classes = class_weight.shape[0]
            weights = weights * np.asarray(class_weight, np.float64)[np.clip(labels, 0, classes - 1)]
            kwargs["weight"] = None
        weights = weights * s
        call_reduction: Any = check.PARTIAL_SUMS
    else:
        # a chunk's share of a sum or mean: its float64 sum (PARTIAL_SUMS), added across chunks
        call_reduction = reduction if reduction == "none" else check.PARTIAL_SUMS
    result = function(first, second, sample_weight=weights, reduction=call_reduction,
                      return_grad=return_grad, **kwargs)
    if not isinstance(result, tuple):
        result = (result,)
    loss = result[0]
    if reduction != "none":
        loss = float(loss)
    grad = result[1] if return_grad else None
    return (loss, grad, *result[1 + int(return_grad):1 + int(return_grad) + extras])


def _add_in_order(total: float, row_weights: np.ndarray) -> float:
    """``total + w_0 + w_1 + ...`` in float64, strictly left to right (as the kernels do)."""
    if row_weights.size == 0:
        return total
    return float(np.add.accumulate(np.concatenate(([total], row_weights.ravel())))[-1])


def _denominator(row_weights: "da.Array", integral: bool = False) -> "da.Array":
    """Σ of per-row weights as a 0-d float64 Dask array, added in row order.

    The in-memory kernels add the row weights left to right in float64; chaining the chunks
    (each adds its rows to the running total of the chunks before it) repeats exactly those
    additions, so the denominator, and hence the gradient's factor, is bitwise the in-memory
    one. `row_weights` is batch-shaped, cheap (labels and sample weights only, no logits); it
    is rechunked to chunks along the first axis only so that chunk order is row order.
    """
    if integral:
        # whole numbers below 2**53 (row counts): every order of addition is exact
        return _tree_sum(row_weights)
    if row_weights.ndim > 1:
        row_weights = _rechunk(row_weights, {i: -1 for i in range(1, row_weights.ndim)})
    total: Any = 0.0
    for block in _to_delayed(row_weights).ravel():
        total = _delayed_pure(_add_in_order)(total, block)
    return _from_delayed(total, shape=(), dtype=np.float64)


# ----------------------------------------------------------------------------- row-wise


def _rowwise(
    function: Callable[..., Any], name: str, x: Any, labels: Any, *, allow_soft: bool, sample_weight: Any,
    reduction: str, return_grad: bool, out: Any, kwargs: Dict[str, Any],
    per_row: Callable[[bool], Optional[Callable[[Any, Optional[np.ndarray]], np.ndarray]]],
    extras: Sequence[Any] = (), fold: bool = False, return_hessian: bool = False,
) -> DaskResult:
    """`return_hessian`: the in-memory function's Hessian (the first of the block's extras,
    kept with the class axis, before `extras`); `kwargs` then holds return_hessian=True."""
    check.check_reduction(reduction)
    _check_out(out)
    x = _as_dask(x, name)
    _check_rowwise(x, name)
    result_dtype = _result_dtype(x.dtype, name)
    ndim = x.ndim
    ind = tuple(range(ndim))
    batch_ind = ind[:-1]
    batch_shape = x.shape[:-1]
    batch_chunks = x.chunks[:-1]
    label_dtype = labels.dtype if isinstance(labels, da.Array) else np.asarray(labels).dtype
    soft = allow_soft and check.is_float_dtype(label_dtype)
    if soft:
        y = _aligned(labels, "labels", x.shape, x.chunks)
        y_ind = ind
    else:
        if label_dtype.kind not in "iu":
            raise TypeError(f"labels: expected integer class indices, got dtype {label_dtype}")
        y = _aligned(labels, "labels", batch_shape, batch_chunks)
        y_ind = batch_ind
    weights = _row_weights(sample_weight, batch_shape, batch_chunks)
    # Validate every other argument once, eagerly, on an empty batch (no data is read).
    probe_labels = np.zeros((0,) + ((x.shape[-1],) if soft else ()), label_dtype)
    function(np.zeros((0, x.shape[-1]), x.dtype), probe_labels,
             sample_weight=None if weights is None else np.zeros(0), reduction=reduction,
             return_grad=return_grad, **kwargs)

    denominator = None
    scale = None
    if reduction == "mean":
        rows = int(np.prod(batch_shape, dtype=np.int64))
        row_weight = per_row(soft)
        if soft or row_weight is None:  # N, or the summed sample weights
            if weights is None:
                denominator = _from_array(np.asarray(float(rows)), chunks=())
            else:
                denominator = _denominator(weights)
        else:
            denominator = _denominator(_blockwise(
                row_weight, batch_ind, y, batch_ind, weights,
                batch_ind if weights is not None else None, dtype=np.float64,
                meta=np.empty((0,) * len(batch_ind), np.float64)),
                integral=weights is None and kwargs.get("weight") is None)
        if return_grad:
            scale = _inverse(denominator)

    block_kwargs = dict(kwargs, _fold_class_weight=fold and not soft)

    def block(xb: np.ndarray, yb: np.ndarray, wb: Any, sb: Any, *positions: np.ndarray) -> Tuple[Any, ...]:
        try:
            return _call_block(function, xb, yb, wb, sb, reduction, return_grad, dict(block_kwargs),
                               len(extras))
        except ValueError as error:
            if not str(error).startswith("labels:"):
                raise
            start = tuple(int(p[0]) for p in positions)
            raise ValueError(f"{error} [row numbers count from the start of the chunk at batch "
                             f"index {start}]") from error

    # tiny index arrays: each block learns where it starts (for label error messages)
    positions: List[Any] = []
    for axis, (size, chunks) in enumerate(zip(batch_shape, batch_chunks)):
        positions += [da.arange(size, chunks=chunks, dtype=np.int64), (axis,)]
    blocks = _blockwise(
        block, ind, x, ind, y, y_ind, weights, batch_ind if weights is not None else None,
        scale, () if scale is not None else None, *positions,
        dtype=object, meta=np.empty((0,) * ndim, dtype=object), concatenate=True,
    )
    packed: List[Tuple[Any, ...]] = [(2 + i, dtype) for i, dtype in enumerate(extras)]
    if return_hessian:
        packed[0] = (2, result_dtype, False)
    return _pack(blocks, result_dtype, reduction, return_grad, denominator, True, packed)


def _class_rows(weight: Any, ignore_index: Optional[int], classes: int
                ) -> Callable[[bool], Optional[Callable[[Any, Optional[np.ndarray]], np.ndarray]]]:
    """Per-row weight of softmax-CE's "mean" denominator: sample_weight * weight[y], 0 if ignored."""
    class_weight = None if weight is None else np.asarray(weight, np.float64)

    def per_row(y: np.ndarray, w: Optional[np.ndarray]) -> np.ndarray:
        row = np.ones(y.shape, np.float64) if w is None else np.asarray(w, np.float64)
        if class_weight is not None:
            row = row * class_weight[np.clip(y, 0, classes - 1)]
        return np.where(y == ignore_index, 0.0, row)

    def make(soft: bool) -> Optional[Callable[[Any, Optional[np.ndarray]], np.ndarray]]:
        return None if soft else per_row

    return make


def _no_row_weights(soft: bool) -> None:
    return None


# ----------------------------------------------------------------------------- elementwise


def _elementwise(function: Callable[..., Any], name: str, x: Any, target: Any, target_name: str, *,
                 sample_weight: Any, reduction: str, return_grad: bool, out: Any,
                 operands: Dict[str, Any], kwargs: Dict[str, Any], hessian: bool = False) -> DaskResult:
    """`hessian`: kwargs holds return_hessian=True; the Hessian comes after the gradient."""
    check.check_reduction(reduction)
    _check_out(out)
    x = _as_dask(x, name)
    if x.ndim < 1:
        raise ValueError(f"{name}: expected an array with at least one axis, got a 0-d array")
    result_dtype = _result_dtype(x.dtype, name)
    ndim = x.ndim
    ind = tuple(range(ndim))
    t = _broadcast(target, target_name, x.shape, x.chunks)
    extra = {key: _broadcast(value, key, x.shape, x.chunks) for key, value in operands.items()
             if value is not None}
    weights = None
    if sample_weight is not None:
        weights = _astype(_aligned(sample_weight, "sample_weight", (x.shape[0],), (x.chunks[0],)), np.float64)
    probe = np.zeros((0,) + x.shape[1:], x.dtype)
    function(probe, probe, sample_weight=None if weights is None else np.zeros(0), reduction=reduction,
             return_grad=return_grad, **{k: probe for k in extra}, **kwargs)

    per_sample = int(np.prod(x.shape[1:], dtype=np.int64))
    denominator = None
    scale = None
    if reduction == "mean":
        if weights is None:
            denominator = _from_array(np.asarray(float(x.size)), chunks=())
        else:
            denominator = _denominator(weights) * float(per_sample)
        if return_grad:
            scale = _inverse(denominator)
    names = list(extra)

    def block(xb: np.ndarray, tb: np.ndarray, wb: Any, sb: Any, *others: np.ndarray) -> Tuple[Any, ...]:
        options = dict(kwargs, **dict(zip(names, others)), _per_first_axis=True)
        if wb is not None and xb.ndim == 1:
            wb = np.asarray(wb)
        return _call_block(function, xb, tb, wb, sb, reduction, return_grad, options, int(hessian))

    args: List[Any] = [x, ind, t, ind, weights, (0,) if weights is not None else None,
                  scale, () if scale is not None else None]
    for key in names:
        args += [extra[key], ind]
    blocks = _blockwise(block, ind, *args, dtype=object,
                        meta=np.empty((0,) * ndim, dtype=object), concatenate=True)
    return _pack(blocks, result_dtype, reduction, return_grad, denominator, False,
                 [(2, result_dtype)] if hessian else [])


def _elementwise_twin(entry: Any) -> Callable[..., DaskResult]:
    """The Dask twin of a registered elementwise loss (fusedloss._regression): the same
    arguments, each chunk computed by the in-memory function, reductions exact."""
    names = tuple(parameter.name for parameter in entry.parameters)

    def twin(pred: Any, target: Any, *, sample_weight: Any = None, reduction: str = "mean",
             return_grad: bool = False, return_hessian: bool = False, out: Any = None,
             threads: Optional[int] = None, **parameters: Any) -> DaskResult:
        # The loss's parameters (and an unknown keyword) are checked by the in-memory function:
        # _elementwise calls it on an empty probe before building the graph. Its operands (an
        # element weight) are arrays: broadcast and chunked as the first argument.
        operands = {name: parameters.pop(name, None) for name in entry.operands}
        kwargs: Dict[str, Any] = dict(threads=threads, **parameters)
        return_hessian = check.check_flag(return_hessian, "return_hessian")
        if return_hessian:
            kwargs["return_hessian"] = return_grad = True
        return _elementwise(entry.function, entry.first, pred, target, entry.second,
                            sample_weight=sample_weight, reduction=reduction,
                            return_grad=return_grad, out=out, operands=operands, kwargs=kwargs,
                            hessian=return_hessian)

    twin.__name__ = twin.__qualname__ = entry.name
    twin.__doc__ = (f":func:`fusedloss.{entry.name}` on Dask arrays (any chunking of any axis)."
                    + (f" Parameters: {', '.join(names)}." if names else "")
                    + (f" Arrays broadcast to {entry.first}'s shape and chunked as it: "
                       f"{', '.join(entry.operands)}." if entry.operands else ""))
    return twin


# One twin per registered elementwise loss (mean_squared_error, huber_loss, poisson_loss, ...).
# They are made at import time from the registry, so mypy sees only the declarations below:
# each is typed as Callable[..., DaskResult] (no overloads; the arguments are not checked).
# tests/test_dask.py checks that this list and the registry agree.
if TYPE_CHECKING:
    mean_squared_error: Callable[..., DaskResult]
    mean_absolute_error: Callable[..., DaskResult]
    huber_loss: Callable[..., DaskResult]
    smooth_l1_loss: Callable[..., DaskResult]
    pinball_loss: Callable[..., DaskResult]
    poisson_loss: Callable[..., DaskResult]
    gamma_loss: Callable[..., DaskResult]
    tweedie_loss: Callable[..., DaskResult]
    sigmoid_binary_cross_entropy: Callable[..., DaskResult]
    sigmoid_focal_loss: Callable[..., DaskResult]
for _entry in _fl._regression.ELEMENTWISE_LOSSES.values():
    globals()[_entry.name] = _elementwise_twin(_entry)
    if _entry.name not in __all__:
        __all__.append(_entry.name)
del _entry


def _row_twin(entry: Any) -> Callable[..., DaskResult]:
    """The Dask twin of a registered row-wise loss (fusedloss._classification): the same
    arguments, each chunk of rows computed by the in-memory function, reductions exact (the
    "mean" denominator of the entry's rule, added in row order)."""
    names = tuple(parameter.name for parameter in entry.parameters)

    def twin(first: Any, second: Any, *, sample_weight: Any = None, reduction: str = "mean",
             return_grad: bool = False, return_hessian: bool = False, out: Any = None,
             threads: Optional[int] = None, **keywords: Any) -> DaskResult:
        # The loss's parameters, weight, ignore_index (and an unknown keyword) are checked by
        # the in-memory function: _rowwise calls it on an empty probe before building the graph.
        kwargs: Dict[str, Any] = dict(threads=threads, **keywords)
        weight = keywords.get("weight")
        if weight is not None:
            kwargs["weight"] = weight = np.asarray(weight)
        return_hessian = check.check_flag(return_hessian, "return_hessian")
        # the extra results of a block after (loss, grad): the Hessian, then the argmax
        extras: Tuple[Any, ...] = (
            (np.dtype(np.int64),) if entry.argmax and check.check_flag(
                keywords.get("return_argmax", False), "return_argmax") else ())
        if return_hessian:
            kwargs["return_hessian"] = return_grad = True
            extras = (None,) + extras
        per_row: Callable[[bool], Any] = _no_row_weights
        if entry.takes_labels and entry.class_weight_in_mean:
            classes = first.shape[-1] if np.ndim(first) else 1
            per_row = _class_rows(weight, keywords.get("ignore_index", -100), classes)
        # Integer labels that use weight[y_i] only as a row weight (not softmax-CE's label
        # smoothing): folded into the per-row weights of the gradient call (bitwise the
        # in-memory gradient, see _call_block).
        values = tuple(keywords.get(parameter.name, parameter.default) for parameter in entry.parameters)
        return _rowwise(entry.function, entry.first, first, second,
                        allow_soft=not entry.takes_labels or entry.soft_kernel is not None,
                        sample_weight=sample_weight,
                        reduction=reduction, return_grad=return_grad, out=out, kwargs=kwargs,
                        per_row=per_row, extras=extras,
                        fold=(entry.takes_labels and weight is not None
                              and entry.scales_rows_by_class_weight(values)),
                        return_hessian=return_hessian)

    twin.__name__ = twin.__qualname__ = entry.name
    twin.__doc__ = (f":func:`fusedloss.{entry.name}` on Dask arrays (any chunking of the batch "
                    "axes; the class axis in one chunk)."
                    + (f" Parameters: {', '.join(names)}." if names else ""))
    return twin


# One twin per registered row-wise loss, declared for type checkers as the elementwise twins
# above are.
if TYPE_CHECKING:
    # softmax-CE's results narrowed by its literals, as the in-memory function's
    @overload
    def softmax_cross_entropy(logits: Any, labels: Any, *, weight: Any = None, sample_weight: Any = None,
                              ignore_index: int = -100, label_smoothing: float = 0.0, z_loss: float = 0.0,
                              softcap: Optional[float] = None, reduction: str = "mean",
                              return_grad: Literal[False] = False, return_argmax: Literal[False] = False, out: Any = None,
                              threads: Optional[int] = None, return_hessian: Literal[False] = False) -> "da.Array": ...


    @overload
    def softmax_cross_entropy(logits: Any, labels: Any, *, weight: Any = None, sample_weight: Any = None,
                              ignore_index: int = -100, label_smoothing: float = 0.0, z_loss: float = 0.0,
                              softcap: Optional[float] = None, reduction: str = "mean",
                              return_grad: Literal[True], return_argmax: Literal[False] = False, out: Any = None,
                              threads: Optional[int] = None, return_hessian: Literal[False] = False) -> Tuple["da.Array", "da.Array"]: ...


    @overload
    def softmax_cross_entropy(logits: Any, labels: Any, *, weight: Any = None, sample_weight: Any = None,
                              ignore_index: int = -100, label_smoothing: float = 0.0, z_loss: float = 0.0,
                              softcap: Optional[float] = None, reduction: str = "mean",
                              return_grad: bool = False, return_argmax: Literal[False] = False, out: Any = None,
                              threads: Optional[int] = None, return_hessian: Literal[True]) -> Tuple["da.Array", "da.Array", "da.Array"]: ...


    @overload
    def softmax_cross_entropy(logits: Any, labels: Any, *, weight: Any = None, sample_weight: Any = None,
                              ignore_index: int = -100, label_smoothing: float = 0.0, z_loss: float = 0.0,
                              softcap: Optional[float] = None, reduction: str = "mean",
                              return_grad: bool = False, return_argmax: bool = False, out: Any = None,
                              threads: Optional[int] = None, return_hessian: bool = False) -> DaskResult: ...

    def softmax_cross_entropy(logits: Any, labels: Any, *, weight: Any = None, sample_weight: Any = None,
                              ignore_index: int = -100, label_smoothing: float = 0.0, z_loss: float = 0.0,
                              softcap: Optional[float] = None, reduction: str = "mean",
                              return_grad: bool = False, return_argmax: bool = False, out: Any = None,
                              threads: Optional[int] = None, return_hessian: bool = False) -> DaskResult: ...

    multiclass_hinge: Callable[..., DaskResult]
    cross_entropy: Callable[..., DaskResult]
    softmax_focal_loss: Callable[..., DaskResult]
    softmax_kl_divergence: Callable[..., DaskResult]
for _row_entry in _fl._classification.ROW_LOSSES.values():
    globals()[_row_entry.name] = _row_twin(_row_entry)
    if _row_entry.name not in __all__:
        __all__.append(_row_entry.name)
del _row_entry


# ----------------------------------------------------------------------------- building blocks


def _row_map(function: Callable[..., Any], x: Any, name: str, out: Any, threads: Optional[int], drop: bool) -> "da.Array":
    _check_out(out)
    x = _as_dask(x, name)
    _check_rowwise(x, name)
    dtype = _result_dtype(x.dtype, name)
    function(np.zeros((0, x.shape[-1]), x.dtype), threads=threads)  # validate threads eagerly
    def run(block: np.ndarray, threads: Optional[int]) -> np.ndarray:
        return cast(np.ndarray, function(_canonical(block), threads=threads))

    if drop:
        return _map_blocks(run, x, threads=threads, drop_axis=x.ndim - 1, dtype=dtype,
                           meta=np.empty((0,) * (x.ndim - 1), dtype))
    return _map_blocks(run, x, threads=threads, dtype=dtype, meta=np.empty((0,) * x.ndim, dtype))


def softmax(x: Any, *, out: Any = None, threads: Optional[int] = None) -> "da.Array":
    """:func:`fusedloss.softmax` along the last axis, chunk by chunk (class axis one chunk)."""
    return _row_map(_fl.softmax, x, "x", out, threads, False)


def log_softmax(x: Any, *, out: Any = None, threads: Optional[int] = None) -> "da.Array":
    """:func:`fusedloss.log_softmax` along the last axis, chunk by chunk."""
    return _row_map(_fl.log_softmax, x, "x", out, threads, False)


def logsumexp(x: Any, *, out: Any = None, threads: Optional[int] = None) -> "da.Array":
    """:func:`fusedloss.logsumexp` along the last axis (batch-shaped result)."""
    return _row_map(_fl.logsumexp, x, "x", out, threads, True)


# ----------------------------------------------------------------------------- penalties


def _penalty(function: Callable[..., Any], w: Any, args: Tuple[Any, ...], return_grad: bool, out: Any,
             accumulate: bool, threads: Optional[int], return_hessian: bool = False) -> DaskResult:
    if out is not None or accumulate:
        raise ValueError("out/accumulate: fusedloss.dask returns the gradient as a new Dask array; "
                         f"expected out=None and accumulate=False, got out={type(out).__name__}, "
                         f"accumulate={accumulate!r}")
    w = _as_dask(w, "w")
    dtype = _result_dtype(w.dtype, "w")
    function(np.zeros((0,), w.dtype), *args, return_grad=return_grad, threads=threads)  # validate

    kind = {"l2_penalty": "l2", "l1_penalty": "l1", "elastic_net_penalty": "elastic_net"}[function.__name__]
    lam = float(args[0])
    beta = float(args[1]) if len(args) > 1 else 0.0
    thread_count = check.check_threads(threads)

    def block(wb: np.ndarray) -> Tuple[Any, ...]:
        # the kernel of the in-memory function, keeping its float64 value (arguments were
        # validated above by the in-memory function itself)
        array, _ = check.as_float_array(_canonical(wb), "w")
        if _backend.use_native():
            array = np.ascontiguousarray(array)
            value, gradient = _backend.core.penalty(  # type: ignore[union-attr]
                array, {"l2": 0, "l1": 1, "elastic_net": 2}[kind], lam, beta, bool(return_grad),
                False, None, thread_count)
        else:
            value, gradient = _reference.penalty(array, kind, lam, beta, bool(return_grad))
        if return_grad:
            return float(value), np.asarray(gradient).reshape(wb.shape).astype(dtype, copy=False)
        return float(value), None

    blocks = _map_blocks(block, w, dtype=object, meta=np.empty((0,) * w.ndim, dtype=object))
    if not return_hessian:
        return _pack(blocks, dtype, "sum", return_grad, None, False)
    constant = {"l2": 2.0 * lam, "l1": 0.0, "elastic_net": 2.0 * lam * beta}[kind]
    hessian = da.full_like(w, constant, dtype=dtype)  # type: ignore[no-untyped-call]
    return (*_pack(blocks, dtype, "sum", True, None, False), hessian)


@overload
def l2_penalty(w: Any, lam: float, *, return_grad: Literal[False] = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: Literal[False] = False) -> "da.Array": ...


@overload
def l2_penalty(w: Any, lam: float, *, return_grad: Literal[True], out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: Literal[False] = False) -> Tuple["da.Array", "da.Array"]: ...


@overload
def l2_penalty(w: Any, lam: float, *, return_grad: bool = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: Literal[True]) -> Tuple["da.Array", "da.Array", "da.Array"]: ...


@overload
def l2_penalty(w: Any, lam: float, *, return_grad: bool = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: bool = False) -> DaskResult: ...


def l2_penalty(w: Any, lam: float, *, return_grad: bool = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: bool = False) -> DaskResult:
    """:func:`fusedloss.l2_penalty` on a Dask array (any chunking): float64 chunk sums, tree-combined."""
    return_hessian = check.check_flag(return_hessian, "return_hessian")
    return _penalty(_fl.l2_penalty, w, (lam,), return_grad or return_hessian, out, accumulate,
                    threads, return_hessian)


@overload
def l1_penalty(w: Any, lam: float, *, return_grad: Literal[False] = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: Literal[False] = False) -> "da.Array": ...


@overload
def l1_penalty(w: Any, lam: float, *, return_grad: Literal[True], out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: Literal[False] = False) -> Tuple["da.Array", "da.Array"]: ...


@overload
def l1_penalty(w: Any, lam: float, *, return_grad: bool = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: Literal[True]) -> Tuple["da.Array", "da.Array", "da.Array"]: ...


@overload
def l1_penalty(w: Any, lam: float, *, return_grad: bool = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: bool = False) -> DaskResult: ...


def l1_penalty(w: Any, lam: float, *, return_grad: bool = False, out: Any = None,
               accumulate: bool = False, threads: Optional[int] = None,
               return_hessian: bool = False) -> DaskResult:
    """:func:`fusedloss.l1_penalty` on a Dask array (any chunking)."""
    return_hessian = check.check_flag(return_hessian, "return_hessian")
    return _penalty(_fl.l1_penalty, w, (lam,), return_grad or return_hessian, out, accumulate,
                    threads, return_hessian)


@overload
def elastic_net_penalty(w: Any, lam: float, beta: float, *, return_grad: Literal[False] = False, out: Any = None,
                        accumulate: bool = False, threads: Optional[int] = None,
                        return_hessian: Literal[False] = False) -> "da.Array": ...


@overload
def elastic_net_penalty(w: Any, lam: float, beta: float, *, return_grad: Literal[True], out: Any = None,
                        accumulate: bool = False, threads: Optional[int] = None,
                        return_hessian: Literal[False] = False) -> Tuple["da.Array", "da.Array"]: ...


@overload
def elastic_net_penalty(w: Any, lam: float, beta: float, *, return_grad: bool = False, out: Any = None,
                        accumulate: bool = False, threads: Optional[int] = None,
                        return_hessian: Literal[True]) -> Tuple["da.Array", "da.Array", "da.Array"]: ...


@overload
def elastic_net_penalty(w: Any, lam: float, beta: float, *, return_grad: bool = False, out: Any = None,
                        accumulate: bool = False, threads: Optional[int] = None,
                        return_hessian: bool = False) -> DaskResult: ...


def elastic_net_penalty(w: Any, lam: float, beta: float, *, return_grad: bool = False, out: Any = None,
                        accumulate: bool = False, threads: Optional[int] = None,
                        return_hessian: bool = False) -> DaskResult:
    """:func:`fusedloss.elastic_net_penalty` on a Dask array (any chunking)."""
    return_hessian = check.check_flag(return_hessian, "return_hessian")
    return _penalty(_fl.elastic_net_penalty, w, (lam, beta), return_grad or return_hessian, out, accumulate,
                    threads, return_hessian)


# ----------------------------------------------------------------------------- linear + CE


def _linear_block(x: np.ndarray, y: np.ndarray, row_weight: Optional[np.ndarray], w: np.ndarray,
                  b: Optional[np.ndarray], denominator: Optional[float], reduction: str,
                  return_grad: bool, kwargs: Dict[str, Any]) -> Tuple[Any, ...]:
    """One row chunk: (float64 loss sum or per-row losses, d_input, d_W, d_b, argmax)."""
    from ._linear import _linear_cross_entropy

    x, y, row_weight, w, b = (_canonical(a) for a in (x, y, row_weight, w, b))
    kwargs = {key: _canonical(value) for key, value in kwargs.items()}
    result = _linear_cross_entropy(
        x, w, y, linear_bias=b, sample_weight=row_weight,
        reduction=check.PARTIAL_SUMS if reduction == "sum" else reduction,
        return_grad=return_grad, out=None, accumulate=False, denominator=denominator, **kwargs)
    if not isinstance(result, tuple):
        result = (result,)
    loss = result[0] if reduction == "none" else float(result[0])
    grads = result[1] if return_grad else (None, None, None)
    argmax = result[-1] if kwargs["return_argmax"] else None
    return (loss, *grads, argmax)


def _exact_denominator(labels: List[np.ndarray], row_weights: List[Optional[np.ndarray]],
                       class_weight: Optional[np.ndarray], ignore: int) -> float:
    from ._linear import mean_denominator

    y = np.concatenate([np.asarray(part, np.int64).ravel() for part in labels])
    weights = None if row_weights[0] is None else np.concatenate(
        [np.asarray(part, np.float64).ravel() for part in row_weights])
    return mean_denominator(y, class_weight, weights, ignore)


def _sum_in_order(*parts: Any) -> Any:
    """parts[0] + parts[1] + ... strictly in chunk order (float64 partial losses, or the
    chunks' d_linear_weight / d_linear_bias): a fixed order whatever the scheduler."""
    total = np.array(parts[0], copy=True) if isinstance(parts[0], np.ndarray) else parts[0]
    for part in parts[1:]:
        total = total + part
    return total


@overload
def linear_cross_entropy(input: Any, linear_weight: Any, labels: Any, *, linear_bias: Any = None,
                         weight: Any = None, sample_weight: Any = None, ignore_index: int = -100,
                         label_smoothing: float = 0.0, z_loss: float = 0.0,
                         softcap: Optional[float] = None, reduction: str = "mean",
                         return_grad: Literal[False] = False, return_argmax: Literal[False] = False, out: Any = None,
                         accumulate: bool = False, threads: Optional[int] = None) -> "da.Array": ...


@overload
def linear_cross_entropy(input: Any, linear_weight: Any, labels: Any, *, linear_bias: Any = None,
                         weight: Any = None, sample_weight: Any = None, ignore_index: int = -100,
                         label_smoothing: float = 0.0, z_loss: float = 0.0,
                         softcap: Optional[float] = None, reduction: str = "mean",
                         return_grad: bool = False, return_argmax: bool = False, out: Any = None,
                         accumulate: bool = False, threads: Optional[int] = None) -> LinearResult: ...


def linear_cross_entropy(input: Any, linear_weight: Any, labels: Any, *, linear_bias: Any = None,
                         weight: Any = None, sample_weight: Any = None, ignore_index: int = -100,
                         label_smoothing: float = 0.0, z_loss: float = 0.0,
                         softcap: Optional[float] = None, reduction: str = "mean",
                         return_grad: bool = False, return_argmax: bool = False, out: Any = None,
                         accumulate: bool = False, threads: Optional[int] = None) -> LinearResult:
    """:func:`fusedloss.linear_cross_entropy` with the tokens (``input``'s batch axes) chunked
    over Dask: the data-parallel step of a linear softmax head.

    ``input`` ``(..., D)`` (a Dask array, the last axis one chunk; NumPy arrays become one
    chunk), ``linear_weight``/``linear_bias`` NumPy arrays (or Dask arrays, gathered to one
    block) shared by every chunk. Each row chunk runs the in-memory function (its own memory
    bound); ``"mean"``'s denominator is computed first from the labels and weights alone
    (correctly rounded, the in-memory value), the chunks' float64 loss sums, ``d_linear_weight``
    and ``d_linear_bias`` are added strictly in chunk order: every result is bitwise identical
    across runs, schedulers and thread counts for a fixed chunking, and equals the in-memory
    call within float rounding (the loss within 1 ulp of its dtype).

    Returns lazy results as the in-memory function: the loss (0-d Dask array, or per-row),
    then ``(d_input, d_linear_weight, d_linear_bias)`` (``d_input`` with ``input``'s row
    chunks), then the argmax. ``out``/``accumulate`` are not taken (results are new arrays).
    """
    reduction_code = check.check_reduction(reduction)
    _check_out(out)
    if check.check_flag(accumulate, "accumulate"):
        raise ValueError("accumulate: fusedloss.dask returns new arrays; add the returned "
                         "d_linear_weight into your buffer instead")
    return_grad = check.check_flag(return_grad, "return_grad")
    return_argmax = check.check_flag(return_argmax, "return_argmax")
    x = _as_dask(input, "input")
    if x.ndim < 1:
        raise ValueError("input: expected an array of shape (..., D), got a 0-d array")
    if len(x.chunks[-1]) != 1:
        raise ValueError(f"input: the feature axis (last, D = {x.shape[-1]}) must be a single chunk, "
                         f"got chunks {x.chunks[-1]}; rechunk it first, e.g. input.rechunk({{-1: -1}})")
    w: Any = linear_weight
    b: Any = linear_bias
    if isinstance(w, da.Array):
        w = _to_delayed(_rechunk(w, -1)).ravel()[0]
        weight_shape, weight_dtype = linear_weight.shape, linear_weight.dtype
    else:
        w = np.asarray(w)
        weight_shape, weight_dtype = w.shape, w.dtype
    if isinstance(b, da.Array):
        b_shape, b_dtype = b.shape, b.dtype
        b = _to_delayed(_rechunk(b, -1)).ravel()[0]
    elif b is not None:
        b = np.asarray(b)
        b_shape, b_dtype = b.shape, b.dtype
    features = x.shape[-1]
    batch_shape = x.shape[:-1]
    rows = int(np.prod(batch_shape, dtype=np.int64))
    label_dtype = labels.dtype if isinstance(labels, da.Array) else np.asarray(labels).dtype
    if check.is_float_dtype(label_dtype):
        raise TypeError("labels: linear_cross_entropy takes integer class indices, not soft targets "
                        "(they would be an (N, V) array)")
    class_weight = None if weight is None else np.asarray(weight)
    kwargs: Dict[str, Any] = dict(weight=class_weight, ignore_index=ignore_index,
                                  label_smoothing=label_smoothing, z_loss=z_loss, softcap=softcap,
                                  return_argmax=return_argmax, threads=threads)
    # every other argument checked once, eagerly, on an empty batch (no data read)
    probe_w = np.zeros(weight_shape, weight_dtype)
    probe_b = None if b is None else np.zeros(b_shape, b_dtype)
    _fl.linear_cross_entropy(np.zeros((0, features), x.dtype), probe_w, np.zeros(0, label_dtype),
                             linear_bias=probe_b, sample_weight=None if sample_weight is None else np.zeros(0),
                             reduction=cast("Reduction", reduction), return_grad=return_grad, **kwargs)
    result_dtype = np.result_type(_result_dtype(x.dtype, "input"), _result_dtype(weight_dtype, "linear_weight"),
                                  *(() if b is None else (_result_dtype(b_dtype, "linear_bias"),)))
    classes = weight_shape[0]

    x2 = x if x.ndim == 2 else _reshape(x, (rows, features), merge_chunks=True)
    if x.ndim == 1:
        x2 = _reshape(x, (1, features), merge_chunks=True)
    row_chunks = (x2.chunks[0],)
    y = _aligned(labels, "labels", batch_shape, x.chunks[:-1])
    y = _rechunk(_reshape(y, (rows,), merge_chunks=True), row_chunks)
    weights = _row_weights(sample_weight, batch_shape, x.chunks[:-1])
    if weights is not None:
        weights = _rechunk(_reshape(weights, (rows,), merge_chunks=True), row_chunks)
    x_parts = _to_delayed(x2).ravel()
    y_parts = list(_to_delayed(y).ravel())
    w_parts: List[Any] = list(_to_delayed(weights).ravel()) if weights is not None else [None] * len(y_parts)

    denominator: Any = None
    if reduction_code == 2:
        denominator = _delayed_pure(_exact_denominator)(
            y_parts, w_parts, None if class_weight is None else class_weight.astype(np.float64),
            check.check_ignore_index(ignore_index))
    call_reduction = ("none", "sum", "mean")[reduction_code]
    blocks = [
        _delayed_pure(_linear_block)(xp, yp, wp, w, b, denominator, call_reduction, return_grad, kwargs)
        for xp, yp, wp in zip(x_parts, y_parts, w_parts)
    ]
    sizes = row_chunks[0]

    def pick(block: Any, index: int) -> Any:
        return _delayed_pure(_getter(index))(block)

    def rows_of(index: int, dtype: Any, tail: Tuple[int, ...]) -> "da.Array":
        pieces = [_from_delayed(pick(block, index), (size,) + tail, dtype) for block, size in zip(blocks, sizes)]
        joined = cast("da.Array", da.concatenate(pieces, axis=0)) if pieces else cast(  # type: ignore[no-untyped-call]  # dask: unannotated
            "da.Array", da.zeros((0,) + tail, dtype=dtype))
        return _reshape(joined, batch_shape + tail, merge_chunks=True)

    if reduction_code == 0:
        loss: Any = rows_of(0, result_dtype, ())
    else:
        total = _delayed_pure(_sum_in_order)(0.0, *[pick(block, 0) for block in blocks])
        if reduction_code == 2:
            total = _delayed_pure(lambda t, d: t / d if d != 0.0 else 0.0)(total, denominator)
        loss = _from_delayed(_delayed_pure(lambda t: result_dtype.type(t))(total), (), result_dtype)
    results = [loss]
    if return_grad:
        d_input = rows_of(1, result_dtype, (features,))
        if not blocks:
            d_weight = cast("da.Array", da.zeros(weight_shape, dtype=result_dtype))
        else:
            d_weight = _from_delayed(_delayed_pure(_sum_in_order)(*[pick(block, 2) for block in blocks]),
                                     tuple(weight_shape), result_dtype)
        d_bias: Any = None
        if b is not None:
            d_bias = (_from_delayed(_delayed_pure(_sum_in_order)(*[pick(block, 3) for block in blocks]),
                                    (classes,), result_dtype) if blocks
                      else da.zeros((classes,), dtype=result_dtype))
        results.append((d_input, d_weight, d_bias))
    if return_argmax:
        results.append(rows_of(4, np.int64, ()))
    return results[0] if len(results) == 1 else tuple(results)
