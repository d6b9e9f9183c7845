// One register_* function per area of the module (boost-histogram's layout).
#pragma once

#include <pybind11/pybind11.h>

namespace fusedloss {
namespace bindings {

void register_classification(pybind11::module_& module);
void register_regression(pybind11::module_& module);
void register_row_losses(pybind11::module_& module);
void register_config(pybind11::module_& module);
void register_building_blocks(pybind11::module_& module);
void register_benchmark(pybind11::module_& module);
void register_openmp_runtime(pybind11::module_& module);
void register_low_precision(pybind11::module_& module);

// Picks the float32 or float64 entry of a kernel table (the math functions exposed for tests;
// the loss kernels are KernelsByType, storage_types.hpp).
template <class Real, class Float32Kernel, class Float64Kernel>
auto select_float_or_double(Float32Kernel float32_kernel, Float64Kernel float64_kernel) {
    if constexpr (sizeof(Real) == 4) {
        return float32_kernel;
    } else {
        return float64_kernel;
    }
}

}  // namespace bindings
}  // namespace fusedloss
