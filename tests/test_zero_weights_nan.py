"""SPEC "Zero weights and NaN (decided, turn 2)": a weight of 0 (weight[y_i], sample_weight[i],
a soft-target row of zeros, BCE weight / pos_weight) multiplies, so a row (element) holding
NaN or +-inf whose unweighted loss is NaN or infinite keeps a NaN loss, and a NaN gradient
stays NaN: PyTorch's rule. ignore_index rows are excluded and add nothing. Both backends follow
it; checked against torch (float64, autograd) where torch has the same loss.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss

torch = pytest.importorskip("torch")
F = torch.nn.functional

BACKENDS = ["native", "numpy"]
DTYPES = [np.float32, np.float64]
NAN, INF = np.nan, np.inf
# rows: NaN, +inf, a finite row, -inf at the label (masked class), all -inf, a plain row
LOGITS = np.array([
    [NAN, 1.0, 2.0, 0.5],
    [INF, 0.0, 1.0, -1.0],
    [0.3, -1.2, 2.0, 0.1],
    [-INF, 0.0, 1.0, 2.0],
    [-INF, -INF, -INF, -INF],
    [1.0, 2.0, 3.0, 4.0],
])
LABELS = np.array([0, 1, 2, 0, 1, 3])
ROWS, C = LOGITS.shape


def same(actual, expected, dtype):
    """Equal NaN pattern and infinities; finite values within the dtype's tolerance."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol, equal_nan=True)


def torch_reference(loss_of, x, row_weight=None):
    """(per-row loss, gradient of sum(loss)) in float64 with autograd, times row weights."""
    tensor = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    loss = loss_of(tensor)
    if row_weight is not None:
        shape = (-1,) + (1,) * (loss.dim() - 1)
        loss = loss * torch.tensor(row_weight, dtype=torch.float64).reshape(shape)
    loss.sum().backward()
    return loss.detach().numpy(), tensor.grad.numpy()


def call(backend, function, *args, **kwargs):
    fusedloss.set_backend(backend)
    try:
        return function(*args, **kwargs)
    finally:
        fusedloss.set_backend("native")


def same_gradient(actual, expected, x, dtype):
    """`same`, except in a softmax row holding +inf: torch's max-shift makes all of it NaN,
    the float64 reference (our oracle) only the +inf entries (exp(inf) / inf)."""
    rows = np.asarray(x).reshape(-1, np.shape(x)[-1])
    plus_inf = (rows == np.inf).any(axis=1) & (np.shape(x)[-1] > 1)
    actual = np.asarray(actual).reshape(rows.shape)
    expected = np.asarray(expected).reshape(rows.shape)
    same(actual[~plus_inf], expected[~plus_inf], dtype)
    assert np.isnan(actual[plus_inf][rows[plus_inf] == np.inf]).all()


def check_all_reductions(backend, dtype, function, x, args, kwargs, expected_loss, expected_grad,
                         denominator, softmax_rows=False):
    x = x.astype(dtype)
    check_grad = (lambda a, e: same_gradient(a, e, x, dtype)) if softmax_rows else (
        lambda a, e: same(a, e, dtype))
    loss, grad = call(backend, function, x, *args, reduction="none", return_grad=True, **kwargs)
    same(loss, expected_loss, dtype)
    check_grad(grad, expected_grad)
    total, grad_sum = call(backend, function, x, *args, reduction="sum", return_grad=True, **kwargs)
    same(total, np.sum(expected_loss), dtype)
    check_grad(grad_sum, expected_grad)
    mean, grad_mean = call(backend, function, x, *args, reduction="mean", return_grad=True, **kwargs)
    same(mean, np.sum(expected_loss) / denominator, dtype)
    check_grad(grad_mean, expected_grad / denominator)
    assert np.isnan(mean) == np.isnan(np.sum(expected_loss))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_softmax_ce_zero_class_weight_matches_torch(backend, dtype, smoothing):
    weight = np.array([0.0, 0.0, 1.5, 0.0])  # w[y] = 0 on every non-finite row, 1.5 / 0 elsewhere
    expected_loss, expected_grad = torch_reference(
        lambda t: F.cross_entropy(t, torch.tensor(LABELS), weight=torch.tensor(weight),
                                  label_smoothing=smoothing, reduction="none"), LOGITS)
    assert np.isnan(expected_loss[[0, 1]]).all()  # the rule, as torch computes it
    check_all_reductions(backend, dtype, fusedloss.softmax_cross_entropy, LOGITS, (LABELS,),
                         dict(weight=weight, label_smoothing=smoothing), expected_loss,
                         expected_grad, weight[LABELS].sum(), softmax_rows=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2}, {"z_loss": 0.01}],
                         ids=["plain", "smoothing", "z_loss"])
