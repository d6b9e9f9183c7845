// The generic kernels compiled for the baseline instruction set (flags set in CMakeLists.txt).
#define FUSEDLOSS_ISA_NAMESPACE baseline
// On aarch64 the baseline already has NEON (Advanced SIMD), so the table is named after it.
#if defined(__aarch64__) || defined(_M_ARM64)
#define FUSEDLOSS_ISA_NAME "neon"
#else
#define FUSEDLOSS_ISA_NAME "baseline"
#endif
#include "kernels/generic_kernels.inl"
