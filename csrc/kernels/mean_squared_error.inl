// Mean squared error over contiguous arrays. The plan's "rows" are blocks of elements here
// (rows_per_block elements each), so that a 1-d array parallelises like a 2-d one; inside a
// block the elements are walked in runs that share one sample weight. Squares are summed in
// float64 lanes: the kernel is bound by memory, and float32 sums of 10^7 squares lose digits.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

template <class Real, bool with_gradient, bool with_losses>
FUSEDLOSS_ALWAYS_INLINE double squared_error_run(const ElementwiseArgs<Real>& args,
                                                 std::int64_t first, std::int64_t end,
                                                 double weight) {
    const Real* prediction = args.prediction;
    const Real* target = args.target;
    Real* gradient = args.gradient;
    Real* element_losses = args.element_losses;
    const Real gradient_factor = static_cast<Real>(2.0 * weight * args.gradient_scale);
    const Real loss_weight = static_cast<Real>(weight);
    double sum = 0.0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t k = first; k < end; ++k) {
        const Real difference = prediction[k] - target[k];
        sum += static_cast<double>(difference) * static_cast<double>(difference);
        if (with_gradient) gradient[k] = gradient_factor * difference;
        // A compile-time flag: a run-time test here became a masked store per vector.
        if (with_losses) element_losses[k] = loss_weight * difference * difference;
    }
    return weight * sum;
}

// One weight per element (a 1-d pred with sample_weight: sample_size 1): runs of one element
// would cost a call each, so the weights are read as a third stream in one SIMD loop.
template <class Real, bool with_gradient, bool with_losses>
FUSEDLOSS_ALWAYS_INLINE double squared_error_element_weights(const ElementwiseArgs<Real>& args,
                                                             std::int64_t first, std::int64_t end) {
    const Real* prediction = args.prediction;
    const Real* target = args.target;
    const double* weights = args.sample_weight;
    Real* gradient = args.gradient;
    Real* element_losses = args.element_losses;
    const double gradient_scale = 2.0 * args.gradient_scale;
    double sum = 0.0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t k = first; k < end; ++k) {
        const Real difference = prediction[k] - target[k];
        const double square = static_cast<double>(difference) * static_cast<double>(difference);
        sum += weights[k] * square;
        if (with_gradient) {
            gradient[k] = static_cast<Real>(gradient_scale * weights[k]) * difference;
        }
        if (with_losses) element_losses[k] = static_cast<Real>(weights[k]) * difference * difference;
    }
    return sum;
}

template <class Real, bool with_gradient, bool with_losses>
double squared_error_block(const ElementwiseArgs<Real>& args, std::int64_t first,
                           std::int64_t end) {
    if (args.sample_weight == nullptr) return squared_error_run<Real, with_gradient, with_losses>(args, first, end, 1.0);
    if (args.sample_size == 1) {
        return squared_error_element_weights<Real, with_gradient, with_losses>(args, first, end);
    }
    double block_sum = 0.0;
    std::int64_t position = first;
    while (position < end) {
        const std::int64_t sample = position / args.sample_size;
        const std::int64_t sample_end = (sample + 1) * args.sample_size;
        const std::int64_t run_end = sample_end < end ? sample_end : end;
        block_sum += squared_error_run<Real, with_gradient, with_losses>(args, position, run_end,
                                                            args.sample_weight[sample]);
        position = run_end;
    }
    return block_sum;
}

template <class Real>
double mean_squared_error(const ElementwiseArgs<Real>& args, const ReductionPlan& plan) {
    const std::int64_t elements = args.samples * args.sample_size;
    const bool losses = args.element_losses != nullptr;
    if (args.gradient != nullptr) {
        return sum_over_blocks(elements, plan, [&](std::int64_t first, std::int64_t end) {
            return losses ? squared_error_block<Real, true, true>(args, first, end)
                          : squared_error_block<Real, true, false>(args, first, end);
        });
    }
    return sum_over_blocks(elements, plan, [&](std::int64_t first, std::int64_t end) {
        return losses ? squared_error_block<Real, false, true>(args, first, end)
                      : squared_error_block<Real, false, false>(args, first, end);
    });
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
