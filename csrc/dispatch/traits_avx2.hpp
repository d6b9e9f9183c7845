// What the generic kernels need to know about the avx2 instruction set: AVX2 with FMA and F16C,
// the flags CMakeLists.txt gives csrc/dispatch/isa_avx2.cpp. Every per-ISA fact the generic body
// uses is here; the body itself never tests an ISA macro.

#define FUSEDLOSS_ISA_NAMESPACE avx2
#define FUSEDLOSS_ISA_NAME "avx2"

#if (defined(__GNUC__) || defined(__clang__)) && !(defined(__AVX2__) && defined(__FMA__))
#error "isa_avx2.cpp must be compiled with -mavx2 -mfma (CMakeLists.txt)"
#endif

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

struct IsaTraits {
    // Bytes in one SIMD register.
    static constexpr int vector_bytes = 32;
    // A fused multiply-add instruction (one rounding).
    static constexpr bool has_fma = true;
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
