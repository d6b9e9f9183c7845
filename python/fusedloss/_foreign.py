"""Arrays that are not NumPy arrays, and the 16-bit dtypes (SPEC "Low-precision and foreign
arrays").

Any object with ``__dlpack__`` on the CPU (a PyTorch tensor, a JAX array, ...) becomes a NumPy
array over the same memory (the module's own capsule import, which also knows bfloat16,
unlike ``numpy.from_dlpack``): no copy, and ``out=`` may be such a tensor, filled in place.
bfloat16 is ``ml_dtypes.bfloat16`` (the NumPy dtype JAX and TensorFlow use), imported only when
a bfloat16 array is met.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np

# DLPack's device type of host memory.
_DLPACK_CPU = 1
_DEVICE_NAMES = {2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 10: "ROCm",
                 13: "CUDA managed", 14: "oneAPI"}


@functools.lru_cache(maxsize=None)
def bfloat16_dtype() -> Optional[np.dtype]:
    """ml_dtypes' bfloat16, or None without ml_dtypes."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    dtype: np.dtype = np.dtype(ml_dtypes.bfloat16)
    return dtype


def is_bfloat16(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is ml_dtypes.bfloat16 (by name first: ml_dtypes is imported only for a
    dtype that claims to be it)."""
    return dtype.itemsize == 2 and dtype.name == "bfloat16" and dtype == bfloat16_dtype()


def is_dlpack_object(value: Any) -> bool:
    """An array of another library that offers DLPack (NumPy's own arrays are taken as they
    are)."""
    return not isinstance(value, np.ndarray) and hasattr(type(value), "__dlpack__")


def _kind(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def from_dlpack(value: Any, name: str, for_writing: bool = False) -> np.ndarray:
    """A NumPy array over ``value``'s memory, never a copy: TypeError for a tensor off the CPU,
    or one its library can share only by copying. ``for_writing`` (an ``out=``): the array is
    read-only unless the producer declares the tensor writable (a DLPack 1.0 capsule without
    the read-only flag: PyTorch's; JAX arrays, immutable, come without that declaration)."""
    from . import _backend

    device = value.__dlpack_device__()
    if int(device[0]) != _DLPACK_CPU:
        where = _DEVICE_NAMES.get(int(device[0]), f"DLPack device type {int(device[0])}")
        raise TypeError(
            f"{name}: got a {_kind(value)} on a {where} device ({where}:{int(device[1])}); "
            f"fusedloss computes on the CPU: pass a CPU array ({name}.cpu() for PyTorch)"
        )
    try:
        capsule = value.__dlpack__(max_version=(1, 0), copy=False)
    except TypeError:
        # A producer older than DLPack 1.0 takes no keywords (and never copies on the CPU).
        capsule = value.__dlpack__()
    except (BufferError, RuntimeError, ValueError) as error:
        raise TypeError(
            f"{name}: the {_kind(value)} could not be shared through __dlpack__ without a copy "
            f"({error})"
        ) from None
    if _backend.core is None:  # without the extension: NumPy's import (no bfloat16)
        return np.from_dlpack(value)
    array: np.ndarray = _backend.core.array_from_dlpack(capsule, name, for_writing)
    return array


def as_numpy(value: Any, name: str, for_writing: bool = False) -> Any:
    """``value`` itself, or the NumPy view of a DLPack object."""
    if is_dlpack_object(value):
        return from_dlpack(value, name, for_writing)
    return value
