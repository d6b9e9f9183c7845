// Building blocks: logsumexp / softmax / log_softmax along the last axis, and the L2, L1 and
// elastic-net weight penalties.
//
// Row ops: per row, the max m (used as the shift only when finite, so that a row of -inf gives
// lse = -inf and a row holding +inf gives lse = +inf; NaN makes the row NaN), then either the
// sum of exp(x - m) (logsumexp, log_softmax) or the stored exponentials scaled by 1/sum
// (softmax). x_j is read before out_j is written, so the output may be the input itself.
// The rows are split by the ReductionPlan like every other kernel (nothing is summed across
// rows; the block sums are 0).
//
// Penalties: value = lam * sum(a w^2 + b |w|), summed in float64 per block of the plan, the
// block sums added in block order (same bits for any thread count); gradient
// lam * (2 a w + b sign(w)), sign(0) = 0 (the subgradient 0 at 0), sign(NaN) = NaN.
// Elastic net with beta = 0 is the L1 penalty (the w^2 term is absent, not 0 * w^2, which is
// NaN at w = +-inf). Where the gradient factors 2 lam a and lam do not fit Real as normal
// numbers (float32 with lam >= ~1.7e38, float64 with lam >= ~9e307, or factors below the
// smallest normal), each element's gradient is formed in double, 2 ((lam a) w) + lam b sign(w),
// and rounded once: 0 at w = 0 (not inf * 0), as the float64 reference computes it.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

template <class Real>
void row_softmax_block(const RowSoftmaxArgs<Real>& args, std::int64_t first, std::int64_t end) {
    const std::int64_t classes = args.classes;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* x = args.input + row * args.input_row_stride;
        const Real maximum = row_maximum(x, classes);
        const Real shift = is_finite_value(maximum) ? maximum : Real(0);
        const Real* next_row = row + 1 < args.rows ? x + args.input_row_stride : nullptr;
        // The general exp (not exp_nonpositive): softmax keeps its subnormal probabilities.
        if (args.mode == row_softmax && maximum == Real(__builtin_huge_valf())) {
            // A row holding +inf: exp(+inf) / S is inf / inf (NaN) and every finite entry is
            // finite / inf = 0, as in float64; exp of the row itself would overflow float32 at
            // x > 88.7 and give inf / inf where the answer is 0. NaN in the row makes it NaN.
            Real* y = args.output + row * classes;
            bool has_nan = false;
            for (std::int64_t j = 0; j < classes; ++j) has_nan = has_nan || x[j] != x[j];
            for (std::int64_t j = 0; j < classes; ++j) {
                y[j] = (has_nan || x[j] == maximum) ? Real(__builtin_nanf("")) : Real(0);
            }
            continue;
        }
        if (args.mode == row_softmax) {
            Real* y = args.output + row * classes;
            const Real sum = shifted_exp_pass_prefetching<Real, true>(x, shift, false, y, classes, next_row);
            scale_row(y, Real(1) / sum, classes);
            continue;
        }
        const Real sum = shifted_exp_pass_prefetching<Real, false>(x, shift, false, nullptr, classes, next_row);
        const Real log_sum = log_scalar(sum);
        if (args.mode == row_logsumexp) {
            args.output[row] = static_cast<Real>(log_sum_exp(shift, log_sum));
            continue;
        }
        // (x_j - m) - log S, not x_j - (m + log S): the latter rounds lse to the precision of m
        // (row_softmax.inl, label_loss). x_j - m is exact near the max (Sterbenz).
        Real* y = args.output + row * classes;
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t j = 0; j < classes; ++j) y[j] = (x[j] - shift) - log_sum;
    }
}

template <class Real>
void row_softmax(const RowSoftmaxArgs<Real>& args, const ReductionPlan& plan) {
    sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        row_softmax_block(args, first, end);
        return 0.0;
    });
}

