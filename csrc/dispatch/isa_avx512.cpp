// The generic kernels compiled for the avx512 instruction set (flags set in CMakeLists.txt;
// what the kernels need to know about them in traits_avx512.hpp).
#include "dispatch/traits_avx512.hpp"
#include "kernels/generic_kernels.inl"
