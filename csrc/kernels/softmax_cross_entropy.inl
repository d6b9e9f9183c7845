// Softmax cross-entropy with integer labels, forward and fused forward+backward.
//
// Per row, while the row is in cache: (1) the max m, one read of the logits from memory;
// (2) e_j = exp(x_j - m) and their sum S -- with a gradient, e_j is stored in the gradient
// row (which may be the logits row itself: x_j is read before e_j is written); (3) the
// gradient row is scaled in place, g_j = w * scale * e_j / S, and w * scale is subtracted at
// the label. So memory sees one read of the logits and one write of the gradient.
// The shift uses m only when it is finite: a row of -inf gives lse = -inf, a row holding +inf
// gives lse = +inf (as SciPy / PyTorch), and NaN anywhere in a row makes that row NaN.
// The row helpers (row_maximum, store_shifted_exp, ...) are in row_softmax.inl.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

template <class Real, bool with_gradient>
double softmax_cross_entropy_block(const ClassificationArgs<Real>& args, std::int64_t first,
                                   std::int64_t end) {
    const std::int64_t classes = args.classes;
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* x = args.logits + row * args.logits_row_stride;
        Real* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const std::int64_t label = args.labels[row];
        if (args.has_ignore_index && label == args.ignore_index) {
            if (with_gradient) zero_row(gradient, classes);
            if (args.row_losses != nullptr) args.row_losses[row] = Real(0);
            continue;
        }
        const double weight = row_weight(args, row, label);
        const Real maximum = row_maximum(x, classes);
        const Real shift = is_finite_value(maximum) ? maximum : Real(0);
        const Real label_logit = x[label];  // read before the gradient may overwrite it
        Real sum;
        if (with_gradient) {
            sum = store_shifted_exp(x, shift, gradient, classes);
        } else {
            sum = sum_of_shifted_exp(x, shift, classes);
        }
        const Real loss = (shift + log_scalar(sum)) - label_logit;
        if (with_gradient) {
            const Real row_scale = static_cast<Real>(weight * args.gradient_scale);
            scale_row(gradient, row_scale / sum, classes);
            gradient[label] -= row_scale;
        }
        const double weighted_loss = weight * static_cast<double>(loss);
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
        block_sum += weighted_loss;
    }
    return block_sum;
}

template <class Real>
double softmax_cross_entropy(const ClassificationArgs<Real>& args, const ReductionPlan& plan) {
    if (args.gradient != nullptr) {
        return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
            return softmax_cross_entropy_block<Real, true>(args, first, end);
        });
    }
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        return softmax_cross_entropy_block<Real, false>(args, first, end);
    });
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
