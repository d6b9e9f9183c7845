"""The PyTorch-equivalence claims of the spec, checked against torch itself.

torch is an optional peer (extra `peers`); .ci/run installs it so that these run in CI.
"""

import numpy as np
import pytest

import fusedloss

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_loss_and_grad(function, x, *args, **kwargs):
    tensor = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    loss = function(tensor, *args, **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), tensor.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize("with_ignore", [False, True], ids=["all-rows", "ignore"])
def test_softmax_cross_entropy_matches_torch(reduction, with_weight, with_ignore):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((64, 11)) * 3
    y = rng.integers(0, 11, 64)
    if with_ignore:
        y[::5] = -100
    weight = rng.uniform(0.1, 2.0, 11) if with_weight else None
    expected_loss, expected_grad = torch_loss_and_grad(
        F.cross_entropy, x, torch.tensor(y),
        weight=None if weight is None else torch.tensor(weight), reduction=reduction,
    )
    loss, grad = fusedloss.softmax_cross_entropy(
        x, y, weight=weight, reduction=reduction, return_grad=True
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("squared", [False, True], ids=["hinge", "squared"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["plain", "weight"])
def test_multiclass_hinge_is_torch_multi_margin_loss_times_c(squared, with_weight):
    rng = np.random.default_rng(3)
    classes = 9
    x = np.round(rng.standard_normal((50, classes)) * 8) / 8 + 1 / 16  # no term exactly at 0
    y = rng.integers(0, classes, 50)
    weight = rng.uniform(0.1, 2.0, classes) if with_weight else None
    expected_loss, expected_grad = torch_loss_and_grad(
        F.multi_margin_loss, x, torch.tensor(y), p=2 if squared else 1, margin=1.0,
        weight=None if weight is None else torch.tensor(weight), reduction="mean",
    )
    loss, grad = fusedloss.multiclass_hinge(
        x, y, squared=squared, weight=weight, return_grad=True
    )
    np.testing.assert_allclose(loss, expected_loss * classes, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad * classes, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mean_squared_error_matches_torch(reduction):
    rng = np.random.default_rng(5)
    pred = rng.standard_normal((13, 7))
    target = rng.standard_normal((13, 7))
    expected_loss, expected_grad = torch_loss_and_grad(
        F.mse_loss, pred, torch.tensor(target), reduction=reduction
    )
    loss, grad = fusedloss.mean_squared_error(pred, target, reduction=reduction, return_grad=True)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_line_fit_follows_torch_sgd_step_for_step_in_float32():
    x = np.arange(1, 16, dtype=np.float32)
    y = (1.04 * x - 0.1).astype(np.float32)
    w = np.zeros(2, np.float32)
    weights = torch.zeros(2, dtype=torch.float32, requires_grad=True)
    optimizer = torch.optim.SGD([weights], lr=0.01)
    inputs, targets = torch.tensor(x), torch.tensor(y)
    for _ in range(200):
        prediction = w[0] * x + w[1]
        _, grad = fusedloss.mean_squared_error(prediction, y, return_grad=True)
        w -= np.float32(0.01) * np.array([np.dot(grad, x), grad.sum()], np.float32)
        optimizer.zero_grad()
        F.mse_loss(weights[0] * inputs + weights[1], targets).backward()
        optimizer.step()
    np.testing.assert_allclose(w, weights.detach().numpy(), rtol=1e-5, atol=1e-6)


def soft_targets(rng, rows, classes, normalized=True):
    t = rng.uniform(0.0, 1.0, (rows, classes))
    t[rng.uniform(size=t.shape) < 0.2] = 0.0
    if normalized:
        return t / t.sum(axis=1, keepdims=True)
    return t * 1.3


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize("with_ignore", [False, True], ids=["all-rows", "ignore"])
@pytest.mark.parametrize("smoothing", [0.1, 0.37, 1.0])
def test_label_smoothing_matches_torch(reduction, with_weight, with_ignore, smoothing):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 11)) * 3
    y = rng.integers(0, 11, 64)
    if with_ignore:
        y[::5] = 3
    weight = rng.uniform(0.1, 2.0, 11) if with_weight else None
    ignore = 3 if with_ignore else -100
    expected_loss, expected_grad = torch_loss_and_grad(
        F.cross_entropy, x, torch.tensor(y),
        weight=None if weight is None else torch.tensor(weight), reduction=reduction,
        ignore_index=ignore, label_smoothing=smoothing,
    )
    loss, grad = fusedloss.softmax_cross_entropy(
        x, y, weight=weight, reduction=reduction, return_grad=True, ignore_index=ignore,
        label_smoothing=smoothing,
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("normalized", [True, False], ids=["sum1", "unnormalized"])
def test_soft_targets_match_torch(reduction, with_weight, smoothing, normalized):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((48, 7)) * 3
    t = soft_targets(rng, 48, 7, normalized)
    weight = rng.uniform(0.1, 2.0, 7) if with_weight else None
    expected_loss, expected_grad = torch_loss_and_grad(
        F.cross_entropy, x, torch.tensor(t),
        weight=None if weight is None else torch.tensor(weight), reduction=reduction,
        label_smoothing=smoothing,
    )
    loss, grad = fusedloss.softmax_cross_entropy(
        x, t, weight=weight, reduction=reduction, return_grad=True, label_smoothing=smoothing,
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-13)


def torch_options_loss(logits, target, *, weight=None, label_smoothing=0.0, z_loss=0.0,
                       softcap=None, reduction="mean", ignore_index=-100):
    """The documented formula written with torch ops (autograd gives the reference gradient)."""
    z = softcap * torch.tanh(logits / softcap) if softcap is not None else logits
    ce = F.cross_entropy(z, target, weight=weight, reduction="none",
                         label_smoothing=label_smoothing, ignore_index=ignore_index)
    lse = torch.logsumexp(z, dim=-1)
    if target.dtype.is_floating_point:
        kept = torch.ones_like(lse)
        row_weight = torch.ones_like(lse)
    else:
        kept = (target != ignore_index).to(lse.dtype)
        safe = torch.where(target == ignore_index, torch.zeros_like(target), target)
        row_weight = weight[safe] * kept if weight is not None else kept
    per_row = ce + z_loss * lse**2 * row_weight
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.sum() / row_weight.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize(
    "options",
    [{"z_loss": 1e-2}, {"softcap": 2.0}, {"z_loss": 0.1, "softcap": 5.0},
     {"z_loss": 0.05, "softcap": 3.0, "label_smoothing": 0.1}],
    ids=["zloss", "softcap", "zloss-softcap", "all"],
)
@pytest.mark.parametrize("soft", [False, True], ids=["labels", "soft"])
def test_z_loss_and_softcap_match_torch_autograd(reduction, with_weight, options, soft):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((40, 9)) * 4
    if soft:
        target = soft_targets(rng, 40, 9)
    else:
        target = rng.integers(0, 9, 40)
        target[::6] = -100
    weight = rng.uniform(0.1, 2.0, 9) if with_weight else None
    expected_loss, expected_grad = torch_loss_and_grad(
        torch_options_loss, x, torch.tensor(target),
        weight=None if weight is None else torch.tensor(weight), reduction=reduction, **options,
    )
    loss, grad = fusedloss.softmax_cross_entropy(
        x, target, weight=weight, reduction=reduction, return_grad=True, **options,
    )
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 1000), (2, 1)])
def test_softmax_family_matches_torch(dtype, shape):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.reshape(-1, shape[-1])[0, :] = -np.inf  # an all -inf row: logsumexp -inf, as torch
    if shape[-1] > 1:
        x.reshape(-1, shape[-1])[-1, 0] = -np.inf  # a masked class: probability 0
    tensor = torch.from_numpy(x)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(fusedloss.logsumexp(x), torch.logsumexp(tensor, -1).numpy(), rtol=rtol)
    finite_rows = np.isfinite(fusedloss.logsumexp(x))
    ours, theirs = fusedloss.softmax(x), F.softmax(tensor, -1).numpy()
    np.testing.assert_allclose(ours[finite_rows], theirs[finite_rows], rtol=rtol, atol=1e-7)
    ours, theirs = fusedloss.log_softmax(x), F.log_softmax(tensor, -1).numpy()
    np.testing.assert_allclose(ours[finite_rows], theirs[finite_rows], rtol=rtol, atol=1e-6)


def test_penalties_match_torch_autograd():
    rng = np.random.default_rng(8)
    w = rng.standard_normal((13, 9))
    w[0, :3] = 0.0  # the L1 subgradient at 0 is 0, as torch's sign()
    tensor = torch.tensor(w, requires_grad=True)
    for ours, theirs in [
        (lambda: fusedloss.l2_penalty(w, 0.3, return_grad=True), lambda t: 0.3 * (t * t).sum()),
        (lambda: fusedloss.l1_penalty(w, 0.3, return_grad=True), lambda t: 0.3 * t.abs().sum()),
        (lambda: fusedloss.elastic_net_penalty(w, 0.3, 0.25, return_grad=True),
         lambda t: 0.3 * (0.25 * t * t + t.abs()).sum()),
    ]:
        tensor.grad = None
        expected = theirs(tensor)
        expected.backward()
        value, grad = ours()
        np.testing.assert_allclose(value, expected.item(), rtol=1e-13)
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-13, atol=1e-15)
