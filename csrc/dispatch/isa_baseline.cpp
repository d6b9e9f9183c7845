// The generic kernels compiled for the baseline instruction set (flags set in CMakeLists.txt;
// what the kernels need to know about them in traits_baseline.hpp).
#include "dispatch/traits_baseline.hpp"
#include "kernels/generic_kernels.inl"
