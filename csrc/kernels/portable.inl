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
