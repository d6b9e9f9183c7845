// The generic kernel body. Each csrc/dispatch/isa_<name>.cpp includes its traits header
// (csrc/dispatch/traits_<name>.hpp: FUSEDLOSS_ISA_NAMESPACE, FUSEDLOSS_ISA_NAME and IsaTraits,
// every fact about the instruction set that the kernels use) and then this file; CMake compiles
// that unit with the instruction-set flags of <name>. The result is one KernelTable per
// instruction set. Nothing below tests an instruction-set macro: it asks IsaTraits.

#include <math.h>

#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "fusedloss/kernel_table.hpp"
#include "fusedloss/work_pool.hpp"

#if !defined(FUSEDLOSS_ISA_NAMESPACE) || !defined(FUSEDLOSS_ISA_NAME)
#error "include dispatch/traits_<isa>.hpp before generic_kernels.inl"
#endif

// clang-format off
#include "kernels/portable.inl"
#include "kernels/vector_math.inl"
#include "kernels/row_blocks.inl"
#include "kernels/low_precision.inl"
#include "kernels/row_softmax.inl"
#include "kernels/softmax_cross_entropy_long_rows.inl"
#include "kernels/softmax_cross_entropy_coefficients.inl"
#include "kernels/row_loss_driver.inl"
#include "kernels/multiclass_hinge.inl"
#include "kernels/classification_losses.inl"
#include "kernels/softmax_cross_entropy.inl"
#include "kernels/elementwise_driver.inl"
#include "kernels/regression_losses.inl"
#include "kernels/building_blocks.inl"
#include "kernels/classification_hessians.inl"
// clang-format on

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {

// Exposed for the accuracy tests of the vectorised exp (tests/test_vector_math.py).
void exp_array_f32(const float* input, float* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = exp_value(input[i]);
}
void exp_array_f64(const double* input, double* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = exp_value(input[i]);
}

// Exposed for the accuracy tests of the vectorised log (tests/test_vector_math.py).
void log_array_f32(const float* input, float* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = log_value(input[i]);
}
void log_array_f64(const double* input, double* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = log_value(input[i]);
}

// Exposed for the accuracy tests of the vectorised tanh (softcap; tests/test_vector_math.py).
void tanh_array_f32(const float* input, float* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = tanh_value(input[i]);
}
void tanh_array_f64(const double* input, double* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = tanh_value(input[i]);
}

// Exposed for the accuracy tests of the softmax rows' exp (tests/test_vector_math.py).
void exp_nonpositive_array_f32(const float* input, float* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = exp_nonpositive(input[i]);
}
void exp_nonpositive_array_f64(const double* input, double* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = exp_nonpositive(input[i]);
}

// Exposed for the accuracy tests of the sigmoid losses' log1p (tests/test_vector_log.py).
void log1p_unit_interval_array_f32(const float* input, float* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = log1p_unit_interval(input[i]);
}
void log1p_unit_interval_array_f64(const double* input, double* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = log1p_unit_interval(input[i]);
}

// Exposed for the accuracy tests of the focal loss's expm1 (tests/test_vector_math.py).
void expm1_small_array_f64(const double* input, double* output, std::int64_t count) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = expm1_small_value(input[i]);
}

namespace {
const KernelTable table = {
    FUSEDLOSS_ISA_NAME,
    IsaTraits::has_streaming_stores ? 1 : 0,
    // The 16-bit plain rows natively (float16 where F16C rounds its gradient rows), the other
    // cases staged (see softmax_cross_entropy_16bit).
    KernelsByType<ClassificationKernel>{
        &softmax_cross_entropy<float>, &softmax_cross_entropy<double>,
        &softmax_cross_entropy_16bit<bfloat16_bits>,
        IsaTraits::has_f16c ? &softmax_cross_entropy_16bit<float16_bits>
                            : &staged_kernel<ClassificationArgs, float16_bits, &softmax_cross_entropy<float>>},
    KernelsByType<RowSoftmaxKernel>{&row_softmax<float>, &row_softmax<double>,
                                    &staged_row_softmax<bfloat16_bits>,
                                    &staged_row_softmax<float16_bits>},
    kernels_by_type<PenaltyArgs, PenaltyKernel, &penalty<float>>(&penalty<double>),
    &exp_array_f32,
    &exp_array_f64,
    &log_array_f32,
    &log_array_f64,
    &tanh_array_f32,
    &tanh_array_f64,
    &exp_nonpositive_array_f32,
    &exp_nonpositive_array_f64,
    &log1p_unit_interval_array_f32,
    &log1p_unit_interval_array_f64,
    &expm1_small_array_f64,
    elementwise_loss_entries,
    static_cast<int>(sizeof(elementwise_loss_entries) / sizeof(elementwise_loss_entries[0])),
    kernels_by_type<ClassificationArgs, ClassificationKernel,
                    &softmax_cross_entropy_hessian<float>, true>(
        &softmax_cross_entropy_hessian<double>),
    row_loss_entries,
    static_cast<int>(sizeof(row_loss_entries) / sizeof(row_loss_entries[0])),
    static_cast<void (*)(const bfloat16_bits*, float*, std::int64_t)>(&widen_values),
    static_cast<void (*)(const float*, bfloat16_bits*, std::int64_t)>(&narrow_values),
    static_cast<void (*)(const float16_bits*, float*, std::int64_t)>(&widen_values),
    static_cast<void (*)(const float*, float16_bits*, std::int64_t)>(&narrow_values),
};
}  // namespace

const KernelTable& kernel_table() { return table; }

}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
