// Sigmoid binary cross-entropy over contiguous arrays, PyTorch's stable form:
//   loss = w * ((1 - t) x + L (log1p(exp(-|x|)) + max(-x, 0))),  L = 1 + (p - 1) t,
// with w the element weight and p the positive-class weight (1 when absent). Its derivative:
//   d loss / dx = w * ((1 - t) - L sigmoid(-x)) = w * (L sigmoid(x) - p t),
// sigmoid(-|x|) = e / (1 + e), e = exp(-|x|), so nothing overflows for any finite x. exp and log are the vectorised
// exp_value / log_value (vector_math.inl). The linear part (1 - t) x + L max(-x, 0) is
// evaluated as (1 - t) x for x >= 0 and -p t x for x < 0 (the same value, no cancellation).
// As in mean_squared_error.inl the plan's "rows" are blocks of elements, walked in runs that
// share one sample weight; sums are float64.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

template <class Real, bool with_gradient, bool has_weight, bool has_pos_weight>
FUSEDLOSS_ALWAYS_INLINE double sigmoid_bce_run(const SigmoidBinaryArgs<Real>& args,
                                               std::int64_t first, std::int64_t end,
                                               double sample_weight) {
    const Real* logits = args.logits;
    const Real* targets = args.targets;
    const Real* weight = args.weight;
    const Real* pos_weight = args.pos_weight;
    Real* gradient = args.gradient;
    Real* element_losses = args.element_losses;
    const Real gradient_factor = static_cast<Real>(sample_weight * args.gradient_scale);
    const Real loss_weight = static_cast<Real>(sample_weight);
    double sum = 0.0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t k = first; k < end; ++k) {
        const Real x = logits[k];
        const Real t = targets[k];
        const Real absolute = x < Real(0) ? -x : x;
        const Real e = exp_value(-absolute);
        const Real u = Real(1) + e;
        const Real positive_weight = has_pos_weight ? pos_weight[k] : Real(1);
        const Real log_weight = has_pos_weight ? Real(1) + (positive_weight - Real(1)) * t : Real(1);
        // (1 - t) x + L max(-x, 0) without the cancellation of its two terms for x < 0.
        const Real linear = x >= Real(0) ? (Real(1) - t) * x : -(positive_weight * t) * x;
        Real loss = linear + log_weight * log1p_value(e, u);
        if (has_weight) loss = weight[k] * loss;
        sum += static_cast<double>(loss);
        if (with_gradient) {
            // sigmoid(-|x|) = e / (1 + e); the derivative (1 - t) - L sigmoid(-x) equals
            // L sigmoid(x) - p t, used for x < 0 so that neither form cancels needlessly.
            const Real sigmoid_small = e / u;
            Real derivative = x >= Real(0) ? (Real(1) - t) - log_weight * sigmoid_small
                                           : log_weight * sigmoid_small - positive_weight * t;
            if (has_weight) derivative = weight[k] * derivative;
            gradient[k] = gradient_factor * derivative;
        }
        if (element_losses != nullptr) element_losses[k] = loss_weight * loss;
    }
    return sample_weight * sum;
}

template <class Real, bool with_gradient, bool has_weight, bool has_pos_weight>
double sigmoid_bce_block(const SigmoidBinaryArgs<Real>& args, std::int64_t first,
                         std::int64_t end) {
    if (args.sample_weight == nullptr) {
        return sigmoid_bce_run<Real, with_gradient, has_weight, has_pos_weight>(args, first, end,
                                                                                1.0);
    }
    double block_sum = 0.0;
    std::int64_t position = first;
    while (position < end) {
        const std::int64_t sample = position / args.sample_size;
        const std::int64_t sample_end = (sample + 1) * args.sample_size;
        const std::int64_t run_end = sample_end < end ? sample_end : end;
        block_sum += sigmoid_bce_run<Real, with_gradient, has_weight, has_pos_weight>(
            args, position, run_end, args.sample_weight[sample]);
        position = run_end;
    }
    return block_sum;
}

template <class Real, bool with_gradient, bool has_weight, bool has_pos_weight>
double sigmoid_bce_sum(const SigmoidBinaryArgs<Real>& args, const ReductionPlan& plan) {
    return sum_over_blocks(args.samples * args.sample_size, plan,
                           [&](std::int64_t first, std::int64_t end) {
                               return sigmoid_bce_block<Real, with_gradient, has_weight,
                                                        has_pos_weight>(args, first, end);
                           });
}

template <class Real, bool with_gradient>
double sigmoid_bce_weights(const SigmoidBinaryArgs<Real>& args, const ReductionPlan& plan) {
    if (args.weight != nullptr) {
        if (args.pos_weight != nullptr) return sigmoid_bce_sum<Real, with_gradient, true, true>(args, plan);
        return sigmoid_bce_sum<Real, with_gradient, true, false>(args, plan);
    }
    if (args.pos_weight != nullptr) return sigmoid_bce_sum<Real, with_gradient, false, true>(args, plan);
    return sigmoid_bce_sum<Real, with_gradient, false, false>(args, plan);
}

template <class Real>
double sigmoid_binary_cross_entropy(const SigmoidBinaryArgs<Real>& args,
                                    const ReductionPlan& plan) {
    if (args.gradient != nullptr) return sigmoid_bce_weights<Real, true>(args, plan);
    return sigmoid_bce_weights<Real, false>(args, plan);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
