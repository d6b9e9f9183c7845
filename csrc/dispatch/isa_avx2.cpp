// The generic kernels compiled for the avx2 instruction set (flags set in CMakeLists.txt).
#define FUSEDLOSS_ISA_NAMESPACE avx2
#define FUSEDLOSS_ISA_NAME "avx2"
#include "kernels/generic_kernels.inl"
