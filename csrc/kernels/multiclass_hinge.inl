// Multiclass hinge (Weston-Watkins SVM) loss, forward and fused forward+backward, one sweep
// per row: term_j = max(0, s_j - s_y + margin) is computed for every j but the label's column
// (skipped, not computed and subtracted afterwards: with an infinite s_y, s_y - s_y is NaN),
// its loss and gradient accumulated and the gradient written; then g_y = -(sum of the other
// g_j) is stored. The max is written `t <= 0 ? 0 : t` so that NaN propagates into the loss.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

template <class Real, bool with_gradient, bool squared>
double multiclass_hinge_block(const ClassificationArgs<Real>& args, std::int64_t first,
                              std::int64_t end) {
    const std::int64_t classes = args.classes;
    const Real margin = static_cast<Real>(args.margin);
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* scores = args.logits + row * args.logits_row_stride;
        Real* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const std::int64_t label = args.labels[row];
        const double weight = row_weight(args, row, label);
        const Real row_scale = static_cast<Real>(weight * args.gradient_scale);
        const Real label_score = scores[label];
        Real loss = 0;
        Real gradient_sum = 0;
        // The columns before and after the label, in two loops: no per-element label test
        // (a 64-bit compare that SSE2 lacks would keep the baseline loop scalar).
        const auto accumulate_columns = [&](std::int64_t begin, std::int64_t stop) {
            Real range_loss = 0;
            Real range_gradient_sum = 0;
            FUSEDLOSS_SIMD_SUM(range_loss, range_gradient_sum)
            for (std::int64_t j = begin; j < stop; ++j) {
                const Real difference = scores[j] - label_score + margin;
                const Real term = difference <= Real(0) ? Real(0) : difference;
                Real derivative;
                if (squared) {
                    range_loss += term * term;
                    derivative = Real(2) * term;
                } else {
                    range_loss += term;
                    derivative = difference > Real(0) ? Real(1) : Real(0);
                }
                range_gradient_sum += derivative;
                if (with_gradient) gradient[j] = derivative * row_scale;
            }
            loss += range_loss;
            gradient_sum += range_gradient_sum;
        };
        accumulate_columns(0, label);
        accumulate_columns(label + 1, classes);
        if (with_gradient) gradient[label] = -gradient_sum * row_scale;
        const double weighted_loss = weight * static_cast<double>(loss);
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
        block_sum += weighted_loss;
    }
    return block_sum;
}

template <class Real, bool with_gradient>
double multiclass_hinge_for_gradient(const ClassificationArgs<Real>& args,
                                     const ReductionPlan& plan) {
    if (args.squared) {
        return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
            return multiclass_hinge_block<Real, with_gradient, true>(args, first, end);
        });
    }
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        return multiclass_hinge_block<Real, with_gradient, false>(args, first, end);
    });
}

template <class Real>
double multiclass_hinge(const ClassificationArgs<Real>& args, const ReductionPlan& plan) {
    if (args.gradient != nullptr) return multiclass_hinge_for_gradient<Real, true>(args, plan);
    return multiclass_hinge_for_gradient<Real, false>(args, plan);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
