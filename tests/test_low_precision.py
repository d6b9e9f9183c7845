"""bfloat16 and float16 (SPEC "Low-precision and foreign arrays"), on every ISA.

- The kernels' 16-bit conversions: every one of the 65,536 bit patterns widened, and float32
  values at the edges (subnormals, ties, values that round up to infinity, NaN payloads)
  rounded, against ml_dtypes' and NumPy's own conversions, and the same bits on every ISA.
- Every option of every loss in 16-bit equals the float32 call on the widened inputs, rounded
  once (test_input_matrix.py runs every public function plainly; here the options: weights,
  ignore_index, smoothing, z-loss, softcap, soft targets, argmax, Hessians, accumulate,
  layouts). The float32 call itself is checked against float64 NumPy elsewhere.
- DLPack: PyTorch tensors of every dtype and JAX arrays are taken without a copy; a PyTorch
  bfloat16 gradient buffer is filled in place; a 256 MiB bfloat16 call allocates far less
  than a float32 copy would; a tensor off the CPU, an immutable out and a tensor that needs
  grad get clear errors.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import ml_dtypes
import numpy as np
import pytest

import fusedloss
from fusedloss import _core

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
DTYPES = {"bf16": BF16, "f16": F16}
RNG = np.random.default_rng(20261207)


def bits(array):
    return np.ascontiguousarray(array).view(np.uint16)


def float_bits(array):
    return np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)


# ------------------------------------------------------------------------------- conversions

ALL_PATTERNS = np.arange(65536, dtype=np.uint32).astype(np.uint16)


def test_widen_bfloat16_is_exact_for_every_pattern():
    got = _core.widen_16bit(ALL_PATTERNS.view(BF16))
    # bfloat16 is the top half of a float32: every pattern, NaN payloads included, exactly
    np.testing.assert_array_equal(float_bits(got), ALL_PATTERNS.astype(np.uint32) << 16)


def test_widen_float16_matches_numpy_for_every_pattern():
    halves = ALL_PATTERNS.view(F16)
    got = _core.widen_16bit(halves)
    expected = halves.astype(np.float32)
    finite_or_inf = ~np.isnan(halves)
    np.testing.assert_array_equal(float_bits(got)[finite_or_inf], float_bits(expected)[finite_or_inf])
    # NaN: quieted, sign and the ten payload bits kept in the top of the float32 mantissa
    nan_bits = ALL_PATTERNS[~finite_or_inf].astype(np.uint32)
    want = ((nan_bits & 0x8000) << 16) | 0x7FC00000 | ((nan_bits & 0x3FF) << 13)
    np.testing.assert_array_equal(float_bits(got)[~finite_or_inf], want)


def edge_floats():
    """float32 values where rounding to 16 bits is delicate, both signs."""
    special = np.array([0.0, 1.0, 65504.0, 65519.996, 65520.0, 65536.0, 3.3895314e38,
                        3.3961776e38, 3.4028235e38, np.inf, 2.0 ** -14, 2.0 ** -24, 2.0 ** -25,
                        1.5 * 2.0 ** -25, 2.0 ** -26, 2.0 ** -126, 2.0 ** -133, 2.0 ** -149,
                        1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11,
                        0.1, 1 / 3], dtype=np.float32)
    ties = (np.arange(1, 4096, dtype=np.uint32) << 13 | 0x1000).view(np.float32)  # half-way, f16
    bf_ties = (np.arange(0x3F80, 0x4080, dtype=np.uint32) << 16 | 0x8000).view(np.float32)
    random_bits = RNG.integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    values = np.concatenate([special, ties, bf_ties, random_bits])
    return np.concatenate([values, -values])


NAN_PAYLOADS = np.array([0x7FC00000, 0x7F800001, 0x7FBFFFFF, 0x7FC12345, 0xFF812345, 0xFFFFFFFF],
                        dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
def test_narrow_rounds_to_nearest_even_as_ml_dtypes_and_numpy(name):
    values = edge_floats()
    dtype = BF16 if name == "bfloat16" else F16
    got = _core.narrow_16bit(values, name)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = values.astype(dtype)
    keep = ~np.isnan(values)
    np.testing.assert_array_equal(bits(got)[keep], bits(expected)[keep])


@pytest.mark.parametrize("name", ["bfloat16", "float16"])
def test_narrow_keeps_nan_sign_and_leading_payload(name):
    got = bits(_core.narrow_16bit(NAN_PAYLOADS, name)).astype(np.uint32)
    source = NAN_PAYLOADS.view(np.uint32)
    if name == "bfloat16":
        want = (source >> 16) | 0x40
    else:
        want = ((source >> 16) & 0x8000) | 0x7E00 | ((source >> 13) & 0x3FF)
    np.testing.assert_array_equal(got, want)


@pytest.mark.isa_independent
def test_conversions_are_the_same_bits_on_every_isa():
    """F16C (AVX2, AVX-512) and the baseline's integer code give the same bits, NaNs included;
    lengths that leave a remainder after the 8- and 16-wide loops."""
    values = np.concatenate([edge_floats(), NAN_PAYLOADS, NAN_PAYLOADS[:5]])
    results = {}
    for isa in _core.supported_isas():
        _core.select_isa(isa)
        try:
            results[isa] = [bits(_core.narrow_16bit(values, name)) for name in ("bfloat16", "float16")]
            results[isa] += [float_bits(_core.widen_16bit(ALL_PATTERNS[:65531].view(dtype)))
                             for dtype in (BF16, F16)]
        finally:
            _core.select_isa(_core.supported_isas()[-1])
    first = next(iter(results.values()))
    for isa, arrays in results.items():
        for got, want in zip(arrays, first):
            np.testing.assert_array_equal(got, want, err_msg=isa)


# ---------------------------------------------------- every option: the float32 call, rounded


def upcast(value):
    return value.astype(np.float32) if isinstance(value, np.ndarray) and value.dtype in (BF16, F16) else value


def assert_float32_rounded(call, args16, kwargs16):
    """call(*args16, **kwargs16) against the same call on float32 upcasts, rounded once."""
    got = call(*args16, **kwargs16)
    want = call(*[upcast(a) for a in args16], **{k: upcast(v) for k, v in kwargs16.items()})
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    dtype = args16[0].dtype
    assert len(got) == len(want)
    for part16, part32 in zip(got, want):
        if part16 is None:
            assert part32 is None
            continue
        part16, part32 = np.asarray(part16), np.asarray(part32)
        if part32.dtype.kind in "iu":  # argmax
            np.testing.assert_array_equal(part16, part32)
            continue
        assert part16.dtype == dtype
        with np.errstate(over="ignore"):
            rounded = part32.astype(dtype)
        if part16.ndim == 0:
            np.testing.assert_allclose(float(part16), float(rounded), rtol=2 ** -7)
        else:
            np.testing.assert_array_equal(bits(part16), bits(rounded))


def logits(shape, dtype, scale=3.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def far_below(x, start, stop):
    """x with columns [start, stop) 83-87 below their row's maximum: exp(x_j - max) is then
    above the kernels' flush threshold and exp(x_j - max) / S, the gradient, subnormal."""
    top = x.astype(np.float32).max(axis=-1, keepdims=True)
    x[..., start:stop] = (top - 83.0 + RNG.uniform(-4.0, 0.0, x[..., start:stop].shape)).astype(x.dtype)
    return x


