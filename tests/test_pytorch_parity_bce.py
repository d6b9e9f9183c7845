"""PyTorch parity of sigmoid_binary_cross_entropy and cross_entropy (torch is an optional peer)."""

import numpy as np
import pytest

import fusedloss

torch = pytest.importorskip("torch")
F = torch.nn.functional


def assert_bce_matches_torch(x, t, weight, pos_weight, reduction, dtype, loss_atol_scales):
    """fusedloss's loss and gradient against F.binary_cross_entropy_with_logits + autograd;
    loss_atol_scales: the loss's absolute tolerance grows with its largest entry."""
    tensor = torch.tensor(x, requires_grad=True)
    expected = F.binary_cross_entropy_with_logits(
        tensor, torch.tensor(t),
        weight=None if weight is None else torch.tensor(weight),
        pos_weight=None if pos_weight is None else torch.tensor(pos_weight),
        reduction=reduction,
    )
    expected.sum().backward()
    loss, grad = fusedloss.sigmoid_binary_cross_entropy(
        x, t, weight=weight, pos_weight=pos_weight, reduction=reduction, return_grad=True)
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    expected_loss = expected.detach().numpy().astype(np.float64)
    largest = float(np.abs(expected_loss).max()) if loss_atol_scales else 0.0
    np.testing.assert_allclose(np.asarray(loss, np.float64), expected_loss, rtol=rtol,
                               atol=rtol * max(1.0, largest))
    np.testing.assert_allclose(grad.astype(np.float64), tensor.grad.numpy().astype(np.float64),
                               rtol=rtol, atol=1e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["plain", "weight"])
@pytest.mark.parametrize("with_pos_weight", [False, True], ids=["no-pos", "pos_weight"])
def test_sigmoid_bce_matches_torch(dtype, reduction, with_weight, with_pos_weight):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((16, 9)) * 5).astype(dtype)
    x[0, :4] = [100.0, -100.0, 1e30, -1e30]
    t = rng.uniform(0, 1, (16, 9)).astype(dtype)
    t[1] = np.round(t[1])
    weight = rng.uniform(0.1, 2.0, (16, 1)).astype(dtype) if with_weight else None
    pos_weight = rng.uniform(0.2, 4.0, 9).astype(dtype) if with_pos_weight else None
    assert_bce_matches_torch(x, t, weight, pos_weight, reduction, dtype, loss_atol_scales=False)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [1e-7, 0.0, 1e-3])
def test_cross_entropy_matches_torch_nll_of_log(reduction, eps):
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(12), size=40)
    if eps > 0:  # with eps = 0, torch's autograd gives 0 * inf = NaN at p = 0, t = 0; we give 0
        p[0, 3] = 0.0
    y = rng.integers(0, 12, 40)
    y[0] = 4
    tensor = torch.tensor(p, requires_grad=True)
    expected = F.nll_loss(torch.log(tensor + eps), torch.tensor(y), reduction=reduction)
    expected.sum().backward()
    loss, grad = fusedloss.cross_entropy(p, y, eps=eps, reduction=reduction, return_grad=True)
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_soft_targets_match_torch(reduction):
    rng = np.random.default_rng(6)
    p = rng.dirichlet(np.ones(7), size=(5, 3))
    t = rng.dirichlet(np.ones(7), size=(5, 3))
    tensor = torch.tensor(p, requires_grad=True)
    rows = -(torch.tensor(t) * torch.log(tensor + 1e-7)).sum(-1)
    expected = rows.mean() if reduction == "mean" else rows.sum()
    expected.backward()
    loss, grad = fusedloss.cross_entropy(p, t, reduction=reduction, return_grad=True)
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-12, atol=1e-14)


WEIGHT_FORMS = {
    "per-class (C,)": lambda rng, shape: rng.uniform(0.1, 2.0, shape[-1]),
    "(1, ..., C)": lambda rng, shape: rng.uniform(0.1, 2.0, (1,) * (len(shape) - 1) + shape[-1:]),
    "scalar": lambda rng, shape: np.array(1.7),
    "varies along batch": lambda rng, shape: rng.uniform(0.1, 2.0, shape[:1] + (1,) * (len(shape) - 1)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weight_form, pos_weight_form", [
    (weight_form, pos_weight_form) for weight_form in (None, *WEIGHT_FORMS)
    for pos_weight_form in (None, "per-class (C,)", "scalar")
    if weight_form is not None or pos_weight_form is not None
], ids=str)
@pytest.mark.parametrize("shape", [(40, 1), (30, 17), (3, 1000), (4, 5, 3)], ids=str)
def test_sigmoid_bce_weight_forms_match_torch(dtype, reduction, weight_form, pos_weight_form, shape):
    """The broadcast forms the kernel reads without materialising them (per class, scalar),
    and the materialised one (varies along the batch), against PyTorch's broadcasting."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    weight = None if weight_form is None else WEIGHT_FORMS[weight_form](rng, shape).astype(dtype)
    pos_weight = (None if pos_weight_form is None
                  else WEIGHT_FORMS[pos_weight_form](rng, shape).astype(dtype) * 2)
    assert_bce_matches_torch(x, t, weight, pos_weight, reduction, dtype, loss_atol_scales=True)