def test_softmax_ce_zero_sample_weight(backend, dtype, options):
    sample_weight = np.array([0.0, 0.0, 2.0, 0.0, 0.0, 1.0])
    z = options.get("z_loss", 0.0)

    def loss_of(t):
        per_row = F.cross_entropy(t, torch.tensor(LABELS), reduction="none",
                                  label_smoothing=options.get("label_smoothing", 0.0))
        return per_row + z * torch.logsumexp(t, dim=1) ** 2 if z else per_row

    expected_loss, expected_grad = torch_reference(loss_of, LOGITS, sample_weight)
    assert np.isnan(expected_loss[[0, 1, 3, 4]]).all()  # 0 * NaN, 0 * inf
    check_all_reductions(backend, dtype, fusedloss.softmax_cross_entropy, LOGITS, (LABELS,),
                         dict(sample_weight=sample_weight, **options), expected_loss,
                         expected_grad, sample_weight.sum(), softmax_rows=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_ce_soft_targets_zero_weight(backend, dtype):
    # sample_weight 0 on rows with NaN / inf: NaN (torch: soft-target cross_entropy times 0)
    targets = np.full((ROWS, C), 0.25)
    sample_weight = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.5])
    rows = [0, 1, 2, 5]  # torch has no 0 log 0 = 0: leave out the -inf rows for it
    expected_loss, expected_grad = torch_reference(
        lambda t: F.cross_entropy(t, torch.tensor(targets[rows]), reduction="none"),
        LOGITS[rows], sample_weight[rows])
    assert np.isnan(expected_loss[:2]).all()
    for reduction in ("none", "sum"):
        loss, grad = call(backend, fusedloss.softmax_cross_entropy, LOGITS.astype(dtype),
                          targets.astype(dtype), sample_weight=sample_weight, reduction=reduction,
                          return_grad=True)
        if reduction == "none":
            same(loss[rows], expected_loss, dtype)
            assert np.isnan(loss[4])  # all -inf: lse = -inf, 0 * NaN
            assert np.isinf(loss[3])  # a target on a masked class, weight 1: inf
        else:
            assert np.isnan(loss)
        same_gradient(grad[rows], expected_grad, LOGITS[rows], dtype)
    # a soft-target row of zeros is a weight of 0: NaN where the log-normaliser is not
    # finite (NaN, +inf, all -inf rows); 0 where the row is finite, -inf entries included
    zero_targets = np.zeros((ROWS, C), dtype=dtype)
    loss, grad = call(backend, fusedloss.softmax_cross_entropy, LOGITS.astype(dtype),
                      zero_targets, reduction="none", return_grad=True)
    np.testing.assert_array_equal(np.isnan(loss), [True, True, False, False, True, False])
    np.testing.assert_array_equal(loss[[2, 3, 5]], 0.0)
    assert np.isnan(grad[[0, 4]]).all() and np.isnan(grad[1, 0]) and (grad[[2, 3, 5]] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_ce_ignore_index_rows_add_nothing(backend, dtype):
    labels = np.where(np.isfinite(LOGITS).all(axis=1), LABELS, -100)
    weight = np.array([0.5, 1.0, 2.0, 1.0])
    expected_loss, expected_grad = torch_reference(
        lambda t: F.cross_entropy(t, torch.tensor(labels), weight=torch.tensor(weight),
                                  reduction="none"), LOGITS)
    assert np.isfinite(expected_loss).all() and (expected_loss[labels == -100] == 0).all()
    check_all_reductions(backend, dtype, fusedloss.softmax_cross_entropy, LOGITS, (labels,),
                         dict(weight=weight), expected_loss, np.nan_to_num(expected_grad),
                         weight[labels[labels != -100]].sum())
    loss, grad = call(backend, fusedloss.softmax_cross_entropy, LOGITS.astype(dtype), labels,
                      weight=weight, reduction="none", return_grad=True)
    assert (grad[labels == -100] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("squared", [False, True])
def test_hinge_zero_weights(backend, dtype, squared):
    weight = np.array([0.0, 0.0, 1.5, 0.0])
    sample_weight = np.array([0.0, 0.0, 2.0, 0.0, 0.0, 1.0])
    # torch's multi_margin_loss is this loss / C, p=2 the squared terms; its weight[y] scales
    expected_loss, expected_grad = torch_reference(
        lambda t: C * F.multi_margin_loss(t, torch.tensor(LABELS), p=2 if squared else 1,
                                          weight=torch.tensor(weight), reduction="none"),
        LOGITS, sample_weight)
    loss, grad = call(backend, fusedloss.multiclass_hinge, LOGITS.astype(dtype), LABELS,
                      weight=weight, sample_weight=sample_weight, squared=squared,
                      reduction="none", return_grad=True)
    # torch's hinge skips a NaN term (its `z > 0` test is false for NaN): a NaN row is 0 there,
    # NaN in the float64 NumPy formula (np.maximum propagates NaN), times 0 still NaN. Rows 1
    # and 3 have an infinite term: 0 * inf is NaN in both.
    no_nan_term = [1, 2, 3, 5]
    same(loss[no_nan_term], expected_loss[no_nan_term], dtype)
    np.testing.assert_array_equal(np.isnan(loss), [True, True, False, True, True, False])
    finite_rows = np.isfinite(expected_grad).all(axis=1) & np.isfinite(LOGITS).all(axis=1)
    same(grad[finite_rows], expected_grad[finite_rows], dtype)
    assert np.isnan(call(backend, fusedloss.multiclass_hinge, LOGITS.astype(dtype), LABELS,
                         weight=weight, sample_weight=sample_weight, reduction="sum"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_zero_weights_match_torch(backend, dtype):
    x = LOGITS[:3]
    targets = np.array([[1.0, 0.0, 0.5, 1.0], [0.0, 1.0, 1.0, 0.0], [0.2, 0.4, 0.6, 0.8]])
    weight = np.array([0.0, 1.0, 0.0, 2.0])
    pos_weight = np.array([0.0, 3.0, 0.5, 0.0])
    sample_weight = np.array([0.0, 0.0, 1.0])
    expected_loss, expected_grad = torch_reference(
        lambda t: F.binary_cross_entropy_with_logits(
            t, torch.tensor(targets), weight=torch.tensor(weight),
            pos_weight=torch.tensor(pos_weight), reduction="none"), x, sample_weight)
    assert np.isnan(expected_loss[0, 0]) and np.isnan(expected_loss[1, 0])  # 0 * NaN, 0 * inf
    check_all_reductions(backend, dtype, fusedloss.sigmoid_binary_cross_entropy, x, (targets,),
                         dict(weight=weight, pos_weight=pos_weight, sample_weight=sample_weight),
                         expected_loss, expected_grad, sample_weight.sum() * C)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mse_zero_sample_weight_matches_torch(backend, dtype):
    x = LOGITS[:3]
    target = np.full(x.shape, 0.5)
    sample_weight = np.array([0.0, 0.0, 1.0])
    expected_loss, expected_grad = torch_reference(
        lambda t: F.mse_loss(t, torch.tensor(target), reduction="none"), x, sample_weight)
    assert np.isnan(expected_loss[0, 0]) and np.isnan(expected_loss[1, 0])
    check_all_reductions(backend, dtype, fusedloss.mean_squared_error, x, (target,),
                         dict(sample_weight=sample_weight), expected_loss, expected_grad,
                         sample_weight.sum() * C)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_zero_sample_weight(backend, dtype):
    probs = np.array([[NAN, 0.2, 0.3, 0.5], [INF, 0.1, 0.1, 0.8], [0.1, 0.2, 0.3, 0.4]])
    labels = np.array([0, 0, 2])
    sample_weight = np.array([0.0, 0.0, 1.0])
    eps = 1e-7
    expected_loss, expected_grad = torch_reference(
        lambda t: -torch.log(t + eps)[torch.arange(3), torch.tensor(labels)], probs,
        sample_weight)
    assert np.isnan(expected_loss[:2]).all()  # 0 * NaN, 0 * (-log(inf)) = 0 * -inf
    check_all_reductions(backend, dtype, fusedloss.cross_entropy, probs, (labels,),
                         dict(sample_weight=sample_weight, eps=eps), expected_loss,
                         expected_grad, sample_weight.sum())