CASES = {
    "ce_options": lambda d: (fusedloss.softmax_cross_entropy,
                             (logits((33, 19), d), np.r_[RNG.integers(0, 19, 32), -100]),
                             dict(weight=RNG.uniform(0.5, 2, 19), sample_weight=RNG.uniform(0, 1, 33),
                                  label_smoothing=0.1, z_loss=1e-3, softcap=4.0,
                                  return_hessian=True, reduction="none")),
    # rows with options above the small-C tiles: a row at a time through the float32 options
    # block (widened, computed in place, rounded)
    "ce_options_rows": lambda d: (fusedloss.softmax_cross_entropy,
                                  (logits((21, 300), d), np.r_[RNG.integers(0, 300, 20), -100]),
                                  dict(weight=RNG.uniform(0.5, 2, 300), sample_weight=RNG.uniform(0, 1, 21),
                                       label_smoothing=0.1, z_loss=1e-3, return_grad=True,
                                       reduction="none")),
    "ce_softcap_argmax_rows": lambda d: (fusedloss.softmax_cross_entropy,
                                         (logits((9, 1000), d, 10.0), RNG.integers(0, 1000, 9)),
                                         dict(softcap=5.0, return_argmax=True, return_grad=True,
                                              reduction="sum", threads=2)),
    "ce_argmax_mean": lambda d: (fusedloss.softmax_cross_entropy,
                                 (logits((4, 3, 7), d), RNG.integers(0, 7, (4, 3))),
                                 dict(return_grad=True, return_argmax=True)),
    "ce_soft_targets": lambda d: (fusedloss.softmax_cross_entropy,
                                  (logits((6, 40), d), RNG.dirichlet(np.ones(40), 6).astype(d)),
                                  dict(return_grad=True, reduction="sum")),
    # the plain native rows: the gradient rounded by AVX-512 BF16 where the CPU has it, by the
    # integer rule from a group of 32 that holds a subnormal float32 on (logits 83-87 below
    # the row's maximum: e_j / S falls below 2^-126) and in the row's last elements (C = 1000)
    "ce_plain_rows": lambda d: (fusedloss.softmax_cross_entropy,
                                (far_below(logits((37, 1000), d, 1.0), 600, 700),
                                 np.r_[RNG.integers(0, 1000, 36), -100]),
                                dict(return_grad=True, reduction="sum")),
    "ce_plain_rows_weighted": lambda d: (fusedloss.softmax_cross_entropy,
                                         (logits((9, 4099), d), RNG.integers(0, 4099, 9)),
                                         dict(return_grad=True, weight=RNG.uniform(0.5, 2, 4099),
                                              reduction="none", threads=2)),
    "ce_long_rows": lambda d: (fusedloss.softmax_cross_entropy,
                               (logits((3, 50000), d), np.array([0, 49999, 7])),
                               dict(return_hessian=True)),
    "hinge_weighted": lambda d: (fusedloss.multiclass_hinge,
                                 (logits((25, 9), d), RNG.integers(0, 9, 25)),
                                 dict(squared=True, weight=RNG.uniform(0.5, 2, 9), return_hessian=True)),
    # rows of three 2048-column tiles, labels in the first, middle and last and at their edges
    # (the gradient rounded by AVX-512 BF16 where the CPU has it)
    "hinge_tiles": lambda d: (fusedloss.multiclass_hinge,
                              (logits((6, 4500), d), np.array([0, 2100, 4499, 2047, 2048, 4096])),
                              dict(squared=True, sample_weight=RNG.uniform(0.5, 2, 6), return_grad=True,
                                   reduction="none")),
    "bce_weights": lambda d: (fusedloss.sigmoid_binary_cross_entropy,
                              (logits((17, 5), d), RNG.uniform(0, 1, (17, 5)).astype(d)),
                              dict(weight=RNG.uniform(0.5, 2, 5).astype(d),
                                   pos_weight=RNG.uniform(0.5, 2, 5).astype(d),
                                   sample_weight=RNG.uniform(0, 1, 17), return_hessian=True,
                                   reduction="none")),
    "bce_full_weight": lambda d: (fusedloss.sigmoid_binary_cross_entropy,
                                  (logits((3000, 11), d), RNG.uniform(0, 1, (3000, 11)).astype(d)),
                                  dict(weight=RNG.uniform(0.5, 2, (3000, 11)).astype(d),
                                       return_grad=True)),
    "huber_samples": lambda d: (fusedloss.huber_loss,
                                (logits((7, 3, 1000), d), logits((7, 3, 1000), d)),
                                dict(delta=0.5, sample_weight=RNG.uniform(0, 1, 7),
                                     return_hessian=True, reduction="none")),
    # the elementwise driver's bfloat16 gradient, rounded by AVX-512 BF16 where the CPU has it
    # and by the integer rule from a group of 32 holding a subnormal float32 (2 (p - t) / N
    # of values near 1e-35), with per-element sample weights (rows of 7)
    "mse_subnormal_gradients": lambda d: (fusedloss.mean_squared_error,
                                          (logits((3001,), d, 1e-35), logits((3001,), d, 1e-35)),
                                          dict(return_grad=True)),
    # arrays from memory (>= 2**21 elements): float16 natively too, its gradient rounded by F16C
    # (2 (p - t) / N below float16's smallest normal: subnormal results)
    "mse_large": lambda d: (fusedloss.mean_squared_error,
                            (logits((3, 700_001), d), logits((3, 700_001), d)),
                            dict(return_grad=True, sample_weight=RNG.uniform(0.5, 2, 3))),
    "mse_short_samples": lambda d: (fusedloss.mean_squared_error,
                                    (logits((500, 7), d), logits((500, 7), d)),
                                    dict(return_grad=True, sample_weight=RNG.uniform(0, 1, 500))),
    "poisson": lambda d: (fusedloss.poisson_loss,
                          (logits((300,), d, 1.0), RNG.poisson(2.0, 300).astype(d)),
                          dict(return_hessian=True)),
    "sigmoid_focal_weight": lambda d: (fusedloss.sigmoid_focal_loss,
                                       (logits((40, 6), d), (RNG.uniform(0, 1, (40, 6)) > 0.5).astype(d)),
                                       dict(weight=RNG.uniform(0.5, 2, 6).astype(d), return_hessian=True)),
    "focal": lambda d: (fusedloss.softmax_focal_loss,
                        (logits((30, 13), d), np.r_[RNG.integers(0, 13, 29), -100]),
                        dict(gamma=1.5, weight=RNG.uniform(0.5, 2, 13),
                             sample_weight=RNG.uniform(0, 1, 30), return_hessian=True)),
    "kl": lambda d: (fusedloss.softmax_kl_divergence,
                     (logits((20, 300), d), logits((20, 300), d)),
                     dict(temperature=2.0, sample_weight=RNG.uniform(0, 1, 20), return_hessian=True,
                          reduction="none")),
    "cross_entropy_probs": lambda d: (fusedloss.cross_entropy,
                                      (RNG.uniform(0.01, 1, (12, 8)).astype(d), RNG.integers(0, 8, 12)),
                                      dict(return_hessian=True, sample_weight=RNG.uniform(0, 1, 12))),
    "softmax_strided": lambda d: (fusedloss.softmax, (logits((40, 30), d)[::3, 2:25],), {}),
    "log_softmax_fortran": lambda d: (fusedloss.log_softmax, (np.asfortranarray(logits((9, 14), d)),), {}),
    "logsumexp_3d": lambda d: (fusedloss.logsumexp, (logits((2, 5, 33), d),), {}),
    "elastic_net": lambda d: (fusedloss.elastic_net_penalty, (logits((1001,), d), 0.3, 0.7),
                              dict(return_grad=True)),
}


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("case", list(CASES))
def test_every_option_is_the_float32_call_rounded_once(case, dtype):
    call, args, kwargs = CASES[case](DTYPES[dtype])
    assert_float32_rounded(call, args, kwargs)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("rows", [3, 9, 13])
