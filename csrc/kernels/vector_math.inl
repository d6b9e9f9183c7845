// Vectorisable exp for float32 and float64: branch-free (selects, not branches), integer work
// done on bit patterns, so that the compiler turns a loop over exp_value() into SIMD code.
//
// Method (Cephes / fdlibm style): exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2
// with ln 2 split in a high part (exact product with n) and a low part, |r| <= ln2/2, exp(r) by
// a polynomial. Rounding uses the 1.5 * 2^mantissa_bits trick, which leaves n in the low bits
// of the sum: no float-to-int conversion instruction is needed (AVX2 has none for int64).
// 2^n is applied as two factors 2^h * 2^(n-h), h ~ n/2, so that results in the subnormal range
// are produced without an intermediate under/overflow. Inputs beyond the range give exactly
// 0 or +inf; NaN propagates. Accuracy is measured in tests/test_vector_math.py.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// exp(r) for |r| <= ln2/2 as 1 + r + r^2 q(r), q of degree 4 fitted for the least maximum
// relative error (Lawson-weighted least squares; 3.1e-9 = 0.05 ulp before rounding, so the
// result's error is the rounding of the evaluation: measured <= 1.01 ulp, tests/test_vector_math.py).
// One multiply-add fewer than the degree-7 Cephes polynomial this replaced, same accuracy.
FUSEDLOSS_ALWAYS_INLINE float exp_reduced_polynomial(float r) {
    float q = 1.3814539416e-03f;
    q = multiply_add(q, r, 8.3687454462e-03f);
    q = multiply_add(q, r, 4.1668388993e-02f);
    q = multiply_add(q, r, 1.6666521132e-01f);
    q = multiply_add(q, r, 4.9999994040e-01f);
    return multiply_add(q, r * r, r) + 1.0f;
}

FUSEDLOSS_ALWAYS_INLINE float exp_value(float x) {
    const float overflow_threshold = 88.72283935546875f;  // above: exp(x) > FLT_MAX
    const float underflow_threshold = -104.0f;           // below: exp(x) < min subnormal / 2
    const float round_magic = 12582912.0f;                // 1.5 * 2^23
    const float log2e = 1.44269504088896341f;
    const float ln2_high = 0.693359375f;                  // 9 significant bits: n*ln2_high exact
    const float ln2_low = -2.12194440e-4f;
    float clamped = x < underflow_threshold ? underflow_threshold : x;
    clamped = clamped > overflow_threshold ? overflow_threshold : clamped;
    const float shifted = multiply_add(clamped, log2e, round_magic);
    const float n = shifted - round_magic;
    const std::int32_t n_int =
        bit_cast_value<std::int32_t>(shifted) - bit_cast_value<std::int32_t>(round_magic);
    const float half_shifted = multiply_add(n, 0.5f, round_magic);
    const std::int32_t h_int =
        bit_cast_value<std::int32_t>(half_shifted) - bit_cast_value<std::int32_t>(round_magic);
    float r = multiply_add(-n, ln2_high, clamped);
    r = multiply_add(-n, ln2_low, r);
    const float p = exp_reduced_polynomial(r);
    const float scale_a = bit_cast_value<float>(
        static_cast<std::uint32_t>(h_int + 127) << 23);
    const float scale_b = bit_cast_value<float>(
        static_cast<std::uint32_t>(n_int - h_int + 127) << 23);
    float result = p * scale_a * scale_b;
    result = x > overflow_threshold ? __builtin_huge_valf() : result;
    result = x < underflow_threshold ? 0.0f : result;
    return result;
}

