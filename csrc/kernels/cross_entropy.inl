// Cross-entropy of given probabilities (no softmax inside):
//   loss_i = -sum_j t_ij log(p_ij + eps),  grad_ij = -t_ij / (p_ij + eps).
// Integer labels: one log per row (log_scalar) and the gradient row is zeros except at the
// label -- p[label] is read before the row is written (the gradient may alias the input).
// Soft targets: one vectorised pass per row (log_value), terms with t_ij = 0 count 0 (so
// 0 * log 0 = 0 and their gradient is 0). Row sums are float64.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// -sum_j t_j log(p_j + eps) of one soft-target row. One out-of-line function for the
// forward-only and the gradient call: the vectoriser lays out a reduction as it sees fit, and
// the two inlined loops (one storing the gradient) had been laid out differently, so the
// float64 loss changed in its last bits with return_grad (baseline and AVX). Called once per
// row, it costs a call per C classes.
template <class Real>
FUSEDLOSS_NEVER_INLINE double soft_target_row_loss(const Real* p, const Real* t, Real eps,
                                                   std::int64_t classes) {
    double sum = 0.0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t j = 0; j < classes; ++j) {
        const Real target = t[j];
        const Real term = target == Real(0) ? Real(0) : target * log_value(p[j] + eps);
        sum += static_cast<double>(term);
    }
    return -sum;
}

template <class Real, bool with_gradient>
double cross_entropy_block(const ProbabilityArgs<Real>& args, std::int64_t first,
                           std::int64_t end) {
    const std::int64_t classes = args.classes;
    const Real eps = static_cast<Real>(args.eps);
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* p = args.probs + row * args.probs_row_stride;
        Real* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const double weight = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
        double loss;
        if (args.labels != nullptr) {
            const std::int64_t label = args.labels[row];
            const Real shifted = p[label] + eps;
            loss = -static_cast<double>(log_scalar(shifted));
            if (with_gradient) {
                zero_row(gradient, classes);
                gradient[label] = -static_cast<Real>(weight * args.gradient_scale) / shifted;
            }
        } else {
            const Real* t = args.targets + row * classes;
            // The loss first: the gradient may be the probabilities' row (out=probs).
            loss = soft_target_row_loss(p, t, eps, classes);
            if (with_gradient) {
                const Real row_scale = static_cast<Real>(weight * args.gradient_scale);
                FUSEDLOSS_SIMD_LOOP
                for (std::int64_t j = 0; j < classes; ++j) {
                    const Real target = t[j];
                    gradient[j] = target == Real(0) ? Real(0) : -(row_scale * target) / (p[j] + eps);
                }
            }
        }
        const double weighted_loss = weight * loss;
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
        block_sum += weighted_loss;
    }
    return block_sum;
}

template <class Real>
double cross_entropy(const ProbabilityArgs<Real>& args, const ReductionPlan& plan) {
    if (args.gradient != nullptr) {
        return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
            return cross_entropy_block<Real, true>(args, first, end);
        });
    }
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        return cross_entropy_block<Real, false>(args, first, end);
    });
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
