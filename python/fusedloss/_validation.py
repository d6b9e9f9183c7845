"""Thin, complete input checks shared by every public function.

Each check either returns an array the kernels can take (right dtype, last axis contiguous,
aligned) or raises ``TypeError``/``ValueError`` saying what was expected and what was given.
"""

from __future__ import annotations

import operator
from typing import Any, Optional, Tuple

import numpy as np

from ._foreign import as_numpy, is_bfloat16

REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}


class PartialSums:
    """The private reduction of :mod:`fusedloss.dask`: ``"sum"``, with the value left as the
    kernel's float64 total (a chunk's share, added to the other chunks' shares exactly), never
    rounded to the result dtype. An explicit argument of the call, not a mode of the thread:
    the public functions take it where they take ``reduction``; users never see it."""

    def __repr__(self) -> str:
        return "PARTIAL_SUMS"


PARTIAL_SUMS = PartialSums()


def is_partial(reduction: Any) -> bool:
    """Whether a call's reduction is PARTIAL_SUMS (typed Any: the public signatures say str)."""
    return reduction is PARTIAL_SUMS


def reduction_name(reduction: Any) -> str:
    """The reduction the kernels and the reference compute: PARTIAL_SUMS is a "sum"."""
    return "sum" if reduction is PARTIAL_SUMS else str(reduction)
# The kernels take an int (C int) thread count.
MAX_THREADS = 2**31 - 1


def reject_masked(value: Any, name: str) -> None:
    """SPEC "Low-precision and foreign arrays": a masked array is never silently taken (its mask
    would be ignored by np.asarray), nor a Dask array (np.asarray would compute it whole into
    memory): TypeError saying what to pass instead."""
    if hasattr(value, "__dask_graph__") and not isinstance(value, np.ndarray):
        kind = f"{type(value).__module__}.{type(value).__name__}"
        raise TypeError(
            f"{name}: got a Dask collection ({kind}); the in-memory functions would compute it "
            "whole into memory. Use fusedloss.dask (the same function on Dask arrays, chunk by "
            f"chunk, exact reductions), or pass a NumPy array ({name}.compute())"
        )
    if isinstance(value, np.ma.MaskedArray):
        if name == "out":
            raise TypeError("out: expected a numpy.ndarray, got a masked array "
                            "(numpy.ma.MaskedArray; its mask would be ignored)")
        raise TypeError(
            f"{name}: masked arrays (numpy.ma.MaskedArray) are not supported: the mask would be "
            f"ignored. Pass a plain array: {name}.filled(value), or drop the masked entries "
            "(for masked labels of a classification loss, set them to ignore_index)"
        )


def as_float(value: Any, name: str) -> float:
    """float(value) for an int or float, a ValueError (not OverflowError) for an int beyond
    the float range."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            f"{name}: expected a finite number, got an int too large for a float "
            f"({len(str(abs(int(value))))} digits)"
        ) from None


def as_array(value: Any, name: str) -> np.ndarray:
    """``np.asarray(value)``, after the checks every array argument gets: no masked or Dask
    array, and a DLPack object (a PyTorch tensor, a JAX array) taken as a view, not a copy."""
    reject_masked(value, name)
    return np.asarray(as_numpy(value, name))


def is_float_dtype(dtype: np.dtype) -> bool:
    """A floating dtype: NumPy's, or ml_dtypes.bfloat16."""
    return dtype.kind == "f" or (dtype.kind == "V" and is_bfloat16(dtype))


def as_float_array(value: Any, name: str) -> Tuple[np.ndarray, np.dtype]:
    """Return (the array the kernels compute on, dtype of the result): float32, float64,
    bfloat16 and float16 as they are (the 16-bit kernels read 16-bit), integers as float64."""
    array = as_array(value, name)
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype.itemsize > 8:
            raise TypeError(
                f"{name}: expected float16, float32 or float64, got {array.dtype} (long double): "
                "computing it in float64 would silently drop its extra precision; convert it "
                f"explicitly ({name}.astype(np.float64)) if that is what you want"
            )
        if not array.dtype.isnative:  # big-endian on this machine: the same values, swapped
            array = array.astype(array.dtype.newbyteorder("="))
        return array, array.dtype
    if kind == "V" and is_bfloat16(array.dtype):
        return array, array.dtype
    if kind in "iub":
        converted = array.astype(np.float64)
        return converted, converted.dtype
    raise TypeError(
        f"{name}: expected a real numeric array (float32, float64, bfloat16 and float16 run "
        f"natively), got dtype {array.dtype}"
    )


