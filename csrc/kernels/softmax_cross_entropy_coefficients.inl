// The option maths of softmax cross-entropy (label smoothing, soft targets, class weights,
// z-loss), written once for every row path (small-C tiles, label rows, softcap / soft-target
// rows) and the Hessian.
//
// With z_j the (possibly soft-capped) logits, shift = max z, d_j = z_j - shift,
// S = sum_j exp(d_j) and lse = shift + log S, every option is a row loss of the form
//   A log S - sum_j a_j d_j  (+ lambda lse^2)  =  sum_j a_j (lse - z_j)  (+ lambda lse^2)
// with target weights a_j >= 0 and A = sum_j a_j, whose gradient w.r.t. z is
//   c p_j - a_j,   c = A + 2 lambda lse (the "lse coefficient"), p = softmax(z),
// chain-ruled through the softcap by (1 - tanh^2(x_j / cap)). Integer labels:
//   a_j = w_y (1 - eps) [j = y] + (eps / C) w_j  (w the class weights, 1 when absent);
// the row's weight w_y (times sample_weight) also weights the z-loss, the smoothing part only
// carries sample_weight (PyTorch's rule). Soft targets: a_j = w_j ((1 - eps) t_j + eps / C),
// the row weight is sample_weight. a_j = 0 contributes 0 even where d_j = -inf (0 log 0 = 0).

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// One row's loss and the factors of its gradient, all weights applied.
struct RowCoefficients {
    double loss;             // the row's loss
    double lse_coefficient;  // c: the gradient is c p_j - a_j
    double row_weight;       // of the label / soft-target part and the z-loss
    double keep;             // 1 - eps at the label (integer labels); a_y's label part / row_weight
    double target_scale;     // a_j / w_j for the smoothing part, a_j / (w_j (keep t_j + eps / C)) for soft
};

// The per-call constants of the options with integer labels.
struct LabelOptions {
    double keep;                // 1 - eps
    double smooth;              // eps / C, rounded to the kernel's precision
    bool smoothing;             // eps != 0
    double z_loss;              // lambda
    double class_weight_total;  // W = sum_j w_j (C without class weights)
};

// How 1 - eps is rounded: the small-C tile and label-row paths subtract eps (rounded to Real)
// from 1 in float64, the softcap path in Real. The two differ in the last bits of the loss;
// each path keeps the rounding its results were pinned with.
enum class KeepRounding { in_double, in_real };

template <class Real>
FUSEDLOSS_ALWAYS_INLINE LabelOptions label_options(const ClassificationArgs<Real>& args,
                                                   KeepRounding rounding) {
    const Real epsilon = static_cast<Real>(args.label_smoothing);
    LabelOptions options;
    options.keep = rounding == KeepRounding::in_double ? 1.0 - static_cast<double>(epsilon)
                                                       : static_cast<double>(Real(1) - epsilon);
    options.smooth =
        static_cast<double>(static_cast<Real>(args.label_smoothing / static_cast<double>(args.classes)));
    options.smoothing = rounding == KeepRounding::in_double ? args.label_smoothing != 0.0 : epsilon != Real(0);
    options.z_loss = args.z_loss;
    options.class_weight_total = args.class_weight_total;
    return options;
}

// The z-loss and the row weight on top of a target part (target_loss, target_total before
// weights): loss = w (target_loss + lambda lse^2), c = w (target_total + 2 lambda lse).
FUSEDLOSS_ALWAYS_INLINE RowCoefficients weigh_with_z_loss(double target_loss, double target_total,
                                                          double lse, double z_loss,
                                                          double row_weight) {
    RowCoefficients row;
    row.loss = target_loss;
    row.lse_coefficient = target_total;
    if (z_loss != 0.0) {
        row.loss += z_loss * lse * lse;
        row.lse_coefficient += 2.0 * z_loss * lse;
    }
    row.loss *= row_weight;
    row.lse_coefficient *= row_weight;
    row.row_weight = row_weight;
    row.keep = 0.0;
    row.target_scale = 0.0;
    return row;
}

// Integer label y. weighted_shifted: sum_j w_j d_j (read only with label smoothing).
template <class Real>
FUSEDLOSS_ALWAYS_INLINE RowCoefficients label_row_coefficients(const LabelOptions& options,
                                                               double sample, double label_weight,
                                                               Real log_sum, Real label_logit,
                                                               Real shift, double weighted_shifted) {
    const double lse = log_sum_exp(shift, log_sum);
    RowCoefficients row = weigh_with_z_loss(options.keep * label_loss(log_sum, label_logit, shift),
                                            options.keep, lse, options.z_loss, sample * label_weight);
    row.keep = options.keep;
    if (options.smoothing) {
        // (eps / C) sample w_j for every class: adds s (W log S - sum_j w_j d_j) and s W.
        row.target_scale = sample * options.smooth;
        row.loss += row.target_scale * (options.class_weight_total * static_cast<double>(log_sum) -
                                        weighted_shifted);
        row.lse_coefficient += row.target_scale * options.class_weight_total;
    }
    return row;
}

// Soft targets: target_total = A and weighted_shifted = sum_j a_j d_j (a_j before sample_weight).
template <class Real>
FUSEDLOSS_ALWAYS_INLINE RowCoefficients soft_row_coefficients(double z_loss, double sample,
                                                              double target_total,
                                                              double weighted_shifted, Real log_sum,
                                                              Real shift) {
    const double lse = log_sum_exp(shift, log_sum);
    RowCoefficients row =
        weigh_with_z_loss(target_total * static_cast<double>(log_sum) - weighted_shifted,
                          target_total, lse, z_loss, sample);
    row.target_scale = sample;
    return row;
}

// A soft target's weight before sample_weight, a_j = w_j (keep t_j + eps / C) (the Hessian's
// softcap term uses it with the factors already scaled).
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real soft_target_weight(Real class_weight, Real keep, Real target,
                                                Real smooth) {
    return class_weight * (keep * target + smooth);
}

// The gradient g_j = probability e_j - target (w_j or the soft a_j / sample) [- label at y],
// times the reduction's factor; e_j = exp(d_j) as stored by the exp pass, S their sum.
template <class Real>
struct GradientFactors {
    Real probability;
    Real target;
    Real label;
};

template <class Real>
FUSEDLOSS_ALWAYS_INLINE GradientFactors<Real> gradient_factors(const RowCoefficients& row,
                                                               Real sum, double scale) {
    GradientFactors<Real> factors;
    factors.probability = static_cast<Real>(scale * row.lse_coefficient) / sum;
    factors.target = static_cast<Real>(scale * row.target_scale);
    factors.label = static_cast<Real>(scale * row.row_weight * row.keep);
    return factors;
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
