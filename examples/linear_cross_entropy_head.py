"""Train an extreme classifier (a softmax head over V = 32768 classes) on CPU in fixed memory.

Each step feeds a batch of N = 512 hidden states (D = 64) through a linear head ``W`` (V, D)
plus bias and softmax cross-entropy. Materialised, the step's logits would take
N x V x 4 bytes = 64 MiB, written, read, turned into the gradient and read twice more;
``fusedloss.linear_cross_entropy`` never holds them: it computes the loss and the three
gradients over row chunks whose logits buffer is at most 1/16 of that, so the step's extra
memory is a few MiB besides the gradients themselves (measured below with tracemalloc).

The data are synthetic: each class has a prototype vector, class frequencies follow a Zipf
law (as words in text), and an input is its class's prototype plus noise. The head starts at
zero (loss = ln V) and is trained with Adam; the loss falls as the bias learns the frequencies
and the rows of W the prototypes of the frequent classes. Training accuracy on the batch is
printed from the fused argmax (``return_argmax=True``), at no extra pass over the logits.

Run:  python examples/linear_cross_entropy_head.py [--steps 20] [--plot loss.png]
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from typing import List, Optional, Sequence

import numpy as np

import fusedloss


def make_task(classes: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((classes, features)).astype(np.float32)
    frequency = 1.0 / np.arange(1, classes + 1) ** 1.1  # Zipf
    frequency /= frequency.sum()
    return rng, prototypes, frequency


def batch(rng, prototypes, frequency, rows: int, noise: float = 0.5):
    labels = rng.choice(prototypes.shape[0], size=rows, p=frequency)
    x = prototypes[labels] + noise * rng.standard_normal((rows, prototypes.shape[1]), dtype=np.float32)
    return x.astype(np.float32), labels


class Adam:
    def __init__(self, shapes: Sequence[tuple], lr: float, beta1: float = 0.9, beta2: float = 0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.m = [np.zeros(s, np.float32) for s in shapes]
        self.v = [np.zeros(s, np.float32) for s in shapes]
        self.t = 0

    def step(self, params, grads) -> None:
        self.t += 1
        scale = self.lr * math.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= scale * m / (np.sqrt(v) + 1e-8)


def train(steps: int, rows: int, features: int, classes: int, lr: float) -> List[float]:
    rng, prototypes, frequency = make_task(classes, features)
    weight = np.zeros((classes, features), np.float32)
    bias = np.zeros(classes, np.float32)
    # the gradients land in reused buffers (out=), as in a training loop
    d_input = np.empty((rows, features), np.float32)
    d_weight = np.empty_like(weight)
    d_bias = np.empty_like(bias)
    optimizer = Adam([weight.shape, bias.shape], lr)
    losses = []
    print(f"V = {classes} classes, D = {features}, N = {rows} rows per step; "
          f"materialised logits would be {rows * classes * 4 / 2**20:.0f} MiB per step")
    print(f"initial loss ln V = {math.log(classes):.4f}")
    print(" step     loss   batch acc   ms")
    for step in range(1, steps + 1):
        x, labels = batch(rng, prototypes, frequency, rows)
        start = time.perf_counter()
        loss, _, argmax = fusedloss.linear_cross_entropy(
            x, weight, labels, linear_bias=bias, return_grad=True, return_argmax=True,
            out=(d_input, d_weight, d_bias))
        elapsed = (time.perf_counter() - start) * 1e3
        optimizer.step([weight, bias], [d_weight, d_bias])
        losses.append(float(loss))
        if step == 1 or step % 5 == 0 or step == steps:
            accuracy = float(np.mean(argmax == labels))
            print(f"{step:5d}  {float(loss):7.4f}   {accuracy:8.3f}  {elapsed:5.0f}")
    # one more step under tracemalloc: the memory the fused call needs beyond its inputs and
    # the (reused) gradient buffers
    x, labels = batch(rng, prototypes, frequency, rows)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fusedloss.linear_cross_entropy(x, weight, labels, linear_bias=bias, return_grad=True,
                                   out=(d_input, d_weight, d_bias))
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    print(f"peak extra memory of a step: {peak / 2**20:.1f} MiB "
          f"(logits: {rows * classes * 4 / 2**20:.0f} MiB, never allocated)")
    print(f"final loss: {losses[-1]:.4f} (from {losses[0]:.4f})")
    return losses


def plot(losses: List[float], path: str, classes: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(range(1, len(losses) + 1), losses, marker="o", markersize=3)
    axis.set_xlabel("step")
    axis.set_ylabel("mean cross-entropy")
    axis.set_title(f"softmax head, V = {classes}: fusedloss.linear_cross_entropy")
    axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"wrote {path}")


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=32768)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--plot", metavar="FILE.png", help="write the loss curve (needs matplotlib)")
    args = parser.parse_args(argv)
    losses = train(args.steps, args.rows, args.features, args.classes, args.lr)
    if args.plot:
        plot(losses, args.plot, args.classes)


if __name__ == "__main__":
    main()