def test_long_16bit_rows_are_the_float32_call_rounded_once_for_any_threads(dtype, rows):
    """C >= 32768 (the chunked long-row path): 16-bit rows are read natively, their
    exponentials kept in float32 (one thread, or each thread on whole rows: 9 and 13 rows for
    2 and 3 threads), or staged (3 rows shared by 2-3 threads). Every way gives the float32
    call on the upcast rows, rounded once: chunks, an ignored row, a label in the last chunk,
    class and sample weights, per-row losses and the mean."""
    dtype = DTYPES[dtype]
    classes = 40_003
    x = logits((rows, classes), dtype)
    y = RNG.integers(0, classes, rows)
    y[1] = -100
    y[2] = classes - 1
    weights = dict(weight=RNG.uniform(0.5, 2, classes), sample_weight=RNG.uniform(0.1, 1, rows))
    for threads in (1, 2, 3):
        for reduction, options in (("none", weights), ("mean", {})):
            assert_float32_rounded(fusedloss.softmax_cross_entropy, (x, y),
                                   dict(return_grad=True, reduction=reduction, threads=threads, **options))
    # the loss alone is the loss of the gradient call
    for threads in (1, 2):
        assert bits(fusedloss.softmax_cross_entropy(x, y, reduction="none", threads=threads)).tobytes() == \
            bits(fusedloss.softmax_cross_entropy(x, y, reduction="none", return_grad=True)[0]).tobytes()


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_penalty_accumulates_into_a_16bit_gradient_rounding_once(dtype):
    dtype = DTYPES[dtype]
    w = logits((5000,), dtype)
    old = logits((5000,), dtype)
    out16 = old.copy()
    fusedloss.l2_penalty(w, 0.25, return_grad=True, out=out16, accumulate=True)
    out32 = old.astype(np.float32)
    fusedloss.l2_penalty(w.astype(np.float32), 0.25, return_grad=True, out=out32, accumulate=True)
    np.testing.assert_array_equal(bits(out16), bits(out32.astype(dtype)))


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_in_place_read_only_and_unaligned_16bit_inputs(dtype):
    dtype = DTYPES[dtype]
    x = logits((50, 21), dtype)
    y = RNG.integers(0, 21, 50)
    loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    read_only = x.copy()
    read_only.flags.writeable = False
    assert np.array_equal(bits(fusedloss.softmax_cross_entropy(read_only, y, return_grad=True)[1]), bits(grad))
    buffer = np.zeros(x.size * 2 + 1, np.uint8)[1:].view(dtype)  # one byte past alignment
    unaligned = buffer.reshape(x.shape)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    assert np.array_equal(bits(fusedloss.softmax_cross_entropy(unaligned, y, return_grad=True)[1]), bits(grad))
    in_place = x.copy()
    fusedloss.softmax_cross_entropy(in_place, y, return_grad=True, out=in_place)
    assert np.array_equal(bits(in_place), bits(grad))


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("loss, classes", [("softmax_cross_entropy", 1000), ("softmax_cross_entropy", 37),
                                           ("multiclass_hinge", 4500), ("multiclass_hinge", 40)])
