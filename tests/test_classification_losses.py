"""Every row-wise loss of the registry (fusedloss._classification.ROW_LOSSES: softmax
cross-entropy with its options, the focal and distillation losses, the multiclass hinge, the
cross-entropy of probabilities), with every convention of the classification losses, against independent
oracles: finite differences of the float64 reference, PyTorch's formulas with autograd (double
backward for the Hessian diagonal), known values, and softmax_cross_entropy itself (the focal
loss at gamma 0, bit for bit).

A new row-wise loss gets these by its registry entry; its `examples` are the parameter values
swept here, in each form of its second operand (labels, or labels and soft targets)."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _core
from fusedloss._classification import ROW_LOSSES

try:  # a peer: only the PyTorch comparisons need it (CI installs it; without it they skip)
    import torch
except ImportError:  # pragma: no cover - exercised without the peers extra
    torch = None

class Form:
    """One registry entry with its second operand in one form: labels, or rows of targets (a
    teacher's logits; the soft targets of an entry whose labels may be soft)."""

    def __init__(self, entry, soft=False):
        self.entry, self.soft = entry, soft
        self.takes_labels = entry.takes_labels and not soft
        self.function = entry.function
        self.name = entry.name + (" (soft)" if soft else "")

    def __getattr__(self, name):
        return getattr(self.entry, name)

    @property
    def takes_class_weight(self):
        return self.takes_labels and self.entry.class_weight

    @property
    def takes_ignore_index(self):
        return self.takes_labels and self.entry.ignores


FORMS = [Form(entry, soft) for entry in ROW_LOSSES.values()
         for soft in ((False, True) if entry.soft_kernel is not None else (False,))]
CASES = [pytest.param(form, parameters, id=f"{form.name}{list(parameters)}")
         for form in FORMS for parameters in form.examples]
LABEL_CASES = [case for case in CASES if case.values[0].takes_labels]
# The offset and huge-logit checks: losses of logits (not of probabilities).
LOGIT_CASES = [case for case in CASES if not case.values[0].probabilities]


def keywords(entry, parameters):
    return {p.name: p.public(value) for p, value in zip(entry.parameters, parameters)}


def inputs(entry, shape, dtype, seed=0, offset=0.0, scale=2.0):
    """(first operand, second operand): logits (or rows of probabilities), and labels with an
    ignored row where the loss ignores one, or a teacher's logits, or soft targets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * scale + offset
    if entry.probabilities:
        x = np.exp(x - x.max(axis=-1, keepdims=True))
        x /= x.sum(axis=-1, keepdims=True)
    if entry.takes_labels:
        second = rng.integers(0, shape[-1], size=shape[:-1])
        if second.size > 2 and entry.takes_ignore_index:
            second.reshape(-1)[1] = -100  # an ignored row
    elif entry.soft:
        second = rng.uniform(0.0, 1.0, shape) * (rng.random(shape) < 0.7)  # some t_j = 0
        second = (second / np.maximum(second.sum(axis=-1, keepdims=True), 1e-300)).astype(dtype)
    else:
        second = (rng.standard_normal(shape) * scale + offset).astype(dtype)
    return x.astype(dtype), second


def reference(entry, parameters, x, second, *, weight=None, sample_weight=None, **options):
    operand = second if entry.takes_labels else second.astype(np.float64)
    return entry.entry.run_reference(
        x.astype(np.float64), operand, parameters, soft=entry.soft, weight=weight,
        sample_weight=sample_weight, ignore_index=-100 if entry.takes_ignore_index else None,
        **options)


def tolerance(dtype):
    return dict(rtol=3e-5, atol=3e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-13)


def close(actual, expected, dtype):
    expected = np.asarray(expected)
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    tol = tolerance(dtype)
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol"] * max(scale, 1.0))


@pytest.mark.parametrize("entry,parameters", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(37, 5), (9, 17), (2, 3, 33), (6, 1), (5, 600)])
def test_matches_the_float64_reference(entry, parameters, dtype, reduction, weighted, shape):
    """Loss, gradient and Hessian diagonal; C = 1, C not a multiple of any vector width, C over
    the kernels' 256-element pieces, two batch axes, per-class and per-row weights."""
    x, second = inputs(entry, shape, dtype, seed=sum(shape))
    rng = np.random.default_rng(1)
    options = {}
    if weighted:
        options["sample_weight"] = rng.uniform(0.2, 2.0, int(np.prod(shape[:-1])))
        if entry.takes_class_weight:
            options["weight"] = rng.uniform(0.2, 2.0, shape[-1])
    kw = keywords(entry, parameters)
    loss, grad, hess = entry.function(x, second, reduction=reduction, return_hessian=True, **options, **kw)
    value, g, h = reference(entry, parameters, x, second, reduction=reduction, return_hessian=True, **options)
    assert grad.dtype == hess.dtype == dtype and grad.shape == hess.shape == x.shape
    close(loss, value, dtype)
    close(grad, g, dtype)
    close(hess, h, dtype)


@pytest.mark.isa_independent
@pytest.mark.parametrize("entry,parameters", CASES)
def test_reference_gradient_and_hessian_are_the_derivatives(entry, parameters):
    """The oracle itself: central differences of the float64 reference loss (the gradient) and
    of its gradient (the Hessian diagonal)."""
    x, second = inputs(entry, (4, 6), np.float64, seed=3, scale=1.0)
    if entry.takes_labels:
        second = second.copy()
        second[1] = 2  # no ignored row here
    value, g, h = reference(entry, parameters, x, second, reduction="sum", return_hessian=True)
    step = 1e-6 if entry.probabilities else 1e-5  # (probabilities: 1/p^2 curvature near small p)
    numeric_g = np.zeros_like(x)
    numeric_h = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        f_up, g_up, _ = reference(entry, parameters, up, second, reduction="sum", return_grad=True)
        f_down, g_down, _ = reference(entry, parameters, down, second, reduction="sum", return_grad=True)
        numeric_g[index] = (f_up - f_down) / (2 * step)
        numeric_h[index] = (g_up[index] - g_down[index]) / (2 * step)  # of the gradient
    np.testing.assert_allclose(g, numeric_g, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h, numeric_h, rtol=1e-6, atol=1e-8)


@pytest.mark.skipif(torch is None, reason="needs PyTorch (the peers extra)")
@pytest.mark.parametrize("entry,parameters", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch_and_its_double_backward(entry, parameters, dtype):
    """torch's formula (torchvision-style focal, F.kl_div on log-softmaxes with
    log_target=True): per-row losses, autograd's gradient, and the Hessian diagonal from a
    second backward pass (row r's losses depend on row r only, so one backward of each column
    gives that column's diagonal)."""
    x, second = inputs(entry, (7, 9), dtype, seed=5)
    if entry.takes_labels:
        second = second.copy()
        second[1] = 4
    loss, grad, hess = entry.function(x, second, reduction="none", return_hessian=True,
                                      **keywords(entry, parameters))
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    other = torch.tensor(second) if entry.takes_labels else torch.tensor(second.astype(np.float64))
    per_row = entry.torch(torch.nn.functional, xt, other, *parameters)
    (first,) = torch.autograd.grad(per_row.sum(), xt, create_graph=True)
    if first.requires_grad:
        diagonal = np.stack([torch.autograd.grad(first[:, j].sum(), xt, retain_graph=True)[0][:, j].numpy()
                             for j in range(x.shape[1])], axis=1)
    else:  # a piecewise linear loss (the plain hinge): autograd's gradient is a constant
        diagonal = np.zeros(x.shape)
    close(loss, per_row.detach().numpy(), dtype)
    close(grad, first.detach().numpy(), dtype)
    close(hess, diagonal, dtype)


@pytest.mark.parametrize("entry,parameters", CASES)
def test_conventions(entry, parameters):
    """threads bitwise; the loss the same bits whatever else is asked for; out pair and out=x
    in place; layouts (Fortran, strided, unaligned, read-only) give the same bits; float16 in,
    float16 out; the numpy backend agrees."""
    kw = keywords(entry, parameters)
    x, second = inputs(entry, (300, 37), np.float32, seed=11)
    w = np.random.default_rng(2).uniform(0.5, 1.5, 300)
    loss_only = entry.function(x, second, sample_weight=w, **kw)
    loss, grad = entry.function(x, second, sample_weight=w, return_grad=True, **kw)
    loss_h, grad_h, hess = entry.function(x, second, sample_weight=w, return_hessian=True, **kw)
    assert loss_only.tobytes() == loss.tobytes() == loss_h.tobytes()
    assert grad.tobytes() == grad_h.tobytes()
    none_only = entry.function(x, second, reduction="none", **kw)
    none_grad = entry.function(x, second, reduction="none", return_grad=True, **kw)[0]
    assert none_only.tobytes() == none_grad.tobytes()
    for threads in (1, 2, 3):
        again = entry.function(x, second, sample_weight=w, return_hessian=True, threads=threads, **kw)
        assert [a.tobytes() for a in again] == [loss.tobytes(), grad.tobytes(), hess.tobytes()]
    g_out, h_out = np.empty_like(x), np.empty_like(x)
    result = entry.function(x, second, sample_weight=w, return_hessian=True, out=(g_out, h_out), **kw)
    assert result[1] is g_out and result[2] is h_out
    assert g_out.tobytes() == grad.tobytes() and h_out.tobytes() == hess.tobytes()
    inplace = x.copy()
    result = entry.function(inplace, second, sample_weight=w, return_hessian=True,
                            out=(inplace, None), **kw)
    assert result[1] is inplace and inplace.tobytes() == grad.tobytes()
    assert result[2].tobytes() == hess.tobytes()
    fortran = np.asfortranarray(x)
    strided = np.zeros((300, 74), np.float32)[:, ::2]
    strided[...] = x
    unaligned = np.zeros(x.nbytes + 1, np.uint8)[1:].view(np.float32).reshape(x.shape)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    readonly = x.copy()
    readonly.flags.writeable = False
    for variant in (fortran, strided, unaligned, readonly):
        assert entry.function(variant, second, sample_weight=w, return_grad=True, **kw)[1].tobytes() == grad.tobytes()
    half = entry.function(x.astype(np.float16),
                          second if entry.takes_labels else second.astype(np.float16),
                          return_hessian=True, **kw)
    assert all(np.asarray(part).dtype == np.float16 for part in half)
    fusedloss.set_backend("numpy")
    try:
        slow = entry.function(x, second, sample_weight=w, return_hessian=True, **kw)
    finally:
        fusedloss.set_backend("native")
    for fast, oracle in zip((loss, grad, hess), slow):
        close(fast, oracle, np.float32)


@pytest.mark.parametrize("entry,parameters", CASES)
def test_empty_and_nothing_to_average(entry, parameters):
    kw = keywords(entry, parameters)
    empty = np.zeros((0, 4))
    second = np.zeros(0, np.int64) if entry.takes_labels else empty
    loss, grad, hess = entry.function(empty, second, return_hessian=True, **kw)
    assert float(loss) == 0.0 and grad.shape == hess.shape == (0, 4)
    x, second = inputs(entry, (3, 4), np.float64)
    loss, grad, hess = entry.function(x, second, sample_weight=np.zeros(3), return_hessian=True, **kw)
    assert float(loss) == 0.0 and not grad.any() and not hess.any()
    if entry.takes_ignore_index:  # every row ignored: 0, not NaN
        loss, grad = entry.function(x, np.full(3, -100), return_grad=True, **kw)
        assert float(loss) == 0.0 and not grad.any()


@pytest.mark.parametrize("entry,parameters", LOGIT_CASES)
@pytest.mark.parametrize("offset", [1e2, -1e4, 1e6, -1e8, 1e8])
def test_float32_at_large_offsets(entry, parameters, offset):
    """Logits u + offset (u ~ N(0, 3^2)): the float32 loss and gradient agree with the float64
    computation on the same float32 inputs to a few float32 ulps of the result (SPEC "Accuracy
    at any offset"), never losing |offset| 2^-24."""
    x, second = inputs(entry, (64, 33), np.float32, seed=13, offset=offset, scale=3.0)
    kw = keywords(entry, parameters)
    loss, grad = entry.function(x, second, reduction="none", return_grad=True, **kw)
    value, g, _ = reference(entry, parameters, x, second, reduction="none", return_grad=True)
    # KL sums q_j (b_j - a_j) terms of size ~ the logits' spread: its error is a few ulps of
    # that sum, not of a small result
    spread = 1.0 if entry.takes_labels else 30.0
    np.testing.assert_allclose(loss, value, rtol=2e-6, atol=4e-7 * spread)
    # KL's gradient is p_j / T - q_j / T, two float32 values of up to 1 / T each: a few of
    # their ulps (the focal gradient's scale is its slope, about 1)
    temperature = dict(zip((p.name for p in entry.parameters), parameters)).get("temperature", 1.0)
    term = 1.0 / temperature
    np.testing.assert_allclose(grad, g, rtol=1e-5, atol=16 * 2.0**-24 * term)


@pytest.mark.parametrize("entry,parameters", LOGIT_CASES)
def test_stable_at_huge_logits(entry, parameters):
    """Logits of size 1e4 (probabilities of exactly 0 and 1 in every format): finite results,
    equal to the float64 reference."""
    for dtype in (np.float32, np.float64):
        x, second = inputs(entry, (40, 11), dtype, seed=17, scale=1e4)
        loss, grad, hess = entry.function(x, second, reduction="none", return_hessian=True,
                                          **keywords(entry, parameters))
        value, g, h = reference(entry, parameters, x, second, reduction="none", return_hessian=True)
        assert np.isfinite(loss).all() and np.isfinite(grad).all() and np.isfinite(hess).all()
        close(loss, value, dtype)
        close(grad, g, dtype)
        close(hess, h, dtype)


@pytest.mark.parametrize("shape", [(64, 10), (33, 3), (8, 5000), (3, 4, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_focal_gamma_zero_is_softmax_cross_entropy_bit_for_bit(shape, dtype):
    x, y = inputs(Form(ROW_LOSSES["softmax_focal_loss"]), shape, dtype, seed=21)
    rng = np.random.default_rng(4)
    options = dict(weight=rng.uniform(0.5, 2, shape[-1]), sample_weight=rng.uniform(0.5, 2, y.size))
    for reduction in ("mean", "sum", "none"):
        focal = fusedloss.softmax_focal_loss(x, y, gamma=0.0, reduction=reduction, return_hessian=True, **options)
        ce = fusedloss.softmax_cross_entropy(x, y, reduction=reduction, return_hessian=True, **options)
        assert [np.asarray(a).tobytes() for a in focal] == [np.asarray(a).tobytes() for a in ce]


def test_focal_known_values_and_limits():
    x = np.array([[3.2, 5.1, -1.7]])
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    for gamma in (0.5, 2.0):
        expected = -((1 - p[0, 1]) ** gamma) * np.log(p[0, 1])
        assert float(fusedloss.softmax_focal_loss(x, [1], gamma=gamma)) == pytest.approx(expected, rel=1e-14)
    # a row the model gets exactly right (p_y = 1 in float64): loss, gradient, Hessian all 0
    loss, grad, hess = fusedloss.softmax_focal_loss(np.array([[0.0, 800.0, 0.0]]), [1], return_hessian=True)
    assert float(loss) == 0.0 and not grad.any() and not hess.any()
    # focusing: a confident correct row weighs less than under cross-entropy
    assert float(fusedloss.softmax_focal_loss(x, [1])) < float(fusedloss.softmax_cross_entropy(x, [1]))


def test_kl_known_values_and_masked_teacher():
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    assert float(fusedloss.softmax_kl_divergence(x, x, reduction="sum")) == 0.0
    # a -inf teacher logit: q_j = 0 adds nothing, also where the student's logit is -inf
    t = np.array([[2.0, -np.inf, 0.5], [1.0, -np.inf, -np.inf]])
    s = np.array([[0.0, -np.inf, 1.0], [0.3, 0.0, -np.inf]])
    for dtype in (np.float32, np.float64):
        loss, grad = fusedloss.softmax_kl_divergence(s.astype(dtype), t.astype(dtype),
                                                     reduction="none", return_grad=True)
        q = np.array([np.exp(2.0) / (np.exp(2.0) + np.exp(0.5)), 0.0, np.exp(0.5) / (np.exp(2.0) + np.exp(0.5))])
        p = np.array([1 / (1 + np.e), 0.0, np.e / (1 + np.e)])
        first = float(np.sum(q[[0, 2]] * np.log(q[[0, 2]] / p[[0, 2]])))
        p2 = np.exp([0.3, 0.0]) / np.exp([0.3, 0.0]).sum()
        second = -np.log(p2[0])  # q = (1, 0, 0)
        np.testing.assert_allclose(loss, [first, second], rtol=1e-6)
        assert np.isfinite(grad).all() and grad[0, 1] == 0.0
    # "mean" is PyTorch's batchmean: the sum over rows / rows
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    assert float(fusedloss.softmax_kl_divergence(a, b)) == pytest.approx(
        float(fusedloss.softmax_kl_divergence(a, b, reduction="sum")) / 5, rel=1e-15)


@pytest.mark.isa_independent
@pytest.mark.parametrize("call,error,message", [
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, gamma=-1.0), ValueError, "gamma: expected a finite number >= 0, got -1.0"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, gamma=float("nan")), ValueError, "gamma: expected"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, gamma="2"), TypeError, "gamma"),
    (lambda x, y, t: fusedloss.softmax_kl_divergence(x, t, temperature=0.0), ValueError, "temperature: expected a finite number > 0, got 0.0"),
    (lambda x, y, t: fusedloss.softmax_kl_divergence(x, t, temperature=float("inf")), ValueError, "temperature"),
    (lambda x, y, t: fusedloss.softmax_kl_divergence(x, t, weight=np.ones(3)), TypeError, "unexpected keyword argument 'weight'"),
    (lambda x, y, t: fusedloss.softmax_kl_divergence(x, t, ignore_index=0), TypeError, "unexpected keyword argument 'ignore_index'"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, alpha=0.5), TypeError, "unexpected keyword argument 'alpha'"),
    (lambda x, y, t: fusedloss.softmax_kl_divergence(x, t[:, :2]), ValueError, "target_logits: expected the shape of logits (4, 3), got (4, 2)"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y.astype(float)), TypeError, "labels: expected integer class indices"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y[:2]), ValueError, "labels: expected shape (4,)"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, weight=np.ones(2)), ValueError, "weight"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, sample_weight=np.ones(3)), ValueError, "sample_weight"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, reduction="meen"), ValueError, "reduction"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(x, y, out=np.empty_like(x)), ValueError, "out"),
    (lambda x, y, t: fusedloss.softmax_kl_divergence(x, t, return_grad=True, out=t), ValueError, "out"),
    (lambda x, y, t: fusedloss.softmax_focal_loss(np.zeros((4, 0)), y), ValueError, "C = 0"),
])
def test_bad_input_is_named(call, error, message):
    x = np.zeros((4, 3))
    y = np.array([0, 1, 2, 0])
    t = np.ones((4, 3))
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(x, y, t)


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_bad_labels_name_value_and_row_and_write_nothing(backend):
    x = np.zeros((2, 3, 4))
    y = np.array([[0, 1, 2], [3, 4, 0]])
    out = x.copy()
    fusedloss.set_backend(backend)
    try:
        with pytest.raises(ValueError, match=r"labels: label 4 at row 4 \(batch index \(1, 1\)\) is out of range"):
            fusedloss.softmax_focal_loss(out, y, return_grad=True, out=out)
    finally:
        fusedloss.set_backend("native")
    assert not out.any()