def as_class_rows(value: Any, name: str) -> Tuple[np.ndarray, np.dtype]:
    """The first argument of a classification loss: a float array (as as_float_array) of shape
    (..., C) with C >= 1, and the result dtype."""
    array, result_dtype = as_float_array(value, name)
    if array.ndim < 1:
        raise ValueError(f"{name}: expected an array of shape (..., C), got a 0-d array")
    if array.shape[-1] == 0:
        raise ValueError(f"{name}: expected at least one class (C >= 1), got C = 0")
    return array, result_dtype


def as_rows(array: np.ndarray) -> np.ndarray:
    """A 2-d (rows, classes) view the kernels can read: last axis contiguous, aligned.

    Strided rows (any sign) are kept as they are; other layouts are copied once.
    """
    classes = array.shape[-1]
    itemsize = array.itemsize
    if array.ndim == 2:
        rows2d = array
    else:
        try:
            rows2d = array.reshape(-1, classes) if array.ndim != 1 else array.reshape(1, classes)
        except ValueError:
            rows2d = np.ascontiguousarray(array).reshape(-1, classes)
        if not np.shares_memory(rows2d, array) and array.size:
            rows2d = np.ascontiguousarray(array).reshape(-1, classes)
    if (
        (classes > 1 and rows2d.strides[1] != itemsize)
        or rows2d.strides[0] % itemsize
        or not rows2d.flags.aligned
    ):
        # np.array(copy=True), not ascontiguousarray: the latter keeps an unaligned C array.
        rows2d = np.array(rows2d, order="C", copy=True)
    return rows2d


def as_contiguous(array: np.ndarray) -> np.ndarray:
    """C-contiguous and aligned (np.ascontiguousarray keeps an unaligned C array as it is:
    the kernels' misaligned loads are undefined behaviour, found by UBSan)."""
    if array.flags.c_contiguous and array.flags.aligned:
        return array
    return np.array(array, order="C", copy=True)


def check_reduction(reduction: Any) -> int:
    if reduction is PARTIAL_SUMS:
        return REDUCTIONS["sum"]
    try:
        return REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(
            f"reduction must be one of 'mean', 'sum', 'none', got {reduction!r}"
        ) from None


def check_threads(threads: Any) -> int:
    """0 means the OpenMP default."""
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be None or a positive int, got {type(threads).__name__}")
    if threads < 1 or threads > MAX_THREADS:
        raise ValueError(
            f"threads must be None or a positive int (at most {MAX_THREADS}), got {threads}"
        )
    return int(threads)


def check_flag(value: Any, name: str) -> bool:
    """A bool (or NumPy bool, or the ints 0/1); a truthy string is not silently taken as True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")


def check_real(value: Any, name: str) -> float:
    """A finite real number (int or float, not bool), else TypeError/ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    number = as_float(value, name)
    if not np.isfinite(number):
        raise ValueError(f"{name}: expected a finite number, got {number}")
    return number


def check_labels(labels: Any, batch_shape: Tuple[int, ...], name: str = "labels") -> np.ndarray:
    """Integer class indices of the batch shape, as a contiguous int64 vector."""
    array = as_array(labels, name)
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f":
            raise TypeError(
                f"{name}: expected integer class indices of shape {batch_shape}, got a float "
                f"array (dtype {array.dtype}); soft targets are not supported by this function"
            )
        raise TypeError(f"{name}: expected an integer array, got dtype {array.dtype}")
    if array.shape != batch_shape:
        raise ValueError(
            f"{name}: expected shape {batch_shape} (the batch shape of the logits), "
            f"got {array.shape}"
        )
    if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
        flat = array.reshape(-1)
        row = int(np.argmax(flat > np.iinfo(np.int64).max))
        raise ValueError(
            f"{name}: label {int(flat[row])} at row {row} is out of range: expected a class "
            "index in [0, C) (it exceeds every int64)"
        )
    return as_contiguous(array.reshape(-1).astype(np.int64, copy=False))