def test_native_16bit_rows_without_gradient_and_in_place(dtype, loss, classes):
    """The rows read natively (bfloat16; float16 widened by F16C first, row by row for
    softmax-CE and in tiles for the hinge, where the ISA has F16C): the loss alone is the
    gradient call's loss bit for bit, both are the float32 call rounded, and a gradient written
    over its own input (out=x) is the same gradient. C = 37, 40: a widened tail past the last
    whole vector; 4500: three hinge tiles."""
    function = getattr(fusedloss, loss)
    x = logits((23, classes), DTYPES[dtype])
    y = RNG.integers(0, classes, 23)
    option_sets = [{}]
    if loss == "softmax_cross_entropy":  # (the rows with options: one row at a time above C = 32)
        option_sets += [dict(label_smoothing=0.2, z_loss=1e-2), dict(softcap=3.0)]
    for options in option_sets:
        losses, grad = function(x, y, return_grad=True, reduction="none", **options)
        assert bits(function(x, y, reduction="none", **options)).tobytes() == bits(losses).tobytes()
        assert_float32_rounded(function, (x, y), dict(reduction="none", **options))
        assert_float32_rounded(function, (x, y), dict(return_grad=True, reduction="sum", **options))
        in_place = x.copy()
        function(in_place, y, return_grad=True, reduction="none", out=in_place, **options)
        assert bits(in_place).tobytes() == bits(grad).tobytes()


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("loss", ["mean_squared_error", "huber_loss"])
@pytest.mark.parametrize("size", [1000, 3001])
def test_elementwise_16bit_loss_alone_in_place_and_per_element(dtype, loss, size):
    """The elementwise driver's 16-bit runs (float16: inputs widened by F16C in tiles of 512
    where the ISA has it; sizes with a short last tile): the loss alone is the gradient call's
    bit for bit, per-element losses and gradients are the float32 call's rounded, and a gradient
    written over the prediction (out=pred) is the same gradient."""
    function = getattr(fusedloss, loss)
    p, t = logits((size,), DTYPES[dtype]), logits((size,), DTYPES[dtype])
    losses, grad = function(p, t, return_grad=True, reduction="none")
    assert bits(function(p, t, reduction="none")).tobytes() == bits(losses).tobytes()
    assert float(function(p, t, reduction="sum")) == float(function(p, t, reduction="sum", return_grad=True)[0])
    assert_float32_rounded(function, (p, t), dict(return_grad=True, reduction="none"))
    in_place = p.copy()
    function(in_place, t, return_grad=True, reduction="none", out=in_place)
    assert bits(in_place).tobytes() == bits(grad).tobytes()


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_16bit_results_are_the_same_for_any_thread_count(dtype):
    x = logits((512, 300), DTYPES[dtype])
    y = RNG.integers(0, 300, 512)
    one = fusedloss.softmax_cross_entropy(x, y, return_grad=True, reduction="sum", threads=1)
    for threads in (2, 3, 8):
        other = fusedloss.softmax_cross_entropy(x, y, return_grad=True, reduction="sum", threads=threads)
        assert float(other[0]) == float(one[0])
        assert np.array_equal(bits(other[1]), bits(one[1]))


