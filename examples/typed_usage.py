"""A small typed use of fusedloss, checked by ``mypy --strict`` in tests/test_typing.py.

The overloads give ``return_grad=True`` a ``(loss, gradient)`` tuple type and the default a
single loss; ``return_argmax=True`` appends the int64 argmax. The loss is a NumPy scalar under
``reduction="mean"``/``"sum"`` and an array under ``"none"`` (``fusedloss.typing.Loss``, the
union, where the reduction is only known at run time). ``reveal_type`` is not used (it
would print at run time); the annotated assignments below are what mypy checks.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np
from numpy.typing import NDArray

import fusedloss
from fusedloss import typing as flt


def training_step(w: NDArray[np.float32], x: NDArray[np.float32], y: NDArray[np.int64],
                  lr: float = 0.1, lam: float = 1e-4) -> float:
    logits = x @ w
    loss, grad = fusedloss.softmax_cross_entropy(logits, y, return_grad=True, out=logits)
    grad_w: NDArray[np.float32] = x.T @ grad.astype(np.float32)
    penalty: flt.Scalar = fusedloss.l2_penalty(w, lam)
    fusedloss.l2_penalty(w, lam, return_grad=True, out=grad_w, accumulate=True)
    w -= np.float32(lr) * grad_w
    return float(loss) + float(penalty)


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=32)
    w = np.zeros((5, 3), dtype=np.float32)

    loss_only: flt.Scalar = fusedloss.softmax_cross_entropy(x @ w, y)  # "mean": a NumPy scalar
    per_row: flt.FloatArray = fusedloss.softmax_cross_entropy(x @ w, y, reduction="none")
    with_grad: Tuple[flt.Loss, flt.FloatArray] = fusedloss.multiclass_hinge(x @ w, y, return_grad=True)
    with_argmax: Tuple[flt.Scalar, flt.IntArray] = fusedloss.softmax_cross_entropy(
        x @ w, y, return_argmax=True)
    loss3, grad3, argmax3 = fusedloss.softmax_cross_entropy(
        x @ w, y, return_grad=True, return_argmax=True)
    accuracy: float = float(np.mean(argmax3 == y))
    mse: flt.Loss = fusedloss.mean_squared_error(x[:, 0], x[:, 1])
    bce_loss, bce_grad = fusedloss.sigmoid_binary_cross_entropy(x, (x > 0).astype(np.float32),
                                                                return_grad=True)
    ce: flt.Loss = fusedloss.cross_entropy(fusedloss.softmax(x), np.zeros(32, dtype=np.int64))
    lse: flt.Loss = fusedloss.logsumexp(x)
    log_p: flt.FloatArray = fusedloss.log_softmax(x)
    l1_value, l1_grad = fusedloss.l1_penalty(w, 0.1, return_grad=True)
    en: flt.Scalar = fusedloss.elastic_net_penalty(w, 0.1, 0.5)
    backend: str = fusedloss.get_backend()
    fusedloss.set_backend(backend)
    info: Dict[str, Any] = fusedloss.config()
    step_loss = training_step(w, x, y)
    print(float(loss_only), per_row.shape, float(with_grad[0]), with_argmax[1].shape, float(loss3), grad3.shape,
          accuracy, float(mse), float(bce_loss), bce_grad.dtype, float(np.sum(ce)), np.shape(lse),
          log_p.shape, float(l1_value), l1_grad.shape, float(en), info["backend"], step_loss,
          fusedloss.__version__)


if __name__ == "__main__":
    main()
