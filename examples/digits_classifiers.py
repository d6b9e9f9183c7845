"""Two linear classifiers on scikit-learn's bundled digits (8x8 images, 10 classes), trained
by minibatch SGD with fused loss-and-gradient calls:

- a softmax classifier (multinomial logistic regression): ``fusedloss.softmax_cross_entropy``;
- a multiclass SVM (Weston-Watkins hinge, margin 1): ``fusedloss.multiclass_hinge``;

both with an L2 penalty ``lam * sum(W**2)`` whose gradient ``fusedloss.l2_penalty`` adds into
the weight gradient in place (``accumulate=True``). Objective: ``L(W, b) = data loss + lam R(W)``.

Sanity checks printed before training (CS231n's): with zero weights every score is equal, so
the softmax loss is ``log 10 = 2.303`` and the hinge loss is ``C - 1 = 9`` (margin 1).

Needs scikit-learn (``pip install fusedloss[examples]``); the data set ships with it (no
download). Run: ``python examples/digits_classifiers.py``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Tuple

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import fusedloss

Array = NDArray[np.float32]
LossFn = Callable[..., Any]


def load() -> Tuple[Array, Array, NDArray[np.int64], NDArray[np.int64]]:
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # constant border pixels
    return (
        ((x_train - mean) / std).astype(np.float32),
        ((x_test - mean) / std).astype(np.float32),
        y_train.astype(np.int64),
        y_test.astype(np.int64),
    )


def train(loss_fn: LossFn, x: Array, y: NDArray[np.int64], *, lam: float, lr: float,
          epochs: int, batch: int, seed: int = 0) -> Tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    classes = 10
    w = np.zeros((x.shape[1], classes), dtype=np.float32)
    b = np.zeros(classes, dtype=np.float32)
    grad_w = np.empty_like(w)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            xb = x[idx]
            scores = xb @ w + b
            # Fused: loss and d(loss)/d(scores), in place into the scores buffer.
            _, grad_scores = loss_fn(scores, y[idx], return_grad=True, out=scores)
            np.matmul(xb.T, grad_scores, out=grad_w)
            fusedloss.l2_penalty(w, lam, return_grad=True, out=grad_w, accumulate=True)
            w -= np.float32(lr) * grad_w
            b -= np.float32(lr) * grad_scores.sum(axis=0)
    return w, b


def main() -> Dict[str, float]:
    x_train, x_test, y_train, y_test = load()
    print(f"digits: {len(x_train)} train / {len(x_test)} test images, {x_train.shape[1]} features")
    zero_scores = np.zeros((len(x_train), 10), dtype=np.float32)
    results: Dict[str, float] = {}
    models = [
        ("softmax", fusedloss.softmax_cross_entropy, math.log(10), "log 10", dict(lam=1e-3, lr=0.05)),
        ("svm", fusedloss.multiclass_hinge, 9.0, "C - 1", dict(lam=1e-3, lr=0.005)),
    ]
    for name, loss_fn, sanity, sanity_name, hyper in models:
        initial = float(loss_fn(zero_scores, y_train))
        print(f"{name:>8}: initial loss {initial:.4f} (sanity value {sanity_name} = {sanity:.4f})")
        w, b = train(loss_fn, x_train, y_train, epochs=30, batch=64, **hyper)
        train_loss = float(loss_fn(x_train @ w + b, y_train) + fusedloss.l2_penalty(w, hyper["lam"]))
        accuracy = float(np.mean(np.argmax(x_test @ w + b, axis=1) == y_test))
        print(f"{name:>8}: final train objective {train_loss:.4f}, test accuracy {accuracy:.2%}")
        results[f"{name}_initial"] = initial
        results[f"{name}_accuracy"] = accuracy
    return results


if __name__ == "__main__":
    main()