def test_linear_cross_entropy_in_16bit_rounds_float32_products():
    x = logits((37, 16), BF16, 1.0)
    w = logits((50, 16), BF16, 0.5)
    y = RNG.integers(0, 50, 37)
    loss, (dx, dw, db) = fusedloss.linear_cross_entropy(x, w, y, return_grad=True)
    loss32, (dx32, dw32, _) = fusedloss.linear_cross_entropy(x.astype(np.float32), w.astype(np.float32), y,
                                                               return_grad=True)
    assert dx.dtype == dw.dtype == BF16 and db is None
    np.testing.assert_allclose(dx.astype(np.float32), dx32, rtol=2 ** -7, atol=1e-6)
    np.testing.assert_allclose(dw.astype(np.float32), dw32, rtol=2 ** -7, atol=1e-6)
    np.testing.assert_allclose(float(loss), float(loss32), rtol=2 ** -7)


# ------------------------------------------------------------------------------------- DLPack

def import_torch():
    """PyTorch, the peers extra (CI installs it); the module's other tests run without it."""
    return pytest.importorskip("torch")


def torch_bytes(tensor):
    return tensor.contiguous().view(import_torch().uint8).numpy()


@pytest.mark.parametrize("torch_dtype", ["bfloat16", "float16", "float32", "float64"])
def test_torch_tensors_in_and_gradient_buffer_filled_in_place(torch_dtype):
    torch = import_torch()
    dtype = getattr(torch, torch_dtype)
    x = torch.randn(64, 33, dtype=torch.float32).to(dtype)
    y = torch.randint(0, 33, (64,))
    grad = torch.full_like(x, float("nan"))
    loss, returned = fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=grad)
    assert returned.ctypes.data == grad.data_ptr()  # the tensor's own memory, filled
    numpy_x = torch_bytes(x).view({torch.bfloat16: BF16}.get(dtype, returned.dtype)).reshape(x.shape)
    expected_loss, expected_grad = fusedloss.softmax_cross_entropy(numpy_x, y.numpy(), return_grad=True)
    assert float(loss) == float(expected_loss)
    assert np.array_equal(torch_bytes(grad), np.asarray(expected_grad).view(np.uint8))