FUSEDLOSS_ALWAYS_INLINE double exp_value(double x) {
    const double overflow_threshold = 709.782712893383973096;  // above: exp(x) > DBL_MAX
    const double underflow_threshold = -746.0;                 // below: exp(x) rounds to 0
    const double round_magic = 6755399441055744.0;             // 1.5 * 2^52
    const double log2e = 1.4426950408889634074;
    const double ln2_high = 6.93147180369123816490e-01;        // fdlibm split of ln 2
    const double ln2_low = 1.90821492927058770002e-10;
    double clamped = x < underflow_threshold ? underflow_threshold : x;
    clamped = clamped > overflow_threshold ? overflow_threshold : clamped;
    const double shifted = multiply_add(clamped, log2e, round_magic);
    const double n = shifted - round_magic;
    const std::int64_t n_int =
        bit_cast_value<std::int64_t>(shifted) - bit_cast_value<std::int64_t>(round_magic);
    const double half_shifted = multiply_add(n, 0.5, round_magic);
    const std::int64_t h_int =
        bit_cast_value<std::int64_t>(half_shifted) - bit_cast_value<std::int64_t>(round_magic);
    double r = multiply_add(-n, ln2_high, clamped);
    r = multiply_add(-n, ln2_low, r);
    // Taylor polynomial of degree 13: truncation error < 0.05 ulp for |r| <= ln2/2.
    double p = 1.0 / 6227020800.0;
    p = multiply_add(p, r, 1.0 / 479001600.0);
    p = multiply_add(p, r, 1.0 / 39916800.0);
    p = multiply_add(p, r, 1.0 / 3628800.0);
    p = multiply_add(p, r, 1.0 / 362880.0);
    p = multiply_add(p, r, 1.0 / 40320.0);
    p = multiply_add(p, r, 1.0 / 5040.0);
    p = multiply_add(p, r, 1.0 / 720.0);
    p = multiply_add(p, r, 1.0 / 120.0);
    p = multiply_add(p, r, 1.0 / 24.0);
    p = multiply_add(p, r, 1.0 / 6.0);
    p = multiply_add(p, r, 0.5);
    p = multiply_add(p, r * r, r) + 1.0;
    const double scale_a = bit_cast_value<double>(
        static_cast<std::uint64_t>(h_int + 1023) << 52);
    const double scale_b = bit_cast_value<double>(
        static_cast<std::uint64_t>(n_int - h_int + 1023) << 52);
    double result = p * scale_a * scale_b;
    result = x > overflow_threshold ? __builtin_huge_val() : result;
    result = x < underflow_threshold ? 0.0 : result;
    return result;
}

// exp(d) for d <= 0 or NaN only (softmax: d = x - max x with a finite max), cheaper than
// exp_value: same reduction and polynomial, but no overflow branch and a single 2^n factor,
// because results below exp(-86) = 4.5e-38 (float32; exp(-708) in float64) are flushed to
// exactly 0 (they are that small a fraction of the row's largest term, below every tolerance).
// NaN propagates (any payload, either sign), -inf gives 0.
// 2^n is built from the bits of `shifted` without a float-to-int conversion: the rounding
// constant is 1.5 * 2^23 + 127 (a whole number, exact in float32), so the low bits of `shifted`
// hold n + 127, and shifted_bits << 23 is the bit pattern of 2^n (n + 127 >= 3 for d >= -86, and
// n <= 0: a normal number). It is applied by a multiply, not by adding n to p's exponent field:
// an integer add would also "scale" a NaN p and could turn its payload bits into a finite value
// (R's NA_real_, 0x7FF00000000007A2, became a number), where NaN * 2^n stays NaN.
// Below `lowest` the intermediate values are meaningless (2^n's bits wrap, r may be NaN for
// d = -inf) and are not clamped: the final select replaces them with 0, and the kept lanes
// (d >= lowest or NaN) compute exactly what a clamp would have left them (one blend fewer per
// vector; floating-point exceptions are never inspected: -fno-trapping-math).
FUSEDLOSS_ALWAYS_INLINE float exp_nonpositive(float d) {
    const float lowest = -86.0f;                          // exp(-86) = 4.5e-38 > FLT_MIN
    const float round_magic = 12583039.0f;                // 1.5 * 2^23 + 127
    const float log2e = 1.44269504088896341f;
    const float ln2_high = 0.693359375f;
    const float ln2_low = -2.12194440e-4f;
    const float shifted = multiply_add(d, log2e, round_magic);
    const float n = shifted - round_magic;
    float r = multiply_add(-n, ln2_high, d);
    r = multiply_add(-n, ln2_low, r);
    const float p = exp_reduced_polynomial(r);
    const float power_of_two = bit_cast_value<float>(bit_cast_value<std::uint32_t>(shifted) << 23);
    const float result = p * power_of_two;
    return d < lowest ? 0.0f : result;
}

