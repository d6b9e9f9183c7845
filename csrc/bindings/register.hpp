// One register_* function per area of the module (boost-histogram's layout).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace fusedloss {
namespace bindings {

void register_regression(pybind11::module_& module);
void register_row_losses(pybind11::module_& module);
void register_config(pybind11::module_& module);
void register_building_blocks(pybind11::module_& module);
void register_benchmark(pybind11::module_& module);
void register_openmp_runtime(pybind11::module_& module);
void register_low_precision(pybind11::module_& module);

// Softmax cross-entropy as row_loss("softmax_cross_entropy", ...) runs it (its options kernel
// takes its own arguments, ClassificationArgs): parameters (label_smoothing, z_loss, softcap),
// a missing one 0 (off); `second` int64 labels or soft targets of the logits' shape. Returns
// (value, gradient or None, hessian or None, argmax or None).
pybind11::tuple softmax_cross_entropy_call(
    const pybind11::array& logits, const pybind11::array& second, const pybind11::tuple& parameters,
    const pybind11::object& class_weight, const pybind11::object& sample_weight,
    const pybind11::object& ignore_index, int reduction, bool with_gradient, bool with_hessian,
    const pybind11::object& out, const pybind11::object& hessian_out, int threads,
    const pybind11::object& batch_shape, bool with_argmax);

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