def test_inputs_are_never_written():
    for entry in FORMS:
        x, second = inputs(entry, (20, 9), np.float64)
        x.flags.writeable = False
        if not entry.takes_labels:
            second.flags.writeable = False
        entry.function(x, second, return_hessian=True)


@pytest.mark.isa_independent
def test_the_registry_drives_the_public_api():
    # (the Dask twins: tests/test_dask.py, test_twin_declarations_match_the_registry)
    kernels = set(_core.row_loss_names())
    for name, entry in ROW_LOSSES.items():
        assert getattr(fusedloss, name) is entry.function and name in fusedloss.__all__
        assert entry.kernel_name(entry.defaults()) in kernels
        assert "``out``" in entry.function.__doc__


@pytest.mark.isa_independent
def test_first_two_arguments_by_name():
    """The documented names work as keywords (``logits=``, ``labels=``, ``target_logits=``),
    with Python's errors for a missing, doubled or extra argument."""
    for name, entry in ROW_LOSSES.items():
        x, second = inputs(Form(entry), (6, 5), np.float64)
        expected = entry.function(x, second, return_grad=True)
        for call in (lambda: entry.function(**{entry.first: x, entry.second: second}, return_grad=True),
                     lambda: entry.function(x, **{entry.second: second}, return_grad=True)):
            assert [a.tobytes() for a in call()] == [a.tobytes() for a in expected]
        with pytest.raises(TypeError, match=rf"{name}\(\) missing required argument: '{entry.second}'"):
            entry.function(x)
        with pytest.raises(TypeError, match=rf"{name}\(\) got multiple values for argument '{entry.first}'"):
            entry.function(x, **{entry.first: x, entry.second: second})
        with pytest.raises(TypeError, match=rf"{name}\(\) takes 2 positional arguments but 3 were given"):
            entry.function(x, second, second)
