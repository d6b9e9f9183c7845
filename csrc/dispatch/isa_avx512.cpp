// The generic kernels compiled for the avx512 instruction set (flags set in CMakeLists.txt).
#define FUSEDLOSS_ISA_NAMESPACE avx512
#define FUSEDLOSS_ISA_NAME "avx512"
#include "kernels/generic_kernels.inl"
