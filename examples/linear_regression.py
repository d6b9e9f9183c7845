"""Linear regression by full-batch gradient descent with ``fusedloss.mean_squared_error``.

The textbook exercise: fit ``y = w x + b`` to the 15 points ``x = 1..15``,
``y = 1.04 x - 0.1`` (0.94, 1.98, ..., 15.50), starting from ``w = b = 0``, learning rate 0.01,
10000 epochs, all in float32 (the arithmetic PyTorch's ``nn.MSELoss`` + ``optim.SGD`` does).
The loss and its gradient w.r.t. the predictions come from one fused call; the chain rule to
``w`` and ``b`` is two dot products.

Run: ``python examples/linear_regression.py`` (prints a table every 1000 epochs).
"""

from __future__ import annotations

import numpy as np

import fusedloss


def fit(epochs: int = 10000, lr: float = 0.01, report_every: int = 1000) -> tuple[float, float]:
    x = np.arange(1, 16, dtype=np.float32)
    y = np.round(1.04 * np.arange(1, 16) - 0.1, 2).astype(np.float32)  # 0.94, 1.98, ..., 15.50
    w = np.float32(0.0)
    b = np.float32(0.0)
    step = np.float32(lr)
    print(f"{'epoch':>6} {'loss':>14} {'w':>10} {'b':>10}")
    for epoch in range(1, epochs + 1):
        pred = w * x + b
        loss, grad = fusedloss.mean_squared_error(pred, y, return_grad=True)  # grad = 2 (pred - y) / n
        w = np.float32(w - step * np.dot(grad, x))
        b = np.float32(b - step * np.sum(grad))
        if epoch == 1 or epoch % report_every == 0:
            print(f"{epoch:>6} {float(loss):>14.6e} {float(w):>10.6f} {float(b):>10.6f}")
    print(f"final: w = {float(w):.6f}, b = {float(b):.6f}  (true line: w = 1.04, b = -0.1)")
    return float(w), float(b)


if __name__ == "__main__":
    fit()