def test_torch_tensor_in_place_and_aliasing_rules():
    torch = import_torch()
    x = torch.randn(16, 10, dtype=torch.bfloat16)
    y = torch.randint(0, 10, (16,))
    expected = fusedloss.softmax_cross_entropy(x.clone(), y, return_grad=True)[1]
    fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=x)  # the logits replaced
    assert np.array_equal(torch_bytes(x), expected.view(np.uint8))
    logits_ = torch.randn(16, 10, dtype=torch.bfloat16)
    targets = torch.rand(16, 10, dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="out: overlaps another input array"):
        fusedloss.sigmoid_binary_cross_entropy(logits_, targets, return_grad=True, out=targets)


def test_torch_errors_name_the_problem():
    torch = import_torch()
    needs_grad = torch.randn(3, 4, requires_grad=True)
    with pytest.raises(TypeError, match=r"logits: .*__dlpack__ .*detach"):
        fusedloss.softmax_cross_entropy(needs_grad, np.array([0, 1, 2]))

    class OnGpu:  # what a CUDA tensor answers (this machine has no GPU)
        def __dlpack__(self, **kwargs):
            raise AssertionError("never asked for its memory")

        def __dlpack_device__(self):
            return (2, 0)

    with pytest.raises(TypeError, match=r"logits: got a .*OnGpu on a CUDA device .*CPU"):
        fusedloss.softmax_cross_entropy(OnGpu(), np.array([0]))
    with pytest.raises(TypeError, match=r"labels: expected integer class indices|labels: "):
        fusedloss.softmax_cross_entropy(np.zeros((2, 3), np.float32), torch.zeros(2, dtype=torch.complex64))