FUSEDLOSS_ALWAYS_INLINE double exp_nonpositive(double d) {
    const double lowest = -708.0;                              // exp(-708) > DBL_MIN
    const double round_magic = 6755399441056767.0;             // 1.5 * 2^52 + 1023
    const double log2e = 1.4426950408889634074;
    const double ln2_high = 6.93147180369123816490e-01;
    const double ln2_low = 1.90821492927058770002e-10;
    const double shifted = multiply_add(d, log2e, round_magic);
    const double n = shifted - round_magic;
    double r = multiply_add(-n, ln2_high, d);
    r = multiply_add(-n, ln2_low, r);
    double p = 1.0 / 6227020800.0;
    p = multiply_add(p, r, 1.0 / 479001600.0);
    p = multiply_add(p, r, 1.0 / 39916800.0);
    p = multiply_add(p, r, 1.0 / 3628800.0);
    p = multiply_add(p, r, 1.0 / 362880.0);
    p = multiply_add(p, r, 1.0 / 40320.0);
    p = multiply_add(p, r, 1.0 / 5040.0);
    p = multiply_add(p, r, 1.0 / 720.0);
    p = multiply_add(p, r, 1.0 / 120.0);
    p = multiply_add(p, r, 1.0 / 24.0);
    p = multiply_add(p, r, 1.0 / 6.0);
    p = multiply_add(p, r, 0.5);
    p = multiply_add(p, r * r, r) + 1.0;
    // As in float32: the low bits of `shifted` hold n + 1023 >= 2, a normal 2^n.
    const double power_of_two = bit_cast_value<double>(bit_cast_value<std::uint64_t>(shifted) << 52);
    const double result = p * power_of_two;
    return d < lowest ? 0.0 : result;
}

// expm1(x) for -ln 2 <= x <= 0 (or NaN), branch-free: x + x^2 q(x), q the Taylor series of
// (e^x - 1 - x) / x^2 to degree 15 (truncation below 1e-19 of the result for |x| <= ln 2), so
// that the result keeps full relative accuracy down to the smallest x (no 1 - e^x
// cancellation). Outside that range the value is not meaningful (callers select it away).
FUSEDLOSS_ALWAYS_INLINE double expm1_small_value(double x) {
    double q = 1.0 / 355687428096000.0;  // 1 / 17!
    q = multiply_add(q, x, 1.0 / 20922789888000.0);
    q = multiply_add(q, x, 1.0 / 1307674368000.0);
    q = multiply_add(q, x, 1.0 / 87178291200.0);
    q = multiply_add(q, x, 1.0 / 6227020800.0);
    q = multiply_add(q, x, 1.0 / 479001600.0);
    q = multiply_add(q, x, 1.0 / 39916800.0);
    q = multiply_add(q, x, 1.0 / 3628800.0);
    q = multiply_add(q, x, 1.0 / 362880.0);
    q = multiply_add(q, x, 1.0 / 40320.0);
    q = multiply_add(q, x, 1.0 / 5040.0);
    q = multiply_add(q, x, 1.0 / 720.0);
    q = multiply_add(q, x, 1.0 / 120.0);
    q = multiply_add(q, x, 1.0 / 24.0);
    q = multiply_add(q, x, 1.0 / 6.0);
    q = multiply_add(q, x, 0.5);
    return multiply_add(q, x * x, x);
}

// Vectorisable tanh from exp_value, branch-free. For |u| >= 0.55 (tanh >= 0.5)
// sign(u) * (1 - 2 / (exp(2|u|) + 1)): the subtraction cancels at most one bit there, so exp's
// <= 1 ulp stays <= ~2 ulp; exp overflowing to +inf gives exactly +-1, NaN propagates. Below,
// where that subtraction would cancel (13 ulp at |u| = 0.1 in float64), the Taylor series
// u + u^3 (-1/3 + u^2 (2/15 + ...)) with coefficients 2^2n (2^2n - 1) B_2n / (2n)!, truncated
// where the next term is below 1e-9 (float32) / 1e-17 (float64) relative at |u| = 0.55.
// Accuracy: tests/test_vector_math.py.
FUSEDLOSS_ALWAYS_INLINE float tanh_value(float u) {
    const float a = u < 0.0f ? -u : u;
    const float a2 = a * a;
    float p = -0.0002391291200183332f;
    p = multiply_add(p, a2, 0.0005900274263694882f);
    p = multiply_add(p, a2, -0.0014558343682438135f);
    p = multiply_add(p, a2, 0.0035921279340982437f);
    p = multiply_add(p, a2, -0.0088632358238101f);
    p = multiply_add(p, a2, 0.021869488060474396f);
    p = multiply_add(p, a2, -0.05396825447678566f);
    p = multiply_add(p, a2, 0.13333334028720856f);
    p = multiply_add(p, a2, -0.3333333432674408f);
    const float small = multiply_add(a * a2, p, a);
    const float large = 1.0f - 2.0f / (exp_value(2.0f * a) + 1.0f);
    const float result = a < 0.55f ? small : large;
    return u < 0.0f ? -result : result;
}

