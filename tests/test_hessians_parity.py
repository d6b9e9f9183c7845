"""return_hessian=True against independent implementations: PyTorch double backward (the
diagonal of the autograd Hessian) and scikit-learn's ``gradient_hessian`` (torch and sklearn
are optional peers, skipped without them, as the other parity modules)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import fusedloss

try:  # a peer: only the PyTorch comparisons need it; the scikit-learn ones run without it
    import torch
    F = torch.nn.functional
except ImportError:  # pragma: no cover - exercised without the peers extra
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch (the peers extra) is not installed")


def autograd_diagonal(loss_of, x):
    """Diagonal of the Hessian of loss_of(x).sum() for row-independent losses: the gradient
    with create_graph, then one backward per class column (row i's gradient depends on row
    i only, so d(sum_i g_ij)/dx_ij is the diagonal entry)."""
    tensor = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    loss = loss_of(tensor)
    (gradient,) = torch.autograd.grad(loss.sum(), tensor, create_graph=True)
    diagonal = torch.zeros_like(tensor)
    flat = gradient.reshape(-1, x.shape[-1])
    for j in range(x.shape[-1]):
        (second,) = torch.autograd.grad(flat[:, j].sum(), tensor, retain_graph=True)
        diagonal.reshape(-1, x.shape[-1])[:, j] = second.reshape(-1, x.shape[-1])[:, j]
    return loss.detach().numpy(), gradient.detach().numpy(), diagonal.numpy()


def torch_softmax_ce(x, labels, weight, sample_weight, ignore_index, smoothing, z_loss, softcap,
                     reduction, soft):
    """softmax_cross_entropy written with torch ops (F.cross_entropy plus the z-loss and the
    softcap, which torch lacks), the SPEC's weighting and "mean" denominator."""
    w = None if weight is None else torch.tensor(weight)
    rows = x.shape[0]
    sw = torch.ones(rows, dtype=torch.float64) if sample_weight is None else torch.tensor(sample_weight)
    if soft:
        t = torch.tensor(labels)
    else:
        y = torch.tensor(labels)
        kept = (y != ignore_index).to(torch.float64)
        safe = torch.where(y == ignore_index, torch.zeros_like(y), y)

    def loss_of(z):
        if softcap is not None:
            z = softcap * torch.tanh(z / softcap)
        if soft:
            per_row = F.cross_entropy(z, t, weight=w, label_smoothing=smoothing, reduction="none")
            denominator = sw.sum()
        else:
            per_row = F.cross_entropy(z, y, weight=w, ignore_index=ignore_index,
                                      label_smoothing=smoothing, reduction="none")
            class_w = torch.ones(z.shape[1], dtype=torch.float64) if w is None else w
            denominator = (sw * kept * class_w[safe]).sum()
            # F.cross_entropy's "none" already carries weight[y] (and its smoothing sum_j w_j)
        if z_loss:  # weighted like the row: sample_weight (below), and weight[y] * kept
            lse = torch.logsumexp(z, dim=1)
            z_term = z_loss * lse**2
            per_row = per_row + (z_term if soft else z_term * kept * class_w[safe])
        per_row = per_row * sw
        if reduction == "none":
            return per_row
        total = per_row.sum()
        return total if reduction == "sum" else total / denominator

    return loss_of