template <class Real>
double row_softmax_returning_zero(const RowSoftmaxArgs<Real>& args, const ReductionPlan& plan) {
    row_softmax(args, plan);
    return 0.0;
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real sign_value(Real w) {
    // 0 * NaN keeps NaN; 0 stays 0.
    return w > Real(0) ? Real(1) : (w < Real(0) ? Real(-1) : w * Real(0));
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real absolute_value(Real w) {
    return w < Real(0) ? -w : w;
}

template <class Real, int kind>
FUSEDLOSS_ALWAYS_INLINE double penalty_square_weight(const PenaltyArgs<Real>& args) {
    return kind == penalty_l2 ? 1.0 : (kind == penalty_l1 ? 0.0 : args.beta);
}

// Whether a gradient factor is 0 or a normal, finite Real (else: the double path).
template <class Real>
FUSEDLOSS_ALWAYS_INLINE bool factor_fits(double factor) {
    const double smallest_normal =
        sizeof(Real) == 4 ? 1.17549435082228750797e-38 : 2.22507385850720138309e-308;
    const Real rounded = static_cast<Real>(factor);
    const double magnitude = absolute_value(static_cast<double>(rounded));
    return factor == 0.0 ||
           (is_finite_value(factor) && is_finite_value(rounded) && magnitude >= smallest_normal);
}

// gradient_mode: 0 none, 1 store, 2 accumulate. double_factors: see the header comment.
template <class Real, int kind, int gradient_mode, bool double_factors>
double penalty_block(const PenaltyArgs<Real>& args, std::int64_t first, std::int64_t end) {
    const Real* weights = args.weights;
    Real* gradient = args.gradient;
    const double square_weight = penalty_square_weight<Real, kind>(args);
    const Real square_factor = static_cast<Real>(2.0 * args.lam * square_weight);
    const Real absolute_factor = static_cast<Real>(args.lam);
    const double lam_square = args.lam * square_weight;
    const double lam = args.lam;
    double sum = 0.0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t k = first; k < end; ++k) {
        const Real w = weights[k];
        const double wide = static_cast<double>(w);
        double term;
        Real g;
        if (kind == penalty_l2) {
            term = wide * wide;
            g = double_factors ? static_cast<Real>(2.0 * (lam_square * wide)) : square_factor * w;
        } else if (kind == penalty_l1) {
            term = absolute_value(wide);
            g = double_factors ? static_cast<Real>(lam * sign_value(wide))
                               : absolute_factor * sign_value(w);
        } else {
            term = square_weight * wide * wide + absolute_value(wide);
            g = double_factors
                    ? static_cast<Real>(2.0 * (lam_square * wide) + lam * sign_value(wide))
                    : square_factor * w + absolute_factor * sign_value(w);
        }
        sum += term;
        if (gradient_mode == 1) gradient[k] = g;
        if (gradient_mode == 2) gradient[k] += g;
    }
    return sum;
}

template <class Real, int kind, bool double_factors>
double penalty_with_factors(const PenaltyArgs<Real>& args, const ReductionPlan& plan) {
    if (args.gradient == nullptr) {
        return sum_over_blocks(args.count, plan, [&](std::int64_t first, std::int64_t end) {
            return penalty_block<Real, kind, 0, false>(args, first, end);
        });
    }
    if (args.accumulate) {
        return sum_over_blocks(args.count, plan, [&](std::int64_t first, std::int64_t end) {
            return penalty_block<Real, kind, 2, double_factors>(args, first, end);
        });
    }
    return sum_over_blocks(args.count, plan, [&](std::int64_t first, std::int64_t end) {
        return penalty_block<Real, kind, 1, double_factors>(args, first, end);
    });
}

template <class Real, int kind>
double penalty_of_kind(const PenaltyArgs<Real>& args, const ReductionPlan& plan) {
    const double square_factor = 2.0 * args.lam * penalty_square_weight<Real, kind>(args);
    if (factor_fits<Real>(square_factor) && factor_fits<Real>(args.lam)) {
        return penalty_with_factors<Real, kind, false>(args, plan);
    }
    return penalty_with_factors<Real, kind, true>(args, plan);
}

template <class Real>
double penalty(const PenaltyArgs<Real>& args, const ReductionPlan& plan) {
    double total;
    if (args.kind == penalty_l2) {
        total = penalty_of_kind<Real, penalty_l2>(args, plan);
    } else if (args.kind == penalty_l1 || args.beta == 0.0) {  // elastic net, beta = 0: L1
        total = penalty_of_kind<Real, penalty_l1>(args, plan);
    } else {
        total = penalty_of_kind<Real, penalty_elastic_net>(args, plan);
    }
    return args.lam * total;
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
