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

struct IsaTraits {
    // Bytes in one SIMD register.
    static constexpr int vector_bytes = 64;
    // A fused multiply-add instruction (one rounding).
    static constexpr bool has_fma = true;
    // (The maskz forms: the unmasked ones read an undefined register, which GCC 12 warns of.)
    // IEEE half <-> float32 with F16C (VCVTPH2PS / VCVTPS2PH, round to nearest even): the
    // leading multiple of 16 elements; returns how many were converted (the caller converts
    // the rest as the baseline does, to the same bits).
    static std::int64_t widen_float16(const std::uint16_t* input, float* output, std::int64_t count) {
        std::int64_t i = 0;
        for (; i + 16 <= count; i += 16) _mm512_storeu_ps(output + i, _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(input + i))));
        return i;
    }
    static std::int64_t narrow_float16(const float* input, std::uint16_t* output, std::int64_t count) {
        std::int64_t i = 0;
        for (; i + 16 <= count; i += 16) {
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(output + i), _mm512_maskz_cvtps_ph(0xffff, _mm512_loadu_ps(input + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        }
        return i;
    }
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
