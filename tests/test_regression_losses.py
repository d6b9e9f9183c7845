"""Every elementwise loss of the registry (fusedloss._regression.ELEMENTWISE_LOSSES), with every
convention of mean_squared_error, against independent oracles: finite differences of the
float64 reference, PyTorch's losses and autograd (double backward for the Hessian), and
scikit-learn's loss classes (loss, gradient and Hessian per sample).

A new loss gets all of these by its registry entry; its `examples` are the parameter values
swept here, and a loss that takes an element `weight` (`operands`) is run with one too. Its own
rows (a classification loss's options, say) go in a file of its own
(tests/test_sigmoid_focal_loss.py)."""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss
from fusedloss import _reference
from fusedloss._regression import ELEMENTWISE_LOSSES

try:  # a peer: only the PyTorch comparisons need it (CI installs it; without it they skip)
    import torch
except ImportError:  # pragma: no cover - exercised without the peers extra
    torch = None

CASES = [pytest.param(entry, parameters, id=f"{name}{list(parameters) if parameters else ''}")
         for name, entry in ELEMENTWISE_LOSSES.items() for parameters in entry.examples]


def keywords(entry, parameters):
    return {p.name: value for p, value in zip(entry.parameters, parameters)}


def inputs(entry, shape, dtype, seed=0, offset=0.0):
    """(first argument, target) inside the loss's domain, with ties and both signs."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 1.5
    if entry.first == "raw":  # log-link losses: raw predictions of moderate size
        t = rng.gamma(2.0, 1.0, size=shape) + 0.05
    elif entry.first == "logits":  # classification: hard labels 0 and 1, and soft targets
        t = np.where(rng.random(shape) < 0.7, rng.random(shape) < 0.5, rng.random(shape))
        x = 2.0 * x + offset
    else:
        t = rng.standard_normal(shape) * 1.5 + offset
        x = x + offset
        flat = x.reshape(-1)
        flat[::7] = t.reshape(-1)[::7]  # ties: pred == target
    return x.astype(dtype), t.astype(dtype)


def reference(entry, parameters, x, t, **options):
    return _reference.elementwise_loss(entry.terms, x.astype(np.float64), t.astype(np.float64),
                                       parameters, unit=entry.unit, **options)


def tolerance(dtype):
    return dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)


def element_weights(entry, shape, dtype, seed=4):
    """{"weight": a per-element weight of the last axis's length} for a loss that takes one
    (it broadcasts to the first argument's shape; negative entries included), else {}."""
    if "weight" not in entry.operands:
        return {}
    return {"weight": np.random.default_rng(seed).uniform(-0.5, 2.0, shape[-1]).astype(dtype)}


@pytest.mark.parametrize("entry,parameters", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(37,), (9, 17), (4, 3, 5)])
def test_matches_the_float64_reference(entry, parameters, dtype, reduction, weighted, shape):
    x, t = inputs(entry, shape, dtype)
    weights = np.random.default_rng(1).uniform(0.1, 2.0, shape[0]) if weighted else None
    operands = element_weights(entry, shape, dtype) if weighted else {}
    loss, grad, hess = entry.function(x, t, sample_weight=weights, reduction=reduction,
                                      return_hessian=True, **operands,
                                      **keywords(entry, parameters))
    value, g, h = reference(entry, parameters, x, t, sample_weight=weights, reduction=reduction,
                            return_grad=True, return_hessian=True, **operands)
    assert grad.dtype == dtype and hess.dtype == dtype and grad.shape == shape
    assert np.asarray(loss).dtype == dtype
    tol = tolerance(dtype)
    np.testing.assert_allclose(np.asarray(loss, np.float64), value, **tol)
    scale = np.max(np.abs(g)) or 1.0
    np.testing.assert_allclose(grad, g, rtol=tol["rtol"], atol=tol["atol"] * scale)
    np.testing.assert_allclose(hess, h, rtol=tol["rtol"], atol=tol["atol"] * (np.max(np.abs(h)) or 1.0))


@pytest.mark.parametrize("entry,parameters", CASES)
def test_reference_gradient_and_hessian_are_the_derivatives(entry, parameters):
    """The float64 reference against central differences of its own loss and gradient (points
    away from the kinks of the piecewise losses)."""
    x, t = inputs(entry, (200,), np.float64, seed=3)
    x = x + 0.01 * np.sign(x - t + 1e-3)  # off the ties
    if entry.name in ("huber_loss", "smooth_l1_loss") and parameters[0] > 0:
        d = x - t
        x = np.where(np.abs(np.abs(d) - parameters[0]) < 1e-3, x + 0.01, x)
    h = 1e-6

    def terms(values):
        return entry.terms(values, t, *parameters)

    loss, gradient, hessian = terms(x)
    numeric_gradient = (terms(x + h)[0] - terms(x - h)[0]) / (2 * h)
    numeric_hessian = (terms(x + h)[1] - terms(x - h)[1]) / (2 * h)
    np.testing.assert_allclose(gradient * entry.unit, numeric_gradient, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=1e-5, atol=1e-5)  # both in units


# (torch's huber_loss rejects delta = 0)
TORCH_CASES = [case for case in CASES if case.values[0].torch is not None
               and not (case.values[0].name == "huber_loss" and case.values[1][0] == 0.0)]


@pytest.mark.parametrize("entry,parameters", TORCH_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch_and_its_double_backward(entry, parameters, dtype):
    if torch is None:
        pytest.skip("PyTorch (the peers extra) is not installed")
    F = torch.nn.functional
    x, t = inputs(entry, (6, 50), dtype, seed=5)
    xt = torch.tensor(x, requires_grad=True)
    per_element = entry.torch(F, xt, torch.tensor(t), *parameters)
    (grad,) = torch.autograd.grad(per_element.mean(), xt, create_graph=True)
    # Elementwise: the Hessian is diagonal, so the gradient of sum(grad) is its diagonal.
    (hess,) = torch.autograd.grad(grad.sum(), xt, allow_unused=True)
    hess = torch.zeros_like(xt) if hess is None else hess
    loss, g, h = entry.function(x, t, return_hessian=True, **keywords(entry, parameters))
    tol = tolerance(dtype)
    np.testing.assert_allclose(float(loss), per_element.mean().item(), rtol=tol["rtol"] * 4)
    np.testing.assert_allclose(g, grad.detach().numpy(force=True), rtol=tol["rtol"] * 4, atol=tol["atol"] / x.size)
    np.testing.assert_allclose(h, hess.detach().numpy(force=True), rtol=tol["rtol"] * 4, atol=tol["atol"] / x.size)
    none = entry.function(x, t, reduction="none", **keywords(entry, parameters))
    np.testing.assert_allclose(none, per_element.detach().numpy(), rtol=tol["rtol"] * 4, atol=tol["atol"])


SKLEARN_CASES = [case for case in CASES if case.values[0].sklearn is not None]


@pytest.mark.parametrize("entry,parameters", SKLEARN_CASES)
def test_matches_scikit_learn_per_sample(entry, parameters):
    """loss, gradient and Hessian per sample against sklearn._loss (float64). Its losses for
    the log-link families are ours up to a constant per sample (which it leaves out too), its
    HalfSquaredError is half of ours, and its Hessians of the piecewise-linear losses are a
    constant stand-in (1) for Newton solvers, not the derivative (0): those are not compared."""
    peer = entry.sklearn(*parameters)
    x, t = inputs(entry, (300,), np.float64, seed=7)
    factor = 2.0 if entry.name == "mean_squared_error" else 1.0
    loss, grad, hess = entry.function(x, t, reduction="none", return_hessian=True,
                                      **keywords(entry, parameters))
    np.testing.assert_allclose(loss, factor * peer.loss(y_true=t, raw_prediction=x), rtol=1e-12, atol=1e-12)
    untied = x != t  # sklearn's AbsoluteError takes the gradient -1 at a tie, ours 0
    peer_grad, peer_hess = peer.gradient_hessian(y_true=t, raw_prediction=x)
    np.testing.assert_allclose(grad[untied], factor * peer_grad[untied], rtol=1e-12, atol=1e-12)
    if entry.name not in ("mean_absolute_error", "pinball_loss"):
        np.testing.assert_allclose(hess, factor * peer_hess, rtol=1e-12, atol=1e-12)
    else:
        assert not hess.any()


@pytest.mark.parametrize("entry,parameters", CASES)
def test_conventions(entry, parameters):
    """out= (in place too), the Hessian pair, threads bitwise, the loss the same bits whatever
    else is asked for, layouts, broadcast targets, float16 and int inputs."""
    kw = dict(keywords(entry, parameters), **element_weights(entry, (300, 70), np.float32))
    x, t = inputs(entry, (300, 70), np.float32, seed=11)
    w = np.random.default_rng(2).uniform(0.5, 1.5, 300)
    loss_only = entry.function(x, t, sample_weight=w, **kw)
    loss, grad = entry.function(x, t, sample_weight=w, return_grad=True, **kw)
    loss_h, grad_h, hess = entry.function(x, t, sample_weight=w, return_hessian=True, **kw)
    assert loss_only.tobytes() == loss.tobytes() == loss_h.tobytes()
    assert grad.tobytes() == grad_h.tobytes()
    for threads in (1, 2, 3):
        again = entry.function(x, t, sample_weight=w, return_hessian=True, threads=threads, **kw)
        assert [a.tobytes() for a in again] == [loss.tobytes(), grad.tobytes(), hess.tobytes()]
    # out pair, and out=x in place
    g_out, h_out = np.empty_like(x), np.empty_like(x)
    result = entry.function(x, t, sample_weight=w, return_hessian=True, out=(g_out, h_out), **kw)
    assert result[1] is g_out and result[2] is h_out
    assert g_out.tobytes() == grad.tobytes() and h_out.tobytes() == hess.tobytes()
    inplace = x.copy()
    result = entry.function(inplace, t, sample_weight=w, return_hessian=True, out=(inplace, None), **kw)
    assert result[1] is inplace and inplace.tobytes() == grad.tobytes()
    assert result[2].tobytes() == hess.tobytes()
    # layouts: Fortran, strided, read-only, broadcast target
    fortran = np.asfortranarray(x)
    strided = np.zeros((300, 140), np.float32)[:, ::2]
    strided[...] = x
    readonly = x.copy()
    readonly.flags.writeable = False
    for variant in (fortran, strided, readonly):
        assert entry.function(variant, t, sample_weight=w, **kw).tobytes() == loss.tobytes()
    row = t[:1]
    np.testing.assert_array_equal(entry.function(x, row, reduction="none", **kw),
                                  entry.function(x, np.broadcast_to(row, x.shape).copy(), reduction="none", **kw))
    # float16 in, float16 out; ints computed in float64
    half = entry.function(x.astype(np.float16), t.astype(np.float16), return_hessian=True, **kw)
    assert all(np.asarray(part).dtype == np.float16 for part in half)
    ints = entry.function(np.round(x).astype(np.int32), np.round(t) + 1.0, **kw)
    assert ints.dtype == np.float64


@pytest.mark.parametrize("entry,parameters", CASES)
@pytest.mark.parametrize("shape", [(3001, 10), (700, 63), (257, 3, 5)])
def test_short_samples_with_sample_weight(entry, parameters, shape):
    """Samples shorter than the driver's short_sample_limit (64) are weighted per element in
    chunks: chunks that straddle samples and blocks, bitwise for any thread count, equal to the
    reference, and the gradient the same bits as unweighted runs scaled alike."""
    kw = keywords(entry, parameters)
    x, t = inputs(entry, shape, np.float32, seed=23)
    w = np.random.default_rng(3).uniform(0.5, 1.5, shape[0])
    results = [entry.function(x, t, sample_weight=w, return_hessian=True, threads=threads, **kw)
               for threads in (1, 2, 3)]
    for again in results[1:]:
        assert [a.tobytes() for a in again] == [b.tobytes() for b in results[0]]
    value, g, h = reference(entry, parameters, x, t, sample_weight=w, return_grad=True,
                            return_hessian=True)
    loss, grad, hess = results[0]
    np.testing.assert_allclose(loss, value, rtol=2e-6)
    np.testing.assert_allclose(grad, g, rtol=2e-6, atol=2e-6 * np.abs(g).max())
    np.testing.assert_allclose(hess, h, rtol=2e-6, atol=2e-6 * np.abs(h).max())


@pytest.mark.parametrize("entry,parameters", CASES)
def test_empty_and_nothing_to_average(entry, parameters):
    kw = keywords(entry, parameters)
    empty = np.zeros((0, 4))
    loss, grad, hess = entry.function(empty, empty, return_hessian=True, **kw)
    assert float(loss) == 0.0 and grad.shape == hess.shape == (0, 4)
    x, t = inputs(entry, (3, 4), np.float64)
    loss, grad, hess = entry.function(x, t, sample_weight=np.zeros(3), return_hessian=True, **kw)
    assert float(loss) == 0.0 and not grad.any() and not hess.any()


# The log-link losses take raw predictions: an offset of 1e2 already overflows exp (their
# accuracy is checked at moderate raw values above).
OFFSET_CASES = [case for case in CASES if case.values[0].first == "pred"]


@pytest.mark.parametrize("entry,parameters", OFFSET_CASES)
@pytest.mark.parametrize("offset", [1e2, 1e4, 1e6])
def test_float32_at_large_offsets(entry, parameters, offset):
    """pred and target near a large offset: float32 results agree with float64 run on the
    same float32 inputs (the difference d is exact in float32 by Sterbenz's lemma)."""
    x, t = inputs(entry, (64, 33), np.float32, seed=13, offset=offset)
    loss, grad = entry.function(x, t, reduction="none", return_grad=True, **keywords(entry, parameters))
    value, g, _ = reference(entry, parameters, x, t, reduction="none", return_grad=True)
    np.testing.assert_allclose(loss, value, rtol=1e-6, atol=1e-6 * np.max(np.abs(value)))
    np.testing.assert_allclose(grad, g, rtol=1e-6, atol=1e-6 * np.max(np.abs(g)))


def test_special_values_propagate():
    x = np.array([np.nan, 1.0, np.inf, -np.inf, 0.0])
    t = np.array([1.0, np.nan, 1.0, 1.0, 2.0])
    for name, entry in ELEMENTWISE_LOSSES.items():
        loss, grad = entry.function(x, t, reduction="none", return_grad=True,
                                    **keywords(entry, entry.defaults()))
        value, g, _ = reference(entry, entry.defaults(), x, t, reduction="none", return_grad=True)
        np.testing.assert_array_equal(np.isnan(loss), np.isnan(value), err_msg=name)
        np.testing.assert_array_equal(np.isnan(grad), np.isnan(g), err_msg=name)
        finite = ~np.isnan(value)
        np.testing.assert_array_equal(loss[finite], value[finite], err_msg=name)


@pytest.mark.isa_independent
@pytest.mark.parametrize("name,bad,message", [
    ("huber_loss", {"delta": -1.0}, "delta: expected a finite number >= 0, got -1.0"),
    ("huber_loss", {"delta": float("inf")}, "delta: expected a finite number >= 0, got inf"),
    ("smooth_l1_loss", {"beta": float("nan")}, "beta: expected a finite number >= 0, got nan"),
    ("pinball_loss", {"quantile": 1.0}, "quantile: expected a number in (0, 1), got 1.0"),
    ("pinball_loss", {"quantile": 0}, "quantile: expected a number in (0, 1), got 0"),
    ("tweedie_loss", {"power": 0.5}, "power: expected a finite number outside (0, 1), got 0.5"),
    ("sigmoid_focal_loss", {"gamma": -0.5}, "gamma: expected a finite number >= 0, got -0.5"),
    ("sigmoid_focal_loss", {"gamma": float("nan")}, "gamma: expected a finite number >= 0, got nan"),
    ("sigmoid_focal_loss", {"alpha": float("inf")}, "alpha: expected a finite number, got inf"),
])
def test_parameters_are_checked(name, bad, message):
    function = getattr(fusedloss, name)
    with pytest.raises(ValueError) as error:
        function(np.ones(3), np.ones(3), **bad)
    assert str(error.value) == message


@pytest.mark.isa_independent
def test_parameter_types_and_unknown_keywords():
    with pytest.raises(TypeError, match="delta: expected a real number, got bool"):
        fusedloss.huber_loss(np.ones(3), np.ones(3), delta=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
        fusedloss.huber_loss(np.ones(3), np.ones(3), beta=1.0)
    # only a loss that declares an element weight takes one
    with pytest.raises(TypeError, match="unexpected keyword argument 'weight'"):
        fusedloss.huber_loss(np.ones(3), np.ones(3), weight=np.ones(3))
    with pytest.raises(TypeError):
        fusedloss.huber_loss(np.ones(3), np.ones(3), 1.0)  # parameters are keyword-only


@pytest.mark.parametrize("name,parameters,target,message", [
    ("poisson_loss", {}, [[1.0, 2.0], [-0.5, 1.0]], "target: expected target >= 0, got -0.5 at index (1, 0)"),
    ("gamma_loss", {}, [[1.0, 2.0], [1.0, 0.0]], "target: expected target > 0, got 0.0 at index (1, 1)"),
    ("tweedie_loss", {"power": 1.5}, [[1.0, -2.0], [1.0, 0.0]], "target: expected target >= 0, got -2.0 at index (0, 1)"),
    ("tweedie_loss", {"power": 3.0}, [[1.0, 2.0], [0.0, 1.0]], "target: expected target > 0, got 0.0 at index (1, 0)"),
    ("tweedie_loss", {"power": 1.0}, [[1.0, 2.0], [-1.0, 1.0]], "target: expected target >= 0, got -1.0 at index (1, 0)"),
    ("tweedie_loss", {"power": 2.0}, [[1.0, 2.0], [-1.0, 1.0]], "target: expected target > 0, got -1.0 at index (1, 0)"),
])
@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_targets_outside_the_domain(name, parameters, target, message, backend, dtype):
    function = getattr(fusedloss, name)
    raw = np.zeros((2, 2), dtype)
    previous = fusedloss.get_backend()
    fusedloss.set_backend(backend)
    try:
        with pytest.raises(ValueError) as error:
            function(raw, np.array(target, dtype), return_grad=True, **parameters)
        assert str(error.value) == message
        # a big array: the bad element is found wherever it is, in any block, by any thread
        big_raw = np.zeros(200_003, dtype)
        big_target = np.ones(200_003, dtype)
        big_target[150_001] = np.array(target, dtype).min()
        with pytest.raises(ValueError, match=r"at index \(150001,\)"):
            function(big_raw, big_target, threads=2, **parameters)
    finally:
        fusedloss.set_backend(previous)


def test_tweedie_power_below_zero_takes_any_target():
    raw = np.zeros(4)
    value = fusedloss.tweedie_loss(raw, np.array([-1.0, 0.0, 1.0, 2.0]), power=-0.5, reduction="none")
    assert np.all(np.isfinite(value))


def test_nan_targets_are_not_domain_errors():
    loss = fusedloss.poisson_loss(np.zeros(3), np.array([1.0, np.nan, 2.0]), reduction="none")
    assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()


@pytest.mark.isa_independent
def test_bad_out_with_hessian():
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match="expected a pair"):
        fusedloss.huber_loss(x, x, return_hessian=True, out=np.empty_like(x))
    shared = np.empty_like(x)
    with pytest.raises(ValueError, match="overlap"):
        fusedloss.huber_loss(x, x, return_hessian=True, out=(shared, shared))
    with pytest.raises(ValueError, match="overlaps"):
        fusedloss.huber_loss(x, x.copy(), return_hessian=True, out=(None, x))


def test_the_registry_drives_the_public_api():
    """Each entry is exported under its name, with a Dask twin."""
    pytest.importorskip("dask")
    import fusedloss.dask as dask_module
    for name, entry in ELEMENTWISE_LOSSES.items():
        assert getattr(fusedloss, name) is entry.function
        assert name in fusedloss.__all__
        assert callable(getattr(dask_module, name))


@pytest.mark.isa_independent
def test_first_two_arguments_by_name():
    """The documented names work as keywords (``pred=``/``raw=``/``logits=``, ``target=``...)."""
    for name, entry in ELEMENTWISE_LOSSES.items():
        x, t = inputs(entry, (6, 5), np.float64)
        expected = entry.function(x, t, return_grad=True)
        got = entry.function(**{entry.first: x, entry.second: t}, return_grad=True)
        assert [a.tobytes() for a in got] == [a.tobytes() for a in expected]
        with pytest.raises(TypeError, match=rf"{name}\(\) missing required argument: '{entry.second}'"):
            entry.function(x)
