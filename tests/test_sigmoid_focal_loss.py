"""sigmoid_focal_loss: what tests/test_regression_losses.py (every registry entry, its
conventions, the float64 reference, PyTorch's double backward) does not cover of a
classification loss with an element weight.

Oracles independent of the package: torchvision's formula written here in PyTorch (autograd
for the gradient, double backward for the Hessian diagonal), the same formula in float64
NumPy with central differences, and sigmoid_binary_cross_entropy for gamma = 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _core, _reference

try:  # a peer: only the PyTorch comparisons need it
    import torch
except ImportError:  # pragma: no cover - exercised without the peers extra
    torch = None

GAMMAS = (0.0, 0.5, 1.0, 2.0, 3.5)
ALPHAS = (0.25, -1.0, 0.8)


def torchvision_sigmoid_focal_loss(inputs, targets, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss(reduction="none"), line for line (torchvision is
    not installed here)."""
    F = torch.nn.functional
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def numpy_focal_loss(x, t, alpha, gamma):
    """The same formula in float64 NumPy, for moderate logits (1 - p_t as written)."""
    p = 1.0 / (1.0 + np.exp(-x))
    ce = np.maximum(x, 0.0) - x * t + np.log1p(np.exp(-np.abs(x)))
    p_t = p * t + (1.0 - p) * (1.0 - t)
    loss = ce * (1.0 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1.0 - alpha) * (1.0 - t)) * loss
    return loss


