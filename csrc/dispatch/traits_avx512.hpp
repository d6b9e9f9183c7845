// What the generic kernels need to know about the avx512 instruction set: AVX-512 F/BW/DQ/VL
// with AVX2, FMA and F16C, the flags CMakeLists.txt gives csrc/dispatch/isa_avx512.cpp. Every
// per-ISA fact the generic body uses is here; the body itself never tests an ISA macro.

#define FUSEDLOSS_ISA_NAMESPACE avx512
#define FUSEDLOSS_ISA_NAME "avx512"

#if (defined(__GNUC__) || defined(__clang__)) && !(defined(__AVX512F__) && defined(__FMA__))
#error "isa_avx512.cpp must be compiled with -mavx512f ... -mfma (CMakeLists.txt)"
#endif

#include <immintrin.h>

#include <cstdint>

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

#if defined(__GNUC__) || defined(__clang__)
// AVX-512 BF16 is not part of the AVX-512 this unit is compiled for (Cooper Lake, Zen 4 and
// later have it): this one function is compiled for it and runs only where the CPU says so.
// VCVTNE2PS2BF16 rounds to nearest even and quiets a NaN exactly as the integer rule of
// low_precision.inl (narrow_bfloat16_value), but flushes a subnormal float32 to zero, which the
// integer rule rounds to a subnormal bfloat16: a group of 32 holding one stops the loop there.
template <bool streaming>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) std::int64_t narrow_scaled_bfloat16_bf16(
    const float* input, float factor, std::uint16_t* output, std::int64_t count) {
    const __m512 scale = _mm512_set1_ps(factor);
    constexpr int subnormal = 0x20;  // VFPCLASSPS: denormal
    // Whole groups unmasked (masking every group was 5-10 % slower), the last few masked (the
    // lanes past the end read and write nothing).
    std::int64_t i = 0;
    for (; i < count; i += 32) {
        const std::int64_t left = count - i;
        __m512 low, high;
        __mmask32 lanes = ~__mmask32{0};
        if (left >= 32) {
            low = _mm512_loadu_ps(input + i);
            high = _mm512_loadu_ps(input + i + 16);
        } else {
            lanes = static_cast<__mmask32>((std::uint64_t{1} << left) - 1);
            low = _mm512_maskz_loadu_ps(static_cast<__mmask16>(lanes), input + i);
            high = _mm512_maskz_loadu_ps(static_cast<__mmask16>(lanes >> 16), input + i + 16);
        }
        low = _mm512_mul_ps(low, scale);
        high = _mm512_mul_ps(high, scale);
        if ((_mm512_fpclass_ps_mask(low, subnormal) | _mm512_fpclass_ps_mask(high, subnormal)) != 0) return i;
        const __m512i rounded = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(high, low));
        if (left >= 32) {
            if (streaming) {
                _mm512_stream_si512(reinterpret_cast<__m512i*>(output + i), rounded);
            } else {
                _mm512_storeu_si512(output + i, rounded);
            }
        } else {
            _mm512_mask_storeu_epi16(output + i, lanes, rounded);
        }
    }
    return count;
}

const bool cpu_has_avx512_bf16 = __builtin_cpu_supports("avx512bf16");
#endif

struct IsaTraits {
    // Bytes in one SIMD register.
    static constexpr int vector_bytes = 64;
    // A fused multiply-add instruction (one rounding).
    static constexpr bool has_fma = true;
    // F16C (IEEE half <-> float32 conversions in hardware: widen_float16 / narrow_scaled_float16).
    static constexpr bool has_f16c = true;
    // (The maskz forms: the unmasked ones read an undefined register, which GCC 12 warns of.)
    // IEEE half <-> float32 with F16C (VCVTPH2PS / VCVTPS2PH, round to nearest even): the
    // leading multiple of 16 elements; returns how many were converted (the caller converts
    // the rest as the baseline does, to the same bits).
    static std::int64_t widen_float16(const std::uint16_t* input, float* output, std::int64_t count) {
        std::int64_t i = 0;
        for (; i + 16 <= count; i += 16) _mm512_storeu_ps(output + i, _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(input + i))));
        return i;
    }
    // output_j = half(input_j * factor) (a float32 product, then VCVTPS2PH): a gradient tile
    // scaled and rounded in one pass (factor 1 for a plain conversion).
    // (streaming: non-temporal stores, output 64-byte aligned; see has_streaming_stores)
    template <bool streaming = false>
    static std::int64_t narrow_scaled_float16(const float* input, float factor, std::uint16_t* output,
                                              std::int64_t count) {
        const __m512 scale = _mm512_set1_ps(factor);
        std::int64_t i = 0;
        for (; i + 16 <= count; i += 16) {
            const __m512 values = _mm512_mul_ps(_mm512_loadu_ps(input + i), scale);
            const __m256i rounded = _mm512_maskz_cvtps_ph(0xffff, values, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            if (streaming) {
                _mm256_stream_si256(reinterpret_cast<__m256i*>(output + i), rounded);
            } else {
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(output + i), rounded);
            }
        }
        return i;
    }
    // Non-temporal stores (MOVNTPS and kin: written to memory without first reading the line
    // into the cache) for outputs far larger than the cache: low_precision.inl's
    // streams_output says when. output_j = input_j * factor for the leading whole vectors,
    // output 64-byte aligned; returns how many.
    static constexpr bool has_streaming_stores = true;
    static std::int64_t stream_scaled(const float* input, float factor, float* output, std::int64_t count) {
        const __m512 scale = _mm512_set1_ps(factor);
        std::int64_t i = 0;
        for (; i + 16 <= count; i += 16) _mm512_stream_ps(output + i, _mm512_mul_ps(_mm512_loadu_ps(input + i), scale));
        return i;
    }
    static std::int64_t stream_scaled(const double* input, double factor, double* output, std::int64_t count) {
        const __m512d scale = _mm512_set1_pd(factor);
        std::int64_t i = 0;
        for (; i + 8 <= count; i += 8) _mm512_stream_pd(output + i, _mm512_mul_pd(_mm512_loadu_pd(input + i), scale));
        return i;
    }
    // Orders this thread's non-temporal stores before whatever it stores next (the pool's
    // "task done"): they bypass the usual store order.
    static void store_fence() { _mm_sfence(); }
    // Whether narrow_scaled_bfloat16 may round anything (a kernel that must stage its values
    // for it keeps its other path elsewhere), and whether it does on this CPU.
    static constexpr bool may_round_bfloat16_in_hardware = true;
    static bool rounds_bfloat16_in_hardware() {
#if defined(__GNUC__) || defined(__clang__)
        return cpu_has_avx512_bf16;
#else
        return false;
#endif
    }
    // output_j = bfloat16(input_j * factor) (a float32 product, rounded to nearest even) for
    // the leading elements, in hardware where the CPU has AVX-512 BF16 (a quarter of a
    // bfloat16 softmax-CE row's time in cache was its integer rounding); returns how many (the
    // caller rounds the rest by the integer rule, to the same bits).
    template <bool streaming = false>
    static std::int64_t narrow_scaled_bfloat16(const float* input, float factor, std::uint16_t* output,
                                               std::int64_t count) {
#if defined(__GNUC__) || defined(__clang__)
        if (cpu_has_avx512_bf16) return narrow_scaled_bfloat16_bf16<streaming>(input, factor, output, count);
#endif
        return 0;
    }
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
