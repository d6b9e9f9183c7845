// The boundary between the bindings (compiled for the baseline CPU) and the kernels (compiled
// once per instruction set). Only plain data and function pointers cross it: no inline
// functions, no std containers, no pybind11 -- an inline function compiled with -mavx2 in one
// unit and without it in another may be kept by the linker for every caller (SIGILL on CPUs
// without AVX2).
#pragma once

#include <cstdint>

namespace fusedloss {

// Outputs (gradients, Hessians, per-element losses, softmax rows) of at least this many bytes
// are written with streaming stores where the instruction set has them (kernels/
// low_precision.inl, streams_output). Read atomically; set_streaming_threshold
// (fusedloss/dispatch.hpp, _core.set_streaming_threshold) changes it: the tests run the
// streaming paths on small arrays, and a machine whose cache holds more may raise it.
// (A plain function, defined in the baseline unit: no inline code crosses this boundary.)
std::int64_t streaming_threshold();

// How the kernel splits the batch for the deterministic reduction. The partition depends only
// on the shape (never on the thread count): each block is summed sequentially in float64, and
// the block sums are added in block order, so results are bitwise identical for any threads.
struct ReductionPlan {
    std::int64_t rows_per_block;  // >= 1
    std::int64_t blocks;          // ceil(rows / rows_per_block)
    double* block_sums;           // `blocks` entries, owned by the caller
    int threads;                  // >= 1; 1 means no parallel region is opened
    // Set to 1 by a kernel that could not allocate the scratch it needs (the 16-bit kernels'
    // float32 tiles); its outputs are then incomplete and the binding raises MemoryError.
    // Null: the caller does not look (the kernels that need no scratch never set it).
    int* allocation_failed;
};

// The 16-bit storage types: the bits of a bfloat16 (ml_dtypes.bfloat16) and of an IEEE
// half (numpy.float16). Their kernels read them into float32, compute as the float32 kernel,
// and round the results back to nearest-even (csrc/kernels/low_precision.inl).
struct bfloat16_bits {
    std::uint16_t bits;
};
struct float16_bits {
    std::uint16_t bits;
};

// One kernel of every storage type: `Kernel<float>` etc. are the function pointer types below.
template <template <class> class Kernel>
struct KernelsByType {
    Kernel<float> f32;
    Kernel<double> f64;
    Kernel<bfloat16_bits> bf16;
    Kernel<float16_bits> f16;
};

// Softmax cross-entropy and its options.
template <class Real>
struct ClassificationArgs {
    const Real* logits;               // rows x classes, classes contiguous
    std::int64_t rows;
    std::int64_t classes;
    std::int64_t logits_row_stride;   // elements between rows; any sign
    const std::int64_t* labels;       // rows entries, each in [0, classes) or == ignore_index
    int has_ignore_index;
    std::int64_t ignore_index;
    const double* class_weight;       // classes entries, or null (all 1)
    const double* sample_weight;      // rows entries, or null (all 1)
    double gradient_scale;            // 1, or 1/denominator under reduction "mean"
    Real* row_losses;                 // rows entries (weighted per-row loss), or null
    Real* gradient;                   // rows x classes, C-contiguous, or null; may alias logits
    // Softmax cross-entropy options (all zero / null: the plain loss).
    const Real* soft_targets;         // rows x classes, classes contiguous, or null (labels used)
    std::int64_t soft_targets_row_stride;  // elements between rows; any sign
    double label_smoothing;           // epsilon in [0, 1]
    double z_loss;                    // lambda >= 0: adds lambda * lse^2 per row
    double softcap;                   // c > 0: logits -> c tanh(x / c); 0: off
    double class_weight_total;        // sum of class_weight (classes when null)
    std::int64_t* argmax;             // rows entries (argmax of the raw logits), or null
    // return_hessian: rows x classes, C-contiguous, or null. Written by the *_hessian kernels
    // only (the loss kernels ignore it); never aliases an input or the gradient.
    Real* hessian;
};

// Elementwise losses (mean squared error, absolute, Huber, Poisson, sigmoid focal, ...: every
// loss of csrc/kernels/regression_losses.inl): prediction and target are contiguous,
// `samples * sample_size` elements; sample_weight has one entry per sample.
constexpr int elementwise_parameter_count = 4;
template <class Real>
struct ElementwiseArgs {
    const Real* prediction;
    const Real* target;
    std::int64_t samples;
    std::int64_t sample_size;
    const double* sample_weight;      // samples entries, or null
    double gradient_scale;
    double parameters[elementwise_parameter_count];  // the loss's own (delta, quantile, power...)
    Real* element_losses;             // samples * sample_size entries, or null
    Real* gradient;                   // samples * sample_size entries, or null; may alias prediction
    Real* hessian;                    // samples * sample_size entries, or null (only with gradient)
    // The kernel sets *target_out_of_domain to 1 when a target lies outside the loss's domain
    // (Poisson: t < 0); the outputs are then unspecified and the caller finds and reports the
    // first such element. Null for losses that take any target.
    int* target_out_of_domain;
    // Read only by a loss that declares an element weight (the sigmoid losses' `weight`):
    // element k's loss, gradient and Hessian are multiplied by
    // element_weight[k % element_weight_length]; null: no weight. Periodic: the Python layer
    // passes a weight that repeats along the leading axes (per class, or a scalar) as one
    // period tiled to a short pattern that stays in cache, and materialises to the full size
    // (length = elements) only one that varies along axis 0.
    const Real* element_weight;
    std::int64_t element_weight_length;  // >= 1 when element_weight is set
    // Read only by a loss that declares an element parameter (BCE's `pos_weight`): element
    // k's policy maths takes element_parameter[k % element_parameter_length] as a third
    // argument; null: the policy's two-argument maths (the parameter absent). Periodic as the
    // element weight.
    const Real* element_parameter;
    std::int64_t element_parameter_length;  // >= 1 when element_parameter is set
};

// The row-wise losses on the row driver (classification_losses.inl: softmax_focal_loss,
// softmax_kl_divergence, cross_entropy of probabilities): one float input row per batch row,
// and either an integer label per
// row (labels, with ignore_index and per-class weights) or a float row of the input's shape
// (targets, e.g. a teacher's logits). row_loss_driver.inl runs them.
constexpr int row_loss_parameter_count = 4;
template <class Real>
struct RowLossArgs {
    const Real* input;                // rows x classes, classes contiguous
    std::int64_t rows;
    std::int64_t classes;
    std::int64_t input_row_stride;    // elements between rows; any sign
    const std::int64_t* labels;       // rows entries in [0, classes) or == ignore_index; or null
    int has_ignore_index;
    std::int64_t ignore_index;
    const double* class_weight;       // classes entries, or null (all 1); with labels only
    const Real* targets;              // rows x classes, classes contiguous; or null
    std::int64_t targets_row_stride;  // elements between rows; any sign
    const double* sample_weight;      // rows entries, or null (all 1)
    double gradient_scale;            // 1, or 1/denominator under reduction "mean"
    double parameters[row_loss_parameter_count];  // the loss's own (gamma, temperature, ...)
    Real* row_losses;                 // rows entries (weighted per-row loss), or null
    Real* gradient;                   // rows x classes, C-contiguous, or null; may alias input
    Real* hessian;                    // rows x classes, C-contiguous, or null (with gradient
                                      // only); aliases nothing
};

// Row-wise building blocks along the last axis: logsumexp, softmax, log_softmax.
enum RowSoftmaxMode : int { row_logsumexp = 0, row_softmax = 1, row_log_softmax = 2 };
template <class Real>
struct RowSoftmaxArgs {
    const Real* input;                // rows x classes, classes contiguous
    std::int64_t rows;
    std::int64_t classes;             // >= 1
    std::int64_t input_row_stride;    // elements between rows; any sign
    int mode;                         // RowSoftmaxMode
    Real* output;                     // logsumexp: rows entries; else rows x classes,
                                      // C-contiguous (may alias input when the layout is equal)
};

// Weight penalties over a contiguous array: value = lam * sum(a w^2 + b |w|) with
// (a, b) = (1, 0) for L2, (0, 1) for L1, (beta, 1) for elastic net.
enum PenaltyKind : int { penalty_l2 = 0, penalty_l1 = 1, penalty_elastic_net = 2 };
template <class Real>
struct PenaltyArgs {
    const Real* weights;              // count entries, contiguous
    std::int64_t count;
    int kind;                         // PenaltyKind
    double lam;
    double beta;                      // elastic net only
    int accumulate;                   // 1: gradient += g, 0: gradient = g
    Real* gradient;                   // count entries, or null; may alias weights
};

// Every kernel returns the weighted loss summed over the batch (float64, fixed order).
template <class Real>
using ClassificationKernel = double (*)(const ClassificationArgs<Real>&, const ReductionPlan&);
template <class Real>
using ElementwiseKernel = double (*)(const ElementwiseArgs<Real>&, const ReductionPlan&);
template <class Real>
using RowLossKernel = double (*)(const RowLossArgs<Real>&, const ReductionPlan&);
// Returns nothing: the results are in args.output.
template <class Real>
using RowSoftmaxKernel = void (*)(const RowSoftmaxArgs<Real>&, const ReductionPlan&);
// Returns the penalty's value (lam times the float64 sum, fixed order).
template <class Real>
using PenaltyKernel = double (*)(const PenaltyArgs<Real>&, const ReductionPlan&);

// One elementwise loss of the table: its name (the Python registry's `kernel`), its two
// kernels, whether a target may lie outside its domain, and that domain in words.
struct ElementwiseLossEntry {
    const char* name;
    KernelsByType<ElementwiseKernel> kernels;
    // The targets the loss takes, in words ("target >= 0"), for its error message.
    const char* (*target_domain)(const double* parameters);
    // Tests one target against that domain: finds the first bad element once the kernel
    // reported one (NaN is in every domain: it propagates, as in the float64 reference).
    int (*target_in_domain)(double target, const double* parameters);
    // 1 when the loss takes ElementwiseArgs::element_weight, else 0 (the binding then refuses one).
    int takes_element_weight;
    // The same for ElementwiseArgs::element_parameter.
    int takes_element_parameter;
};

// One row-wise loss of the table: its name (the Python registry's `kernel`), its two kernels,
// and which second operand it takes (1: integer labels, 0: a float row per row).
struct RowLossEntry {
    const char* name;
    KernelsByType<RowLossKernel> kernels;
    int takes_labels;
};

struct KernelTable {
    const char* isa_name;
    // 1 where the kernels write large outputs with streaming stores (IsaTraits::
    // has_streaming_stores; see streaming_threshold above), 0 where this ISA has none.
    int has_streaming_stores;
    KernelsByType<ClassificationKernel> softmax_cross_entropy;
    KernelsByType<RowSoftmaxKernel> row_softmax;
    KernelsByType<PenaltyKernel> penalty;
    // The vectorised exp used inside the kernels, exposed for its accuracy tests.
    void (*exp_f32)(const float* input, float* output, std::int64_t count);
    void (*exp_f64)(const double* input, double* output, std::int64_t count);
    // The vectorised log used inside the kernels, exposed for its accuracy tests.
    void (*log_f32)(const float* input, float* output, std::int64_t count);
    void (*log_f64)(const double* input, double* output, std::int64_t count);
    // The vectorised tanh used by softcap, exposed for its accuracy tests.
    void (*tanh_f32)(const float* input, float* output, std::int64_t count);
    void (*tanh_f64)(const double* input, double* output, std::int64_t count);
    // The softmax rows' exp of d <= 0 (flushes below exp(-86) / exp(-708) to 0), for its tests.
    void (*exp_nonpositive_f32)(const float* input, float* output, std::int64_t count);
    void (*exp_nonpositive_f64)(const double* input, double* output, std::int64_t count);
    // The sigmoid losses' log(1 + e) for e in [0, 1], for its accuracy tests.
    void (*log1p_unit_interval_f32)(const float* input, float* output, std::int64_t count);
    void (*log1p_unit_interval_f64)(const double* input, double* output, std::int64_t count);
    // The focal loss's expm1 of x in [-ln 2, 0] (its small-C tiles), for its accuracy tests.
    void (*expm1_small_f64)(const double* input, double* output, std::int64_t count);
    // Every elementwise loss (regression_losses.inl), looked up by name once per process.
    const ElementwiseLossEntry* elementwise_losses;
    int elementwise_loss_count;
    // Diagonal Hessians (return_hessian=True): each fills args.hessian and returns 0; the
    // bindings run it before the loss kernel of the same call (classification_hessians.inl).
    KernelsByType<ClassificationKernel> softmax_cross_entropy_hessian;
    // Every row-wise loss of the registry (classification_losses.inl), looked up by name.
    const RowLossEntry* row_losses;
    int row_loss_count;
    // The 16-bit loads and stores of every 16-bit kernel (round to nearest even), exposed for
    // their tests (tests/test_low_precision.py).
    void (*widen_bfloat16)(const bfloat16_bits* input, float* output, std::int64_t count);
    void (*narrow_bfloat16)(const float* input, bfloat16_bits* output, std::int64_t count);
    void (*widen_float16)(const float16_bits* input, float* output, std::int64_t count);
    void (*narrow_float16)(const float* input, float16_bits* output, std::int64_t count);
};

}  // namespace fusedloss
