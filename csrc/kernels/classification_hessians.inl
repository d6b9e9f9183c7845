// Diagonal Hessians of the classification losses (return_hessian=True): a pass of its own per
// loss family, run by the bindings before the loss-and-gradient kernel of the same call. The
// loss and gradient therefore come from the unchanged kernels (the loss is bitwise the same
// whether or not the Hessian was asked for, and a call without it pays nothing), and the
// Hessian pass reads the inputs before the gradient kernel may overwrite them (out=logits).
// Each pass writes args.hessian (rows x classes, C-contiguous, never aliasing an input) row by
// row: no cross-row sums, so the result is the same for any thread count.
//
// Softmax cross-entropy. With z the (soft-capped) logits, p = softmax(z), lse = logsumexp(z),
// the row loss sum_j a_j (lse - z_j) + lambda w_z lse^2 (a_j the target weights of the options
// path in softmax_cross_entropy.inl, A = sum_j a_j, w_z the z-loss weight of the row) has
//   dL/dz_j     = (A + 2 lambda w_z lse) p_j - a_j
//   d2L/dz_j^2  = (A + 2 lambda w_z lse) p_j (1 - p_j) + 2 lambda w_z p_j^2,
// and through the softcap z = c tanh(x / c), with s' = 1 - tanh^2 and s'' = -2 tanh s' / c:
//   d2L/dx_j^2  = s'^2 d2L/dz_j^2 + s'' dL/dz_j.
// Everything times the reduction's factor (gradient_scale); ignored rows are 0.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// The factors of one row's Hessian: d2L/dz_j^2 = first p_j (1 - p_j) + square p_j^2, and with a
// softcap the gradient's target part a_j = w_j (keep t_j + smooth) (soft) or
// smooth w_j + label [j = y]. In float64 from the unrounded eps (the loss paths round eps to
// Real first, see softmax_cross_entropy_coefficients.inl; a Hessian is not bitwise-tied to them).
template <class Real>
struct HessianFactors {
    Real first, square, inverse_sum;
    Real keep, smooth, label;  // softcap only
};

template <class Real, bool soft, bool weighted>
FUSEDLOSS_ALWAYS_INLINE HessianFactors<Real> hessian_row_factors(const ClassificationArgs<Real>& args,
                                                                 std::int64_t row, std::int64_t label,
                                                                 Real shift, double sum,
                                                                 double target_total) {
    const double keep = 1.0 - args.label_smoothing;
    const double smooth = args.label_smoothing / static_cast<double>(args.classes);
    const double lambda = args.z_loss;
    const double scale = args.gradient_scale;
    const double sample = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
    double total, z_weight, label_weight = 1.0;  // A, and the z-loss weight of the row
    if (soft) {
        total = sample * target_total;
        z_weight = sample;
    } else {
        label_weight = weighted ? args.class_weight[label] : 1.0;
        total = sample * (keep * label_weight + smooth * args.class_weight_total);
        z_weight = sample * label_weight;
    }
    const double lse = static_cast<double>(shift) + log_scalar(sum);
    double linear = total;
    if (lambda != 0.0) linear += 2.0 * lambda * z_weight * lse;
    HessianFactors<Real> factors;
    factors.first = static_cast<Real>(scale * linear);
    factors.square = static_cast<Real>(scale * 2.0 * lambda * z_weight);
    factors.inverse_sum = static_cast<Real>(1.0 / sum);
    factors.smooth = static_cast<Real>(scale * sample * smooth);
    factors.keep = static_cast<Real>(scale * sample * keep);
    factors.label = static_cast<Real>(scale * sample * keep * label_weight);
    return factors;
}

// e_j = exp(z_j - shift) into h, S in float64, and the soft targets' A in float64.
template <class Real, bool soft, bool weighted>
FUSEDLOSS_ALWAYS_INLINE double hessian_exp_pass(const ClassificationArgs<Real>& args, const Real* z,
                                                const Real* target, Real shift, Real* h,
                                                double* target_total) {
    const double* class_weight = args.class_weight;
    const double keep = 1.0 - args.label_smoothing;
    const double smooth = args.label_smoothing / static_cast<double>(args.classes);
    double sum = 0.0, total = 0.0;
    FUSEDLOSS_SIMD_SUM(sum, total)
    for (std::int64_t j = 0; j < args.classes; ++j) {
        const Real e = exp_value(z[j] - shift);
        h[j] = e;
        sum += static_cast<double>(e);
        if (soft) {
            const double w = weighted ? class_weight[j] : 1.0;
            total += soft_target_weight(w, keep, static_cast<double>(target[j]), smooth);
        }
    }
    *target_total = total;
    return sum;
}

