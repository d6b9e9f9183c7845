// What the generic kernels need to know about the avx2 instruction set: AVX2 with FMA and F16C,
// the flags CMakeLists.txt gives csrc/dispatch/isa_avx2.cpp. Every per-ISA fact the generic body
// uses is here; the body itself never tests an ISA macro.

#define FUSEDLOSS_ISA_NAMESPACE avx2
#define FUSEDLOSS_ISA_NAME "avx2"

#if (defined(__GNUC__) || defined(__clang__)) && !(defined(__AVX2__) && defined(__FMA__))
#error "isa_avx2.cpp must be compiled with -mavx2 -mfma (CMakeLists.txt)"
#endif

#include <immintrin.h>

#include <cstdint>

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

struct IsaTraits {
    // Bytes in one SIMD register.
    static constexpr int vector_bytes = 32;
    // A fused multiply-add instruction (one rounding).
    static constexpr bool has_fma = true;
    // F16C (IEEE half <-> float32 conversions in hardware: widen_float16 / narrow_scaled_float16).
    static constexpr bool has_f16c = true;
    // IEEE half <-> float32 with F16C (VCVTPH2PS / VCVTPS2PH, round to nearest even): the
    // leading multiple of 8 elements; returns how many were converted (the caller converts
    // the rest as the baseline does, to the same bits).
    static std::int64_t widen_float16(const std::uint16_t* input, float* output, std::int64_t count) {
        std::int64_t i = 0;
        for (; i + 8 <= count; i += 8) _mm256_storeu_ps(output + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(input + i))));
        return i;
    }
    // output_j = half(input_j * factor) (a float32 product, then VCVTPS2PH): a gradient tile
    // scaled and rounded in one pass (factor 1 for a plain conversion).
    // (streaming: non-temporal stores, output 64-byte aligned; see has_streaming_stores)
    template <bool streaming = false>
    static std::int64_t narrow_scaled_float16(const float* input, float factor, std::uint16_t* output,
                                              std::int64_t count) {
        const __m256 scale = _mm256_set1_ps(factor);
        std::int64_t i = 0;
        for (; i + 8 <= count; i += 8) {
            const __m256 values = _mm256_mul_ps(_mm256_loadu_ps(input + i), scale);
            const __m128i rounded = _mm256_cvtps_ph(values, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            if (streaming) {
                _mm_stream_si128(reinterpret_cast<__m128i*>(output + i), rounded);
            } else {
                _mm_storeu_si128(reinterpret_cast<__m128i*>(output + i), rounded);
            }
        }
        return i;
    }
    // bfloat16 rounding in hardware (AVX-512 BF16): none here, the integer rule does it.
    template <bool streaming = false>
    static std::int64_t narrow_scaled_bfloat16(const float*, float, std::uint16_t*, std::int64_t) { return 0; }
    // Non-temporal stores for outputs far larger than the cache (see traits_avx512.hpp).
    static constexpr bool has_streaming_stores = true;
    static std::int64_t stream_scaled(const float* input, float factor, float* output, std::int64_t count) {
        const __m256 scale = _mm256_set1_ps(factor);
        std::int64_t i = 0;
        for (; i + 8 <= count; i += 8) _mm256_stream_ps(output + i, _mm256_mul_ps(_mm256_loadu_ps(input + i), scale));
        return i;
    }
    static std::int64_t stream_scaled(const double* input, double factor, double* output, std::int64_t count) {
        const __m256d scale = _mm256_set1_pd(factor);
        std::int64_t i = 0;
        for (; i + 4 <= count; i += 4) _mm256_stream_pd(output + i, _mm256_mul_pd(_mm256_loadu_pd(input + i), scale));
        return i;
    }
    static void store_fence() { _mm_sfence(); }
    static constexpr bool may_round_bfloat16_in_hardware = false;
    static bool rounds_bfloat16_in_hardware() { return false; }
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