def run_python(script, timeout):
    """``script`` in a child Python: its standard output (a non-zero exit fails the test)."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.isa_independent
def test_jax_arrays_in_and_immutable_out_refused():
    """In a child process: an imported JAX makes every later os.fork() warn (the fork tests)."""
    pytest.importorskip("jax")
    script = (
        "import numpy as np, jax.numpy as jnp, fusedloss\n"
        "x = jnp.asarray(np.linspace(-3, 3, 40).reshape(8, 5), dtype=jnp.bfloat16)\n"
        "y = np.arange(8) % 5\n"
        "assert float(fusedloss.softmax_cross_entropy(x, y)) == float(fusedloss.softmax_cross_entropy(np.asarray(x), y))\n"
        "try:\n"
        "    fusedloss.softmax_cross_entropy(np.asarray(x, np.float32), y, return_grad=True, out=jnp.zeros((8, 5)))\n"
        "except ValueError as error:\n"
        "    print(error)\n"
    )
    output = run_python(script, timeout=300)
    assert "out: expected a writeable array, got a ArrayImpl" in output
    assert "(JAX arrays are immutable)" in output


@pytest.mark.isa_independent
def test_a_256_mib_bfloat16_call_makes_no_float32_copy():
    """Issue 20: a PyTorch bfloat16 tensor in and its gradient buffer as out=: the call's own
    allocations (tracemalloc sees every NumPy array) stay far below the 512 MiB a float32 copy
    of the input would take."""
    torch = import_torch()
    x = torch.randn(8192, 16384, dtype=torch.bfloat16)  # 256 MiB
    y = torch.randint(0, 16384, (8192,))
    grad = torch.empty_like(x)
    fusedloss.softmax_cross_entropy(x[:2], y[:2], return_grad=True, out=grad[:2])  # warm imports
    tracemalloc.start()
    try:
        fusedloss.softmax_cross_entropy(x, y, return_grad=True, out=grad)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2 ** 20, f"{peak / 2 ** 20:.1f} MiB allocated"
    assert torch.isfinite(grad).all()


@pytest.mark.isa_independent
def test_package_imports_and_runs_without_ml_dtypes():
    import_torch()
    script = (
        "import sys; sys.modules['ml_dtypes'] = None\n"
        "import numpy as np, fusedloss\n"
        "print(fusedloss.softmax_cross_entropy(np.zeros((2, 3), np.float16), np.array([0, 1])))\n"
        "import torch\n"
        "try:\n"
        "    fusedloss.softmax_cross_entropy(torch.zeros(2, 3, dtype=torch.bfloat16), np.array([0, 1]))\n"
        "except TypeError as error:\n"
        "    print('TypeError', error)\n"
    )
    output = run_python(script, timeout=120)
    assert output.startswith("1.099\n")  # float16 in, a float16 loss out
    assert "TypeError logits: a bfloat16 tensor needs the ml_dtypes package" in output


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_dask_twins_and_numpy_backend_take_16bit(dtype):
    """fusedloss.dask runs the same 16-bit kernels per chunk (bitwise the in-memory gradient,
    the loss's exact float64 partial sums rounded once); the numpy backend computes in float64
    and rounds to the same dtype."""
    # dask comes with the `test` extra (CI runs this); only the sanitizer venv
    # (scripts/sanitize.sh), which has no dask, skips it.
    da = pytest.importorskip("dask.array")
    import fusedloss.dask as fdask

    dtype = DTYPES[dtype]
    x = logits((64, 10), dtype)
    y = np.arange(64) % 10
    loss, grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    dask_loss, dask_grad = fdask.softmax_cross_entropy(da.from_array(x, chunks=(16, 10)),
                                                       da.from_array(y, chunks=16), return_grad=True)
    dask_grad = dask_grad.compute()
    assert dask_grad.dtype == dtype
    assert np.array_equal(bits(dask_grad), bits(grad))
    assert float(dask_loss.compute()) == float(loss)
    p, t = logits((100,), dtype), logits((100,), dtype)
    assert float(fdask.mean_squared_error(da.from_array(p, chunks=30), da.from_array(t, chunks=30)).compute()) \
        == float(fusedloss.mean_squared_error(p, t))
    previous = fusedloss.get_backend()
    fusedloss.set_backend("numpy")
    try:
        reference_loss, reference_grad = fusedloss.softmax_cross_entropy(x, y, return_grad=True)
    finally:
        fusedloss.set_backend(previous)
    assert reference_grad.dtype == dtype
    np.testing.assert_allclose(reference_grad.astype(np.float32), grad.astype(np.float32), rtol=2 ** -7, atol=1e-7)
    np.testing.assert_allclose(float(reference_loss), float(loss), rtol=2 ** -7)
