// Small portable helpers for the generic kernel bodies. Everything here lives in the
// per-instruction-set namespace (FUSEDLOSS_ISA_NAMESPACE), so each unit gets its own copy: no
// inline function is shared between units compiled with different flags.

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define FUSEDLOSS_ALWAYS_INLINE __forceinline
#define FUSEDLOSS_NEVER_INLINE __declspec(noinline)
#define FUSEDLOSS_SIMD_LOOP
#define FUSEDLOSS_SIMD_SUM(...)
#define FUSEDLOSS_SIMD_MAX(...)
#define FUSEDLOSS_SIMD_OR(...)
// No fma builtin (MSVC never fused multiply_add, FMA or not).
#define FUSEDLOSS_HAS_FMA_BUILTIN 0
#else
#define FUSEDLOSS_HAS_FMA_BUILTIN 1
#define FUSEDLOSS_ALWAYS_INLINE inline __attribute__((always_inline))
#define FUSEDLOSS_NEVER_INLINE __attribute__((noinline))
// `omp simd` (enabled by -fopenmp or -fopenmp-simd) lets the compiler vectorise loops with
// reductions without -ffast-math, which would break NaN propagation and reproducibility.
#define FUSEDLOSS_PRAGMA(text) _Pragma(#text)
#define FUSEDLOSS_SIMD_LOOP FUSEDLOSS_PRAGMA(omp simd)
#define FUSEDLOSS_SIMD_SUM(...) FUSEDLOSS_PRAGMA(omp simd reduction(+ : __VA_ARGS__))
#define FUSEDLOSS_SIMD_MAX(...) FUSEDLOSS_PRAGMA(omp simd reduction(max : __VA_ARGS__))
#define FUSEDLOSS_SIMD_OR(...) FUSEDLOSS_PRAGMA(omp simd reduction(| : __VA_ARGS__))
#endif

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// Sums in lanes: lane[j % sum_lanes] += term(j), the lanes added as a tree at the end.
// Why not FUSEDLOSS_SIMD_SUM: for an `omp simd` reduction GCC ends each loop with an in-order
// scalar sum of every lane through the stack (32 dependent adds on AVX-512, ~110 cycles), which
// the softmax rows paid once per 512-element piece (13 % of a bfloat16 softmax-CE row at
// C = 32000). Lanes can also be carried from one loop to the next (the pieces of a row). The
// order is fixed by sum_lanes (two registers' worth: 32 floats on AVX-512, 16 on AVX2, 8 on
// the baseline), so the result is deterministic.
template <class Real>
constexpr int sum_lanes = 2 * IsaTraits::vector_bytes / static_cast<int>(sizeof(Real));

// lane[j % sum_lanes] += term(j) for j < count (count a multiple of sum_lanes except in the
// last call on a set of lanes).
template <class Real, class Term>
FUSEDLOSS_ALWAYS_INLINE void add_to_lanes(Real* lane, std::int64_t count, Term term) {
    constexpr int lanes = sum_lanes<Real>;
    std::int64_t j = 0;
    for (; j + lanes <= count; j += lanes) {
        FUSEDLOSS_SIMD_LOOP
        for (int l = 0; l < lanes; ++l) lane[l] += term(j + l);
    }
    for (int l = 0; j < count; ++j, ++l) lane[l] += term(j);
}

template <class Sum>
FUSEDLOSS_ALWAYS_INLINE Sum sum_of_lanes(Sum* lane, int lanes) {
    for (int width = lanes / 2; width > 0; width /= 2) {
        for (int l = 0; l < width; ++l) lane[l] += lane[l + width];
    }
    return lane[0];
}

template <class To, class From>
FUSEDLOSS_ALWAYS_INLINE To bit_cast_value(From value) {
    static_assert(sizeof(To) == sizeof(From), "bit_cast_value needs equal sizes");
    return __builtin_bit_cast(To, value);
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE bool is_finite_value(Real value) {
    // x - x is 0 for finite x and NaN for +-inf and NaN.
    return (value - value) == (value - value);
}

// Asks for the cache lines of [address, address + bytes) ahead of their use (a hint: no fault,
// no effect on results).
FUSEDLOSS_ALWAYS_INLINE void prefetch_bytes(const void* address, std::int64_t bytes) {
    const char* first = static_cast<const char*>(address);
    for (std::int64_t offset = 0; offset < bytes; offset += 64) {
#if defined(_MSC_VER) && !defined(__clang__) && (defined(_M_X64) || defined(_M_IX86))
        _mm_prefetch(first + offset, _MM_HINT_T0);
#elif defined(_MSC_VER) && !defined(__clang__)
        (void)first;  // MSVC on ARM64: no portable prefetch intrinsic; a hint, so none
#else
        __builtin_prefetch(first + offset, 0, 3);
#endif
    }
}

// a * b + c in one rounding where the instruction set has FMA (IsaTraits, dispatch/traits_*.hpp),
// two roundings where it has not.
// The kernels are compiled with -ffp-contract=off (CMakeLists.txt), so this is the only place a
// multiply and an add are fused: each expression rounds the same way in every instantiation of
// a kernel (forward-only or with a gradient, SIMD body or scalar remainder), which is what makes
// a loss independent of whether its gradient was asked for.
// (The builtins, not std::fma: an inline function of std could be kept by the linker from the
// unit of another instruction set.)
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real multiply_add(Real a, Real b, Real c) {
#if FUSEDLOSS_HAS_FMA_BUILTIN
    if constexpr (IsaTraits::has_fma) {
        if constexpr (sizeof(Real) == sizeof(float)) {
            return __builtin_fmaf(a, b, c);
        } else {
            return __builtin_fma(a, b, c);
        }
    }
#endif
    return a * b + c;
}

// Natural log of one value per row; the libm call is an extern "C" function, not an inline one.
FUSEDLOSS_ALWAYS_INLINE float log_scalar(float value) { return ::logf(value); }
FUSEDLOSS_ALWAYS_INLINE double log_scalar(double value) { return ::log(value); }

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