FUSEDLOSS_ALWAYS_INLINE double tanh_value(double u) {
    const double a = u < 0.0 ? -u : u;
    const double a2 = a * a;
    double p = 7.054636946400968e-08;
    p = multiply_add(p, a2, -1.7406618963571648e-07);
    p = multiply_add(p, a2, 4.294911078273806e-07);
    p = multiply_add(p, a2, -1.0597268320104654e-06);
    p = multiply_add(p, a2, 2.6147711512907546e-06);
    p = multiply_add(p, a2, -6.451689215655431e-06);
    p = multiply_add(p, a2, 1.5918905069328964e-05);
    p = multiply_add(p, a2, -3.927832388331683e-05);
    p = multiply_add(p, a2, 9.691537956929451e-05);
    p = multiply_add(p, a2, -0.00023912911424355248);
    p = multiply_add(p, a2, 0.000590027440945586);
    p = multiply_add(p, a2, -0.0014558343870513183);
    p = multiply_add(p, a2, 0.003592128036572481);
    p = multiply_add(p, a2, -0.008863235529902197);
    p = multiply_add(p, a2, 0.021869488536155203);
    p = multiply_add(p, a2, -0.05396825396825397);
    p = multiply_add(p, a2, 0.13333333333333333);
    p = multiply_add(p, a2, -0.3333333333333333);
    const double small = multiply_add(a * a2, p, a);
    const double large = 1.0 - 2.0 / (exp_value(2.0 * a) + 1.0);
    const double result = a < 0.55 ? small : large;
    return u < 0.0 ? -result : result;
}

// k ln 2 + log(1 + f) for |f| <= 1/2 and a whole number k (fdlibm's kernel, shared by
// log_value and log1p_unit_interval): log(1 + f) = 2 atanh(s), s = f / (2 + f), written as
// f - (hfsq - s (hfsq + R)) with hfsq = f^2/2 and R = z (2/3 + 2z/5 + ...), z = s^2 <= 0.04
// (0.0295 in log_value): the Taylor series of atanh, truncated where its remainder is below
// 0.01 ulp; k ln 2 is added with ln 2 split in a high part (exact product with k) and a low part.
FUSEDLOSS_ALWAYS_INLINE float log_reduced(float f, float k) {
    const float s = f / (2.0f + f);
    const float z = s * s;
    float r = 2.0f / 11.0f;
    r = multiply_add(r, z, 2.0f / 9.0f);
    r = multiply_add(r, z, 2.0f / 7.0f);
    r = multiply_add(r, z, 2.0f / 5.0f);
    r = multiply_add(r, z, 2.0f / 3.0f);
    r = r * z;
    const float hfsq = 0.5f * f * f;
    const float ln2_high = 0.693359375f;
    const float ln2_low = -2.12194440e-4f;
    return multiply_add(k, ln2_high, -((hfsq - multiply_add(s, hfsq + r, k * ln2_low)) - f));
}

FUSEDLOSS_ALWAYS_INLINE double log_reduced(double f, double k) {
    const double s = f / (2.0 + f);
    const double z = s * s;
    double r = 2.0 / 23.0;
    r = multiply_add(r, z, 2.0 / 21.0);
    r = multiply_add(r, z, 2.0 / 19.0);
    r = multiply_add(r, z, 2.0 / 17.0);
    r = multiply_add(r, z, 2.0 / 15.0);
    r = multiply_add(r, z, 2.0 / 13.0);
    r = multiply_add(r, z, 2.0 / 11.0);
    r = multiply_add(r, z, 2.0 / 9.0);
    r = multiply_add(r, z, 2.0 / 7.0);
    r = multiply_add(r, z, 2.0 / 5.0);
    r = multiply_add(r, z, 2.0 / 3.0);
    r = r * z;
    const double hfsq = 0.5 * f * f;
    const double ln2_high = 6.93147180369123816490e-01;
    const double ln2_low = 1.90821492927058770002e-10;
    return multiply_add(k, ln2_high, -((hfsq - multiply_add(s, hfsq + r, k * ln2_low)) - f));
}

