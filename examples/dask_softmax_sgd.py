"""Train a linear softmax classifier by gradient descent over an out-of-core Dask data set.

The example writes a synthetic data set (features and labels) to ``np.memmap`` files in a
temporary directory, opens them lazily as Dask arrays chunked along the rows (several chunks),
and runs full-batch gradient descent: each step builds the graph

    logits = X @ W + b                                  (per chunk)
    loss, G, argmax = fusedloss.dask.softmax_cross_entropy(logits, y, return_grad=True,
                                                           return_argmax=True)
    dW = X.T @ G,  db = G.sum(0)                        (tree reductions)

and computes loss, dW, db and the accuracy together, so each chunk of X is read from disk once
per step and the softmax-CE loss and its gradient come from one fused kernel call per chunk.
``G`` already carries the global 1/N factor, so ``dW`` is the gradient of the global mean loss.
An L2 penalty on W is added with the in-memory ``fusedloss.l2_penalty``.

Run:  python examples/dask_softmax_sgd.py [--rows 100000] [--steps 30] [--scheduler threads]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import dask
import dask.array as da
import numpy as np

import fusedloss
import fusedloss.dask as fd


def write_dataset(directory: str, rows: int, features: int, classes: int, seed: int = 0) -> Dict:
    """Synthetic classes from a random linear model plus noise, written in row blocks."""
    rng = np.random.default_rng(seed)
    true_w = rng.standard_normal((features, classes)) * 1.5
    x = np.memmap(os.path.join(directory, "x.f32"), dtype=np.float32, mode="w+", shape=(rows, features))
    y = np.memmap(os.path.join(directory, "y.i64"), dtype=np.int64, mode="w+", shape=(rows,))
    block = 50_000
    correct = 0
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        xb = rng.standard_normal((stop - start, features)).astype(np.float32)
        scores = xb @ true_w
        yb = np.argmax(scores + rng.gumbel(size=scores.shape), axis=1)  # softmax-distributed labels
        x[start:stop] = xb
        y[start:stop] = yb
        correct += int(np.sum(np.argmax(scores, axis=1) == yb))
    x.flush()
    y.flush()
    del x, y
    return {"bayes_accuracy": correct / rows}


def open_dataset(directory: str, rows: int, features: int, chunk_rows: int):
    x = np.memmap(os.path.join(directory, "x.f32"), dtype=np.float32, mode="r", shape=(rows, features))
    y = np.memmap(os.path.join(directory, "y.i64"), dtype=np.int64, mode="r", shape=(rows,))
    # from_array on a memmap reads each chunk from disk only when a task needs it
    return (da.from_array(x, chunks=(chunk_rows, features), asarray=False),
            da.from_array(y, chunks=chunk_rows, asarray=False))


def train(x: da.Array, y: da.Array, classes: int, steps: int, learning_rate: float, lam: float,
          scheduler: Optional[str], log=print) -> Dict:
    features = x.shape[1]
    w = np.zeros((features, classes), np.float32)
    b = np.zeros(classes, np.float32)
    losses: List[float] = []
    accuracy = 0.0
    for step in range(steps):
        logits = x @ w + b  # w, b are small NumPy arrays embedded in the graph
        loss, grad, argmax = fd.softmax_cross_entropy(logits, y, return_grad=True, return_argmax=True)
        d_w = x.T @ grad
        d_b = grad.sum(axis=0)
        correct = (argmax == y).sum()
        loss, d_w, d_b, correct = dask.compute(loss, d_w, d_b, correct, scheduler=scheduler)
        penalty, d_penalty = fusedloss.l2_penalty(w, lam, return_grad=True)
        losses.append(float(loss) + float(penalty))
        accuracy = int(correct) / x.shape[0]
        if step % 5 == 0 or step == steps - 1:
            log(f"step {step:3d}  loss {losses[-1]:.4f}  accuracy {accuracy:.4f}")
        w -= learning_rate * (d_w + d_penalty).astype(np.float32)
        b -= learning_rate * d_b.astype(np.float32)
    return {"losses": losses, "accuracy": accuracy, "w": w, "b": b}


def main(argv: Optional[Sequence[str]] = None, log=print) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, default=25_000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--learning-rate", type=float, default=2.0)
    parser.add_argument("--lam", type=float, default=1e-4)
    parser.add_argument("--scheduler", default="threads")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        info = write_dataset(directory, args.rows, args.features, args.classes)
        x, y = open_dataset(directory, args.rows, args.features, args.chunk_rows)
        log(f"data: {args.rows} rows x {args.features} features, {args.classes} classes, "
            f"{x.npartitions} chunks of {args.chunk_rows} rows read lazily from np.memmap files")
        start = time.perf_counter()
        result = train(x, y, args.classes, args.steps, args.learning_rate, args.lam, args.scheduler, log)
        elapsed = time.perf_counter() - start
        del x, y
    log(f"loss {result['losses'][0]:.4f} -> {result['losses'][-1]:.4f}; final accuracy "
        f"{result['accuracy']:.4f} (Bayes accuracy of the generating model {info['bayes_accuracy']:.4f}); "
        f"{args.steps} steps in {elapsed:.2f} s")
    result.update(info)
    result["seconds"] = elapsed
    return result


if __name__ == "__main__":
    main()