def label_error(labels: np.ndarray, row: int, classes: int, batch_shape: Tuple[int, ...],
                name: str = "labels") -> ValueError:
    value = int(labels.reshape(-1)[row])
    where = f"row {row}"
    if len(batch_shape) > 1:
        where += f" (batch index {tuple(int(i) for i in np.unravel_index(row, batch_shape))})"
    return ValueError(
        f"{name}: label {value} at {where} is out of range: expected a class index in "
        f"[0, {classes})"
    )


def check_weight_vector(weight: Any, length: int, name: str, what: str) -> Optional[np.ndarray]:
    if weight is None:
        return None
    array = as_array(weight, name)
    if array.dtype.kind not in "iuf" or array.dtype.kind == "c":
        raise TypeError(f"{name}: expected a real array, got dtype {array.dtype}")
    if array.shape != (length,):
        raise ValueError(f"{name}: expected shape ({length},) ({what}), got {array.shape}")
    array = as_contiguous(array.astype(np.float64, copy=False))
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    return array


def check_soft_targets(labels: Any, shape: Tuple[int, ...], dtype: np.dtype,
                       name: str = "labels", first: str = "logits") -> np.ndarray:
    """Soft targets (probabilities) of the shape of the first argument (``first``: its name),
    converted to the compute dtype."""
    array = as_array(labels, name)
    if array.dtype.kind != "f" and not is_bfloat16(array.dtype):
        raise TypeError(f"{name}: expected a float array of soft targets, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(
            f"{name}: expected integer class indices of the batch shape {shape[:-1]} or float "
            f"soft targets of the {first}' shape {shape}, got a float array of shape {array.shape}"
        )
    return array.astype(dtype, copy=False)


