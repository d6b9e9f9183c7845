// Multiclass hinge (Weston-Watkins SVM) loss, forward and fused forward+backward, one sweep
// per row: term_j = max(0, s_j - s_y + margin) is computed for every j (the label included,
// where it equals max(0, margin)), its loss and gradient accumulated and the gradient written;
// the label's own contribution is then removed and g_y = -(sum of the other g_j) stored.
// The max is written `t <= 0 ? 0 : t` so that NaN propagates into the loss.

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
        FUSEDLOSS_SIMD_SUM(loss, gradient_sum)
        for (std::int64_t j = 0; j < classes; ++j) {
            const Real difference = scores[j] - label_score + margin;
            const Real term = difference <= Real(0) ? Real(0) : difference;
            Real derivative;
            if (squared) {
                loss += term * term;
                derivative = Real(2) * term;
            } else {
                loss += term;
                derivative = difference > Real(0) ? Real(1) : Real(0);
            }
            gradient_sum += derivative;
            if (with_gradient) gradient[j] = derivative * row_scale;
        }
        const Real label_term = margin <= Real(0) ? Real(0) : margin;
        if (squared) {
            loss -= label_term * label_term;
            gradient_sum -= Real(2) * label_term;
        } else {
            loss -= label_term;
            gradient_sum -= margin > Real(0) ? Real(1) : Real(0);
        }
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
