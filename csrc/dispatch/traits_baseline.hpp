// What the generic kernels need to know about the baseline instruction set: SSE2 on x86-64,
// Advanced SIMD (NEON) on aarch64 -- the flags of the compiler's default target, none added.
// Every per-ISA fact the generic body uses is here; the body itself never tests an ISA macro.

#define FUSEDLOSS_ISA_NAMESPACE baseline
// On aarch64 the baseline already has NEON (Advanced SIMD), so the table is named after it.
#if defined(__aarch64__) || defined(_M_ARM64)
#define FUSEDLOSS_ISA_NAME "neon"
#define FUSEDLOSS_BASELINE_HAS_FMA true
#else
#define FUSEDLOSS_ISA_NAME "baseline"
#define FUSEDLOSS_BASELINE_HAS_FMA false
#endif

#include <cstdint>

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

struct IsaTraits {
    // Bytes in one SIMD register.
    static constexpr int vector_bytes = 16;
    // A fused multiply-add instruction (one rounding): AArch64 has one, SSE2 has not.
    static constexpr bool has_fma = FUSEDLOSS_BASELINE_HAS_FMA;
    // F16C (IEEE half <-> float32 conversions in hardware: widen_float16 / narrow_scaled_float16).
    static constexpr bool has_f16c = false;
    // No half-precision conversion instructions assumed (SSE2 has none): the generic body
    // converts every element with integer and float32 operations (low_precision.inl).
    static std::int64_t widen_float16(const std::uint16_t*, float*, std::int64_t) { return 0; }
    template <bool streaming = false>
    static std::int64_t narrow_scaled_float16(const float*, float, std::uint16_t*, std::int64_t) { return 0; }
    // bfloat16 rounding in hardware (AVX-512 BF16): none here, the integer rule does it.
    template <bool streaming = false>
    static std::int64_t narrow_scaled_bfloat16(const float*, float, std::uint16_t*, std::int64_t) { return 0; }
    // No non-temporal stores assumed (the portable fallback; see traits_avx512.hpp): outputs
    // are written as any store.
    static constexpr bool has_streaming_stores = false;
    template <class Real>
    static std::int64_t stream_scaled(const Real*, Real, Real*, std::int64_t) { return 0; }
    static void store_fence() {}
    static constexpr bool may_round_bfloat16_in_hardware = false;
    static bool rounds_bfloat16_in_hardware() { return false; }
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss

#undef FUSEDLOSS_BASELINE_HAS_FMA