@needs_torch
@pytest.mark.parametrize("weighted, sample_weighted, smoothing, z_loss, softcap, targets",
                         list(itertools.product([False, True], [False, True], [0.0, 0.15],
                                                [0.0, 0.02], [None, 2.0],
                                                ["labels", "ignore", "soft"])))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_cross_entropy_hessian_matches_torch(weighted, sample_weighted, smoothing,
                                                     z_loss, softcap, targets, reduction):
    rng = np.random.default_rng(0)
    rows, classes = 5, 4
    x = rng.standard_normal((rows, classes)) * 2
    weight = rng.uniform(0.5, 2.0, classes) if weighted else None
    sample_weight = rng.uniform(0.5, 2.0, rows) if sample_weighted else None
    if targets == "soft":
        labels = rng.random((rows, classes))
        labels /= labels.sum(axis=1, keepdims=True)
    else:
        labels = rng.integers(0, classes, rows)
        if targets == "ignore":
            labels[2] = -100
    loss_of = torch_softmax_ce(x, labels, weight, sample_weight, -100, smoothing, z_loss, softcap,
                               reduction, targets == "soft")
    expected_loss, expected_grad, expected_hess = autograd_diagonal(loss_of, x)
    loss, grad, hess = fusedloss.softmax_cross_entropy(
        x, labels, weight=weight, sample_weight=sample_weight, label_smoothing=smoothing,
        z_loss=z_loss, softcap=softcap, reduction=reduction, return_hessian=True)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(hess, expected_hess, rtol=1e-11, atol=1e-14)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted, pos_weighted", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_sigmoid_bce_hessian_matches_torch(dtype, weighted, pos_weighted, reduction):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 3)) * 3).astype(dtype)
    t = rng.random((6, 3)).astype(dtype)
    weight = rng.uniform(0.5, 2.0, 3).astype(dtype) if weighted else None
    pos_weight = rng.uniform(0.5, 3.0, 3).astype(dtype) if pos_weighted else None

    def loss_of(z):
        return F.binary_cross_entropy_with_logits(
            z, torch.tensor(t, dtype=torch.float64),
            weight=None if weight is None else torch.tensor(weight, dtype=torch.float64),
            pos_weight=None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64),
            reduction=reduction)

    _, _, expected = autograd_diagonal(loss_of, x)
    _, _, hess = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=weight, pos_weight=pos_weight, reduction=reduction, return_hessian=True)
    assert hess.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(hess, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@needs_torch
@pytest.mark.parametrize("squared", [False, True])
def test_multiclass_hinge_hessian_matches_torch(squared):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 5)) * 2
    y = rng.integers(0, 5, 7)

    def loss_of(z):
        # F.multi_margin_loss (which divides by C) has no double backward: written out
        label = torch.tensor(y)
        d = torch.relu(z - z.gather(1, label[:, None]) + 1.0)
        d = d * (torch.arange(5)[None, :] != label[:, None])
        return (d**2 if squared else d).sum(dim=1)

    _, _, expected = autograd_diagonal(loss_of, x)
    _, _, hess = fusedloss.multiclass_hinge(x, y, squared=squared, reduction="none",
                                            return_hessian=True)
    np.testing.assert_allclose(hess, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sample_weighted", [False, True])
def test_softmax_cross_entropy_hessian_matches_sklearn(dtype, sample_weighted):
    sklearn_loss = pytest.importorskip("sklearn._loss.loss")
    rng = np.random.default_rng(3)
    raw = (rng.standard_normal((50, 6)) * 3).astype(dtype)
    y = rng.integers(0, 6, 50)
    sample_weight = rng.uniform(0.5, 2.0, 50) if sample_weighted else None
    gradient, hessian = sklearn_loss.HalfMultinomialLoss(n_classes=6).gradient_hessian(
        y_true=y.astype(dtype), raw_prediction=raw,
        sample_weight=None if sample_weight is None else sample_weight.astype(dtype))
    _, grad, hess = fusedloss.softmax_cross_entropy(raw, y, sample_weight=sample_weight,
                                                    reduction="none", return_hessian=True)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(grad, gradient, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(hess, hessian, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sample_weighted", [False, True])
def test_sigmoid_bce_hessian_matches_sklearn(dtype, sample_weighted):
    sklearn_loss = pytest.importorskip("sklearn._loss.loss")
    rng = np.random.default_rng(4)
    raw = (rng.standard_normal(200) * 4).astype(dtype)
    y = rng.integers(0, 2, 200).astype(dtype)
    sample_weight = rng.uniform(0.5, 2.0, 200) if sample_weighted else None
    gradient, hessian = sklearn_loss.HalfBinomialLoss().gradient_hessian(
        y_true=y, raw_prediction=raw,
        sample_weight=None if sample_weight is None else sample_weight.astype(dtype))
    _, grad, hess = fusedloss.sigmoid_binary_cross_entropy(
        raw, y, sample_weight=sample_weight, reduction="none", return_hessian=True)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(grad, gradient, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(hess, hessian, rtol=rtol, atol=rtol * 1e-2)