// Through the softcap: d2L/dx_j^2 = s'^2 d2L/dz_j^2 + s'' dL/dz_j, from e_j in h.
template <class Real, bool soft, bool weighted>
FUSEDLOSS_ALWAYS_INLINE void capped_hessian_row(const ClassificationArgs<Real>& args, const Real* x,
                                                const Real* target, std::int64_t label,
                                                const HessianFactors<Real>& factors, Real* h) {
    const Real inverse_cap = static_cast<Real>(1.0 / args.softcap);
    const Real curvature = Real(-2) * inverse_cap;
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < args.classes; ++j) {
        const Real p = h[j] * factors.inverse_sum;
        const Real w = weighted ? static_cast<Real>(args.class_weight[j]) : Real(1);
        Real a;
        if (soft) {
            a = soft_target_weight(w, factors.keep, target[j], factors.smooth);
        } else {
            a = factors.smooth * w + (j == label ? factors.label : Real(0));
        }
        const Real hessian_z = factors.first * (p * (Real(1) - p)) + factors.square * (p * p);
        const Real gradient_z = factors.first * p - a;
        const Real t = tanh_value(x[j] * inverse_cap);
        const Real slope = Real(1) - t * t;
        h[j] = slope * slope * hessian_z + gradient_z * (curvature * t * slope);
    }
}

template <class Real, bool soft, bool capped, bool weighted>
void softmax_cross_entropy_hessian_rows(const ClassificationArgs<Real>& args, std::int64_t first,
                                        std::int64_t end) {
    const std::int64_t classes = args.classes;
    const Real cap = capped ? static_cast<Real>(args.softcap) : Real(1);
    const Real inverse_cap = capped ? static_cast<Real>(1.0 / args.softcap) : Real(1);
    for (std::int64_t row = first; row < end; ++row) {
        const Real* x = args.logits + row * args.logits_row_stride;
        Real* h = args.hessian + row * classes;
        const Real* target = soft ? args.soft_targets + row * args.soft_targets_row_stride : nullptr;
        const std::int64_t label = soft ? 0 : args.labels[row];
        if (!soft && args.has_ignore_index && label == args.ignore_index) {
            zero_row(h, classes);
            continue;
        }
        // Pass 1: z (into h when capped) and its max.
        const Real* z = x;
        if (capped) {
            FUSEDLOSS_SIMD_LOOP
            for (std::int64_t j = 0; j < classes; ++j) h[j] = cap * tanh_value(x[j] * inverse_cap);
            z = h;
        }
        const Real maximum = row_maximum(z, classes);
        const Real shift = is_finite_value(maximum) ? maximum : Real(0);
        // Pass 2: the exponentials, then the row's factors.
        double target_total = 0.0;
        const double sum = hessian_exp_pass<Real, soft, weighted>(args, z, target, shift, h, &target_total);
        const HessianFactors<Real> factors =
            hessian_row_factors<Real, soft, weighted>(args, row, label, shift, sum, target_total);
        if (capped) {
            capped_hessian_row<Real, soft, weighted>(args, x, target, label, factors, h);
            continue;
        }
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t j = 0; j < classes; ++j) {
            const Real p = h[j] * factors.inverse_sum;
            h[j] = factors.first * (p * (Real(1) - p)) + factors.square * (p * p);
        }
    }
}

template <class Real>
double softmax_cross_entropy_hessian(const ClassificationArgs<Real>& args,
                                     const ReductionPlan& plan) {
    const bool soft = args.soft_targets != nullptr;
    const bool capped = args.softcap > 0.0;
    const bool weighted = args.class_weight != nullptr;
    sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        if (soft) {
            if (capped) {
                weighted ? softmax_cross_entropy_hessian_rows<Real, true, true, true>(args, first, end)
                         : softmax_cross_entropy_hessian_rows<Real, true, true, false>(args, first, end);
            } else {
                weighted ? softmax_cross_entropy_hessian_rows<Real, true, false, true>(args, first, end)
                         : softmax_cross_entropy_hessian_rows<Real, true, false, false>(args, first, end);
            }
        } else if (capped) {
            weighted ? softmax_cross_entropy_hessian_rows<Real, false, true, true>(args, first, end)
                     : softmax_cross_entropy_hessian_rows<Real, false, true, false>(args, first, end);
        } else {
            weighted ? softmax_cross_entropy_hessian_rows<Real, false, false, true>(args, first, end)
                     : softmax_cross_entropy_hessian_rows<Real, false, false, false>(args, first, end);
        }
        return 0.0;
    });
    return 0.0;
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