// Vectorisable natural log, float32 and float64, branch-free (fdlibm's method): subnormal
// inputs are first scaled by 2^k0; x = 2^k * m with m in [sqrt(1/2), sqrt(2)) read from the
// exponent bits (the offset of sqrt(1/2)'s bit pattern puts m there without a branch), then
// log_reduced(m - 1, k). Special values by selects: log(+-0) = -inf, log(x < 0) = NaN,
// log(+inf) = +inf, NaN propagates. Accuracy: tests/test_vector_log.py.
FUSEDLOSS_ALWAYS_INLINE float log_value(float x) {
    const float smallest_normal = 1.17549435e-38f;
    const bool subnormal = x < smallest_normal;
    const float scaled = subnormal ? x * 33554432.0f : x;  // 2^25
    const std::uint32_t bits = bit_cast_value<std::uint32_t>(scaled);
    const std::uint32_t sqrt_half_bits = 0x3f3504f3u;
    const std::uint32_t shifted = bits + (0x3f800000u - sqrt_half_bits);
    const std::int32_t k_int = static_cast<std::int32_t>(shifted >> 23) - 127;
    const float m = bit_cast_value<float>((shifted & 0x007fffffu) + sqrt_half_bits);
    const float k = static_cast<float>(k_int) - (subnormal ? 25.0f : 0.0f);
    float result = log_reduced(m - 1.0f, k);
    result = x < 0.0f ? __builtin_nanf("") : result;
    result = x == 0.0f ? -__builtin_huge_valf() : result;
    result = x == __builtin_huge_valf() ? x : result;
    result = x != x ? x : result;
    return result;
}

FUSEDLOSS_ALWAYS_INLINE double log_value(double x) {
    const double smallest_normal = 2.2250738585072014e-308;
    const bool subnormal = x < smallest_normal;
    const double scaled = subnormal ? x * 18014398509481984.0 : x;  // 2^54
    const std::uint64_t bits = bit_cast_value<std::uint64_t>(scaled);
    const std::uint64_t sqrt_half_bits = 0x3fe6a09e667f3bcdull;
    const std::uint64_t shifted = bits + (0x3ff0000000000000ull - sqrt_half_bits);
    // k as a double without an int64 -> double conversion (AVX2 has none): the exponent field
    // (11 bits) is added to the bits of 2^52 and 2^52 is subtracted.
    const double exponent_field = bit_cast_value<double>((shifted >> 52) | 0x4330000000000000ull) -
                                  4503599627370496.0;
    const double m = bit_cast_value<double>((shifted & 0x000fffffffffffffull) + sqrt_half_bits);
    const double k = exponent_field - 1023.0 - (subnormal ? 54.0 : 0.0);
    double result = log_reduced(m - 1.0, k);
    result = x < 0.0 ? __builtin_nan("") : result;
    result = x == 0.0 ? -__builtin_huge_val() : result;
    result = x == __builtin_huge_val() ? x : result;
    result = x != x ? x : result;
    return result;
}

// log(1 + e) for 0 <= e <= 1 (e = exp(-|x|) in the sigmoid losses) or NaN. Neither the general
// log_value(1 + e) nor its rounding of 1 + e is needed: with u = 1 + e in [1, 2],
//   e < 1/2:  log u = log1p(f), f = e;
//   e >= 1/2: log u = ln 2 + log1p(f), f = u / 2 - 1 = (e - 1) / 2 (exact: Sterbenz, then * 1/2),
// so f lies in [-1/4, 1/2) and is exact: log_reduced(f, k) without log_value's range reduction,
// subnormal scaling or special-value selects (e is in [0, 1]; a NaN e propagates through the
// arithmetic). One division instead of the two of log_value(1 + e) with a correction term.
// The two cases are one expression, f = (e - k) * 2^-k with k and 2^-k made from the bits of
// a comparison mask: with a select (or with k a converted bool, whose values GCC knows) GCC
// threaded the condition through the rest of the element's code, computing the division of
// each case (three divisions a vector in BCE instead of two: +12 %). e - 0 and e * 1 are
// exact, so f is the same bits as the select's.
// Accuracy: tests/test_vector_log.py (log1p_unit_interval).
template <class Real>
struct UnitBits;
template <>
struct UnitBits<float> {
    using type = std::uint32_t;
    static constexpr type one = 0x3f800000u;            // 1.0f
    static constexpr type exponent_one = 0x00800000u;   // one step of the exponent field
};
template <>
struct UnitBits<double> {
    using type = std::uint64_t;
    static constexpr type one = 0x3ff0000000000000ull;
    static constexpr type exponent_one = 0x0010000000000000ull;
};
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real log1p_unit_interval(Real e) {
    using Bits = typename UnitBits<Real>::type;
    const Bits upper = Bits(0) - static_cast<Bits>(e >= Real(0.5));  // all ones for e >= 1/2
    const Real k = bit_cast_value<Real>(UnitBits<Real>::one & upper);  // 1 or 0
    const Real scale = bit_cast_value<Real>(UnitBits<Real>::one - (UnitBits<Real>::exponent_one & upper));  // 1/2 or 1
    return log_reduced((e - k) * scale, k);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