def inputs(shape, dtype, seed=0, scale=3.0):
    """Logits ~ N(0, scale^2); targets: hard 0/1 and soft values in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, scale, shape)
    t = np.where(rng.random(shape) < 0.6, rng.random(shape) < 0.5, rng.random(shape))
    return x.astype(dtype), t.astype(dtype)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torchvision_autograd_and_double_backward(alpha, gamma, dtype):
    if torch is None:
        pytest.skip("PyTorch (the peers extra) is not installed")
    x, t = inputs((40, 9), dtype, seed=1)
    weight = np.random.default_rng(2).uniform(0.2, 2.0, 9).astype(dtype)
    sample_weight = np.random.default_rng(3).uniform(0.5, 1.5, 40)
    xt = torch.tensor(x, requires_grad=True)
    per_element = (torchvision_sigmoid_focal_loss(xt, torch.tensor(t), alpha, gamma)
                   * torch.tensor(weight) * torch.tensor(sample_weight[:, None].astype(dtype)))
    mean = per_element.sum() / (x.shape[1] * sample_weight.sum())
    (grad,) = torch.autograd.grad(mean, xt, create_graph=True)
    (hess,) = torch.autograd.grad(grad.sum(), xt)  # elementwise: the diagonal
    loss, g, h = fusedloss.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, weight=weight,
                                              sample_weight=sample_weight, return_hessian=True)
    rtol = 2e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(float(loss), mean.item(), rtol=rtol)
    for got, want in ((g, grad), (h, hess)):
        want = want.detach().numpy()
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
    none = fusedloss.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, weight=weight,
                                        sample_weight=sample_weight, reduction="none")
    np.testing.assert_allclose(none, per_element.detach().numpy(), rtol=rtol,
                               atol=rtol * float(per_element.detach().abs().max()))


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_matches_float64_numpy_and_its_central_differences(alpha, gamma):
    x, t = inputs((500,), np.float64, seed=4)
    x = np.where(np.abs(x) < 1e-3, 0.1, x)  # ce's kink-free, but keep h away from x = 0
    loss, grad, hess = fusedloss.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma,
                                                    reduction="none", return_hessian=True)
    np.testing.assert_allclose(loss, numpy_focal_loss(x, t, alpha, gamma), rtol=1e-12, atol=1e-15)
    h = 1e-5
    numeric_grad = (numpy_focal_loss(x + h, t, alpha, gamma)
                    - numpy_focal_loss(x - h, t, alpha, gamma)) / (2 * h)
    np.testing.assert_allclose(grad, numeric_grad, rtol=1e-7, atol=1e-9)
    h2 = 1e-3  # a second difference: rounding ~ 1e-16 |loss| / h2^2, truncation ~ h2^2
    numeric_hess = (numpy_focal_loss(x + h2, t, alpha, gamma)
                    - 2 * numpy_focal_loss(x, t, alpha, gamma)
                    + numpy_focal_loss(x - h2, t, alpha, gamma)) / h2**2
    np.testing.assert_allclose(hess, numeric_hess, rtol=1e-5, atol=1e-6)
    # and central differences of the kernel's own gradient (the Hessian is its derivative)
    g_plus = fusedloss.sigmoid_focal_loss(x + h, t, alpha=alpha, gamma=gamma, reduction="none",
                                          return_grad=True)[1]
    g_minus = fusedloss.sigmoid_focal_loss(x - h, t, alpha=alpha, gamma=gamma, reduction="none",
                                           return_grad=True)[1]
    np.testing.assert_allclose(hess, (g_plus - g_minus) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gamma_zero_is_binary_cross_entropy(dtype):
    x, t = inputs((30, 6), dtype, seed=5)
    weight = np.random.default_rng(6).uniform(0.5, 2.0, 6).astype(dtype)
    sample_weight = np.random.default_rng(7).uniform(0.5, 2.0, 30)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for reduction in ("mean", "sum", "none"):
        kw = dict(weight=weight, sample_weight=sample_weight, reduction=reduction,
                  return_hessian=True)
        focal = fusedloss.sigmoid_focal_loss(x, t, alpha=-1.0, gamma=0.0, **kw)
        bce = fusedloss.sigmoid_binary_cross_entropy(x, t, **kw)
        for got, want in zip(focal, bce):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())
        # alpha >= 0 is BCE with the element weight alpha_t
        alpha_t = (0.3 * t + 0.7 * (1 - t)).astype(dtype)
        focal = fusedloss.sigmoid_focal_loss(x, t, alpha=0.3, gamma=0.0, **kw)
        bce = fusedloss.sigmoid_binary_cross_entropy(x, t, **dict(kw, weight=weight * alpha_t))
        for got, want in zip(focal, bce):
            np.testing.assert_allclose(got, want, rtol=4 * rtol, atol=4 * rtol * np.abs(want).max())


def test_negative_alpha_disables_the_alpha_weighting():
    x, t = inputs((200,), np.float64, seed=8)
    for gamma in GAMMAS:
        off = fusedloss.sigmoid_focal_loss(x, t, alpha=-0.5, gamma=gamma, reduction="none",
                                           return_hessian=True)
        half = fusedloss.sigmoid_focal_loss(x, t, alpha=0.5, gamma=gamma, reduction="none",
                                            return_hessian=True)  # alpha_t = 1/2 for any t
        for got, want in zip(off, half):
            np.testing.assert_allclose(got, 2 * want, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("shape,weight", [
    ((8, 5), np.linspace(0.5, 2.0, 5)),                      # per class
    ((8, 5), np.float64(1.7)),                               # scalar
    ((8, 5), 2.5),                                           # Python scalar
    ((8, 5), np.arange(40.0).reshape(8, 5) / 10),            # full
    ((8, 5), np.linspace(0.0, 1.0, 8)[:, None]),             # per sample (varies along axis 0)
    ((3, 4, 5), np.linspace(-1.0, 1.0, 20).reshape(4, 5)),   # the trailing axes, negative too
    ((3, 4, 5), np.linspace(0.5, 1.5, 4)[:, None]),          # a middle axis
    ((1500, 3), np.linspace(0.5, 1.5, 3)),                   # past the kernel's 1024-entry pattern
    ((2001,), np.linspace(0.5, 1.5, 2001)),                  # 1-d, one weight per element
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_weight_broadcasts_and_multiplies_each_element(shape, weight, dtype, weighted):
    x, t = inputs(shape, dtype, seed=9)
    sample_weight = np.random.default_rng(10).uniform(0.5, 1.5, shape[0]) if weighted else None
    full = np.broadcast_to(np.asarray(weight, dtype), shape)
    plain = fusedloss.sigmoid_focal_loss(x, t, sample_weight=sample_weight, reduction="none",
                                         return_hessian=True)
    got = fusedloss.sigmoid_focal_loss(x, t, weight=weight, sample_weight=sample_weight,
                                       reduction="none", return_hessian=True)
    # The weight multiplies the loss in float64 and the gradient, Hessian in the dtype: the
    # same products as weight * (the unweighted result) up to one rounding.
    rtol = 4e-7 if dtype == np.float32 else 1e-15
    for weighted_part, part in zip(got, plain):
        np.testing.assert_allclose(weighted_part, full * part, rtol=rtol, atol=0)
    # a materialised weight gives the same bits per element (the kernel reads a periodic one)
    materialised = fusedloss.sigmoid_focal_loss(x, t, weight=np.ascontiguousarray(full),
                                                sample_weight=sample_weight, reduction="none",
                                                return_hessian=True)
    assert [a.tobytes() for a in materialised] == [a.tobytes() for a in got]
    # "mean" divides by the element count (K sum(sample_weight)), not by the weights' sum
    total = fusedloss.sigmoid_focal_loss(x, t, weight=weight, sample_weight=sample_weight,
                                         reduction="sum")
    mean = fusedloss.sigmoid_focal_loss(x, t, weight=weight, sample_weight=sample_weight)
    count = x.size if sample_weight is None else sample_weight.sum() * (x.size // shape[0])
    np.testing.assert_allclose(float(mean), float(total) / count,
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
    value, g, h = _reference.elementwise_loss(
        _reference.sigmoid_focal_terms, x, t, (0.25, 2.0), weight=full.astype(np.float64),
        sample_weight=sample_weight, reduction="mean", return_grad=True, return_hessian=True)
    loss, grad, hess = fusedloss.sigmoid_focal_loss(x, t, weight=weight,
                                                    sample_weight=sample_weight,
                                                    return_hessian=True)
    rtol = 2e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(float(loss), value, rtol=rtol)
    np.testing.assert_allclose(grad, g, rtol=rtol, atol=rtol * np.abs(g).max())
    np.testing.assert_allclose(hess, h, rtol=rtol, atol=rtol * np.abs(h).max())


def test_weight_on_the_numpy_backend_matches_the_kernels():
    x, t = inputs((20, 6), np.float64, seed=11)
    kw = dict(weight=np.linspace(0.5, 2.0, 6), sample_weight=np.linspace(1.0, 2.0, 20),
              gamma=1.5, alpha=0.6, return_hessian=True)
    for reduction in ("mean", "sum", "none"):
        native = fusedloss.sigmoid_focal_loss(x, t, reduction=reduction, **kw)
        previous = fusedloss.get_backend()
        fusedloss.set_backend("numpy")
        try:
            reference = fusedloss.sigmoid_focal_loss(x, t, reduction=reduction, **kw)
        finally:
            fusedloss.set_backend(previous)
        for got, want in zip(native, reference):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_are_exact_and_never_nan(gamma, dtype):
    """Logits of +-1e4 (exp(-1e4) underflows): the loss is its limit, (1 - alpha) x for a
    negative predicted positive, 0 for a right prediction; gradient and Hessian the limits."""
    alpha = 0.25
    x = np.array([1e4, -1e4, 1e4, -1e4, 1e3, -1e3, 750.0, -750.0, 100.0, -100.0], dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.5, 0.3], dtype)
    loss, grad, hess = fusedloss.sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma,
                                                    reduction="none", return_hessian=True)
    value, g, h = _reference.elementwise_loss(_reference.sigmoid_focal_terms, x, t,
                                              (alpha, gamma), reduction="none", return_grad=True,
                                              return_hessian=True)
    for part in (loss, grad, hess, value, g, h):
        assert np.all(np.isfinite(part))
    np.testing.assert_array_equal(loss[:4], np.array([0.75e4, 0.25e4, 0.0, 0.0], dtype))
    np.testing.assert_array_equal(grad[:4], np.array([0.75, -0.25, 0.0, 0.0], dtype))
    np.testing.assert_array_equal(hess[:6], np.zeros(6, dtype))
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    for got, want in ((loss, value), (grad, g), (hess, h)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-30)


OFFSETS = (0.0, 1e2, -1e2, 1e4, -1e4, 1e6, -1e6, 1e8, -1e8)


# Bounds in float32 units (max(ulp of the float64 result, 2^-23): test_offset_accuracy.py's unit,
# scale 1 as BCE's). The loss is ce (BCE's bound, 4 units) times q^gamma, which carries gamma
# times the ~2 units of q (two sigmoids' roundings): 4 + 2 gamma; the gradient 4 + gamma.
# Measured worst over the offsets below, every ISA: loss 3.2, 4.2, 4.5, 4.9, 6.5 units and
# gradient 0.9, 1.2, 1.7, 2.4, 3.7 units at gamma 0, 0.5, 1, 2, 3.5.
def loss_units_bound(gamma):
    return 4.0 + 2.0 * gamma


def grad_units_bound(gamma):
    return 4.0 + gamma


def float32_units(got, expected):
    expected = np.asarray(expected, np.float64)
    unit = np.maximum(np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64), 2.0**-23)
    return np.abs(np.asarray(got, np.float64) - expected) / unit


@pytest.mark.parametrize("gamma", GAMMAS)
def test_float32_accuracy_at_any_offset(gamma):
    """SPEC "Accuracy at any offset": logits u + offset (u ~ N(0, 3^2)) in float32; the loss
    and gradient agree with the float64 computation on the same float32 inputs within a few
    float32 units of the result; no NaN where that is finite."""
    for offset in OFFSETS:
        x, t = inputs((64, 33), np.float64, seed=12)
        x = (x + offset).astype(np.float32)
        t = t.astype(np.float32)
        loss, grad = fusedloss.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none",
                                                  return_grad=True)
        value, g, _ = _reference.elementwise_loss(
            _reference.sigmoid_focal_terms, x, t, (0.25, gamma), reduction="none",
            return_grad=True)
        assert np.isfinite(value).all() and np.isfinite(g).all()
        assert float32_units(loss, value).max() <= loss_units_bound(gamma), offset
        assert float32_units(grad, g).max() <= grad_units_bound(gamma), offset


def test_targets_outside_zero_one_follow_pow():
    """Targets are not range checked (as BCE's): q = 1 - p_t may be negative; an integer gamma
    takes it as pow does, a fractional one gives NaN, as the float64 reference (and torch)."""
    x = np.array([2.0, 2.0, -1.0])
    t = np.array([2.0, -1.0, 1.5])
    for gamma in (1.0, 2.0, 3.0, 0.5):
        loss, grad, hess = fusedloss.sigmoid_focal_loss(x, t, gamma=gamma, reduction="none",
                                                        return_hessian=True)
        value, g, h = _reference.elementwise_loss(_reference.sigmoid_focal_terms, x, t,
                                                  (0.25, gamma), reduction="none",
                                                  return_grad=True, return_hessian=True)
        for got, want in ((loss, value), (grad, g), (hess, h)):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            finite = ~np.isnan(want)
            np.testing.assert_allclose(got[finite], want[finite], rtol=1e-13)
        assert np.isnan(loss).any() == (gamma == 0.5)


@pytest.mark.isa_independent
def test_bad_arguments():
    x = np.zeros((5, 4))
    with pytest.raises(ValueError, match=r"^gamma: expected a finite number >= 0, got -1$"):
        fusedloss.sigmoid_focal_loss(x, x, gamma=-1)
    with pytest.raises(ValueError, match=r"^gamma: expected a finite number >= 0, got inf$"):
        fusedloss.sigmoid_focal_loss(x, x, gamma=float("inf"))
    with pytest.raises(ValueError, match=r"^alpha: expected a finite number, got nan$"):
        fusedloss.sigmoid_focal_loss(x, x, alpha=float("nan"))
    with pytest.raises(TypeError, match="gamma: expected a real number, got str"):
        fusedloss.sigmoid_focal_loss(x, x, gamma="2")
    with pytest.raises(ValueError, match=r"weight: expected a shape that broadcasts to the "
                                         r"logits' shape \(5, 4\), got \(5,\)"):
        fusedloss.sigmoid_focal_loss(x, x, weight=np.ones(5))
    with pytest.raises(ValueError, match="weight: expected finite values, got NaN or inf"):
        fusedloss.sigmoid_focal_loss(x, x, weight=np.array([1.0, np.inf, 1.0, 1.0]))
    with pytest.raises(TypeError, match="weight: expected a real numeric array, got dtype complex"):
        fusedloss.sigmoid_focal_loss(x, x, weight=np.ones(4, complex))
    with pytest.raises(TypeError, match="unexpected keyword argument 'pos_weight'"):
        fusedloss.sigmoid_focal_loss(x, x, pos_weight=np.ones(4))
    out = np.zeros((5, 4))
    with pytest.raises(ValueError, match="out: overlaps another input array"):
        fusedloss.sigmoid_focal_loss(x, x.copy(), weight=out[0], return_grad=True, out=out)


@pytest.mark.isa_independent
def test_the_binding_checks_the_weight():
    x = np.zeros(8)
    call = _core.elementwise_loss
    args = ((0.25, 2.0), None, 8, 2, True, False, None, None, 1)
    with pytest.raises(ValueError, match="weight: the loss 'huber_loss' takes no element weight"):
        call("huber_loss", x, x, np.ones(8), None, (1.0,), *args[1:])
    with pytest.raises(TypeError, match="weight: expected the dtype of prediction"):
        call("sigmoid_focal_loss", x, x, np.ones(8, np.float32), None, *args)
    with pytest.raises(ValueError, match="weight: expected a C-contiguous array"):
        call("sigmoid_focal_loss", x, x, np.ones(16)[::2], None, *args)
    with pytest.raises(ValueError, match="weight: expected at least one entry"):
        call("sigmoid_focal_loss", x, x, np.ones(0), None, *args)
    buffer = np.zeros(8)
    with pytest.raises(ValueError, match="overlap"):
        call("sigmoid_focal_loss", x, x, buffer, None, (0.25, 2.0), None, 8, 2, True, False, buffer,
             None, 1)
    # the element parameter (BCE's pos_weight): only for a loss that takes one, checked alike
    with pytest.raises(ValueError, match="element_parameter: the loss 'sigmoid_focal_loss' takes none"):
        call("sigmoid_focal_loss", x, x, None, np.ones(8), *args)
    bce = ((), None, 8, 2, True, False, None, None, 1)
    with pytest.raises(TypeError, match="element_parameter: expected the dtype of prediction"):
        call("sigmoid_binary_cross_entropy", x, x, None, np.ones(8, np.float32), *bce)
    with pytest.raises(ValueError, match="element_parameter: expected at least one entry"):
        call("sigmoid_binary_cross_entropy", x, x, None, np.ones(0), *bce)
    with pytest.raises(ValueError, match="overlap"):
        call("sigmoid_binary_cross_entropy", x, x, None, buffer, (), None, 8, 2, True, False,
             buffer, None, 1)
