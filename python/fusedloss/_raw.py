"""Float64 partial sums for :mod:`fusedloss.dask` (internal).

While :class:`raw_sums` is active in a thread, a ``"mean"``/``"sum"`` loss is returned as the
kernel's float64 value instead of being cast to the result dtype, so that the partial sums of
Dask chunks can be combined without a float32 rounding per chunk. Off by default; the public
functions are unchanged outside it.
"""

from __future__ import annotations

import threading
from typing import Any, Optional, Tuple, Union

import numpy as np

class _State(threading.local):
    # A class attribute: a thread that never entered raw_sums reads it without the failed
    # instance lookup that getattr(local, name, default) pays (0.6 us, on every loss call).
    on = False


_STATE = _State()


def active() -> bool:
    return _STATE.on


class raw_sums:
    """Context manager: within it (this thread only), scalar losses stay float64."""

    def __enter__(self) -> None:
        self._previous = active()
        _STATE.on = True

    def __exit__(self, *exc: Any) -> None:
        _STATE.on = self._previous


def finish(value: Any, gradient: Optional[np.ndarray], result_dtype: np.dtype,
           grad_shape: Tuple[int, ...], return_grad: bool
           ) -> Union[np.float64, Tuple[np.float64, np.ndarray]]:
    """`_losses._finish` for a scalar value under :class:`raw_sums` (no `out`)."""
    loss = np.float64(value)
    if not return_grad:
        return loss
    assert gradient is not None
    return loss, gradient.reshape(grad_shape).astype(result_dtype, copy=False)