def real_number(value: Any, name: str) -> float:
    """A Python or NumPy int or float (not a bool) as a float, else TypeError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    return as_float(value, name)


def check_option(value: Any, name: str, low: float, high: float = np.inf,
                 low_open: bool = False) -> float:
    """A finite float in [low, high] ((low, high] when low_open), else ValueError."""
    number = real_number(value, name)
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]" if np.isfinite(high) else (
        f"a finite number {'>' if low_open else '>='} {low:g}")
    bad = (not np.isfinite(number) or number > high
           or (number <= low if low_open else number < low))
    if bad:
        expected = f"a number in {interval}" if np.isfinite(high) else interval
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return number


def check_ignore_index(ignore_index: Any) -> int:
    if isinstance(ignore_index, (bool, np.bool_)):
        raise TypeError("ignore_index: expected an int, got bool")
    try:
        value = operator.index(ignore_index)
    except TypeError:
        raise TypeError(
            f"ignore_index: expected an int, got {type(ignore_index).__name__} {ignore_index!r}"
        ) from None
    info = np.iinfo(np.int64)
    if not info.min <= value <= info.max:
        raise ValueError(f"ignore_index: expected an int64 value, got {value}")
    return value


def check_out(out: Any, return_grad: bool, shape: Tuple[int, ...], dtype: np.dtype) -> Optional[np.ndarray]:
    if out is None:
        return None
    if not return_grad:
        raise ValueError("out receives the gradient: pass return_grad=True to use it")
    reject_masked(out, "out")
    foreign = type(out).__name__ if not isinstance(out, np.ndarray) else None
    out = as_numpy(out, "out", for_writing=True)  # a PyTorch gradient buffer: filled in place
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out: expected shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"out: expected dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("out: expected a C-contiguous array")
    if not out.flags.writeable:
        if foreign is not None:
            raise ValueError(
                f"out: expected a writeable array, got a {foreign} that is read-only or does not "
                "declare itself writable through DLPack (JAX arrays are immutable); pass a NumPy "
                "array or a writable tensor (a PyTorch CPU tensor)")
        raise ValueError("out: expected a writeable array, got a read-only one")
    if not out.flags.aligned:
        # The kernels store whole vectors of the item type: a misaligned float* store is
        # undefined behaviour (UBSan), correct on x86 only by luck. Rejected rather than
        # written through a copy, so that out= keeps meaning "no extra buffer".
        raise ValueError(
            f"out: expected an array aligned to its item size ({out.dtype.itemsize} bytes), "
            f"got data at an address {out.ctypes.data % out.dtype.itemsize} bytes past it"
        )
    return out


def _same_array(first: np.ndarray, second: np.ndarray) -> bool:
    return (first.dtype == second.dtype and first.shape == second.shape
            and first.strides == second.strides
            and first.__array_interface__["data"][0] == second.__array_interface__["data"][0])


def check_out_aliasing(out: Optional[np.ndarray], first: Any, others: Tuple[Tuple[str, Any], ...]) -> None:
    """``out`` may be the first argument itself (same buffer, dtype, shape and strides); any
    other overlap with an input array would write into that input (often through a converted
    or broadcast copy the kernels never see), so it is a ValueError."""
    if out is None:
        return
    first = as_numpy(first, "the first argument")
    others = tuple((name, as_numpy(value, name)) for name, value in others)
    if (isinstance(first, np.ndarray) and np.may_share_memory(out, first)
            and not _same_array(out, first)):
        raise ValueError(
            "out: overlaps the first argument without being the same array (expected the "
            "first argument itself, same dtype, shape and strides, or a separate buffer)"
        )
    for name, value in others:
        if isinstance(value, np.ndarray) and np.may_share_memory(out, value):
            raise ValueError(f"out: overlaps another input array ({name}); expected a separate buffer")


def hessian_request(return_hessian: Any, return_grad: bool, out: Any
                    ) -> Tuple[bool, bool, Any, Any]:
    """(return_grad, return_hessian, gradient out, Hessian out) of a call that passed
    return_hessian (the callers skip this for the default False: the fast paths' cost).
    return_hessian=True implies the gradient and makes ``out`` a pair."""
    wanted = check_flag(return_hessian, "return_hessian")
    if not wanted:
        return return_grad, False, out, None
    grad_out, hess_out = split_out(out, True)
    return True, True, grad_out, hess_out


def split_out(out: Any, return_hessian: bool) -> Tuple[Any, Any]:
    """(gradient out, Hessian out) of a call's ``out=``."""
    if not return_hessian or out is None:
        return out, None
    if type(out) not in (tuple, list) or len(out) != 2:
        raise ValueError(
            "out: with return_hessian=True expected a pair (grad_out, hess_out) of arrays (either "
            f"may be None), got {type(out).__name__}"
            + (f" of length {len(out)}" if type(out) in (tuple, list) else "")
        )
    return out[0], out[1]


def check_hessian_out(hess_out: Any, grad_out: Optional[np.ndarray], shape: Tuple[int, ...],
                       dtype: np.dtype, first: Any,
                       others: Tuple[Tuple[str, Any], ...]) -> Optional[np.ndarray]:
    """``hess_out`` checked as ``out`` is (writeable, C-contiguous, shape, dtype, aligned), and
    overlapping nothing: not the first argument (read while the gradient may replace it), not
    the gradient's buffer, no other input."""
    if hess_out is None:
        return None
    try:
        checked = check_out(hess_out, True, shape, dtype)
    except (TypeError, ValueError) as error:
        raise type(error)(str(error).replace("out:", "out[1] (hess_out):", 1)) from None
    assert checked is not None
    for name, value in (("the first argument", first), ("grad_out", grad_out)) + others:
        value = as_numpy(value, name)
        if isinstance(value, np.ndarray) and np.may_share_memory(checked, value):
            raise ValueError(f"out[1] (hess_out): overlaps {name}; expected a separate buffer")
    return checked
