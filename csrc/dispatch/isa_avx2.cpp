// The generic kernels compiled for the avx2 instruction set (flags set in CMakeLists.txt;
// what the kernels need to know about them in traits_avx2.hpp).
#include "dispatch/traits_avx2.hpp"
#include "kernels/generic_kernels.inl"
