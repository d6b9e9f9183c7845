"""Type aliases of the public API, for annotating code that calls fusedloss (as ``numpy.typing``):
``from fusedloss.typing import Loss, FloatArray``. Nothing here runs at call time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ArrayLike", "FloatArray", "HessianOut", "IntArray", "Loss", "LossAndGrad",
           "LossGradHess", "Reduction", "Scalar"]

if TYPE_CHECKING:
    #: A float32/float64 (or float16) array: gradients, per-row losses, softmax outputs.
    FloatArray = NDArray[np.floating[Any]]
    #: Per-row argmax indices (``return_argmax=True``).
    IntArray = NDArray[np.int64]
    #: A reduced loss: a NumPy scalar of the input's dtype (``np.float32(...)``/``np.float64(...)``).
    Scalar = np.floating[Any]
else:
    try:
        FloatArray = NDArray[np.floating[Any]]
        IntArray = NDArray[np.int64]
        Scalar = np.floating[Any]
    except TypeError:  # NumPy < 1.22: scalar types are not subscriptable at run time
        FloatArray = IntArray = NDArray[Any]
        Scalar = np.floating

#: What a loss returns without ``return_grad``: a NumPy scalar under ``reduction="mean"``/``"sum"``,
#: an array of the batch shape under ``reduction="none"``.
Loss = Union[Scalar, FloatArray]
#: ``(loss, gradient)`` with ``return_grad=True``; the gradient has the first argument's shape.
LossAndGrad = Tuple[Loss, FloatArray]
#: The ``reduction=`` argument of every loss: a typo such as ``"meen"`` is a type error.
Reduction = Literal["mean", "sum", "none"]
#: ``(loss, gradient, hessian)`` with ``return_hessian=True``: the Hessian's diagonal has the
#: gradient's shape and dtype.
LossGradHess = Tuple[Loss, FloatArray, FloatArray]
#: ``out=`` with ``return_hessian=True``: ``(grad_out, hess_out)``, either may be None.
HessianOut = Tuple[Optional[FloatArray], Optional[FloatArray]]
