// What the generic kernels need to know about the avx512 instruction set: AVX-512 F/BW/DQ/VL
// with AVX2, FMA and F16C, the flags CMakeLists.txt gives csrc/dispatch/isa_avx512.cpp. Every
// per-ISA fact the generic body uses is here; the body itself never tests an ISA macro.

#define FUSEDLOSS_ISA_NAMESPACE avx512
#define FUSEDLOSS_ISA_NAME "avx512"

#if (defined(__GNUC__) || defined(__clang__)) && !(defined(__AVX512F__) && defined(__FMA__))
#error "isa_avx512.cpp must be compiled with -mavx512f ... -mfma (CMakeLists.txt)"
#endif

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

struct IsaTraits {
    // Bytes in one SIMD register.
    static constexpr int vector_bytes = 64;
    // A fused multiply-add instruction (one rounding).
    static constexpr bool has_fma = true;
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
