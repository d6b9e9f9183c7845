// The elementwise losses: each is its maths alone, a policy that elementwise_driver.inl runs
// (weights, threads, reductions and stores are the driver's). The regression losses first:
// `x` is the prediction (or the raw prediction of a log-link loss), `t` the target; d = x - t.
// Then sigmoid_focal_loss, a classification loss of one logit and one target per element.
// Each loss is one struct here, one line of the table at the bottom, and one entry of the
// Python registry (python/fusedloss/_regression.py) that names it.
//
// Every member a loop calls is FUSEDLOSS_ALWAYS_INLINE: GCC's inliner once left Tweedie's
// loss() a call per element, and the loop scalar (40 ns an element).
//
// Precision: the loss of one element is returned as a double, so that its float64 sum loses
// nothing more. Where the loss is a difference of two terms that may cancel (the log-link
// losses: Poisson's exp(x) - t x is 0 at t x = exp(x)), its terms are computed in double, exp
// included: a float32 exp would leave 1 ulp of the larger term in a result that may be far
// smaller. Gradients and Hessians are computed in the input's type.
// NaN propagates: a NaN prediction or target gives a NaN loss and gradient (the sign and
// clip selects are written so that a NaN falls through to d itself).

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// sign(d): -1, 0 or 1, and NaN for NaN.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real sign_or_nan(Real d) {
    return d > Real(0) ? Real(1) : (d < Real(0) ? Real(-1) : d * Real(0));
}

// (pred - target)^2, torch's mse_loss. Gradient 2 d, Hessian 2 (the 2 is the driver's unit).
template <class Real>
struct SquaredError : PointwiseLoss {
    static constexpr double gradient_unit = 2.0;
    static constexpr double hessian_unit = 2.0;
    explicit SquaredError(const double*) {}
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t) const {
        const double d = static_cast<double>(x - t);
        return d * d;
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t) const { return x - t; }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real, Real) const { return Real(1); }
};

// |d|, torch's l1_loss: gradient sign(d) (0 at 0), Hessian 0.
template <class Real>
struct AbsoluteError : PointwiseLoss {
    explicit AbsoluteError(const double*) {}
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t) const {
        const Real d = x - t;
        return static_cast<double>(d < Real(0) ? -d : d);
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t) const { return sign_or_nan(x - t); }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real, Real) const { return Real(0); }
};

// d^2 / 2 for |d| <= delta, else delta (|d| - delta / 2); gradient clip(d, -delta, delta),
// Hessian 1 inside, 0 outside (scikit-learn's HuberLoss; torch's huber_loss).
template <class Real>
struct HuberLoss : PointwiseLoss {
    Real delta;
    explicit HuberLoss(const double* parameters) : delta(static_cast<Real>(parameters[0])) {}
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t) const {
        const double d = static_cast<double>(x - t);
        const double absolute = d < 0.0 ? -d : d;
        const double limit = static_cast<double>(delta);
        return absolute <= limit ? 0.5 * d * d : limit * (absolute - 0.5 * limit);
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t) const {
        const Real d = x - t;
        return d > delta ? delta : (d < -delta ? -delta : d);
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real x, Real t) const {
        const Real d = x - t;
        return (d < Real(0) ? -d : d) <= delta ? Real(1) : Real(0);
    }
};

// d^2 / (2 beta) for |d| < beta, else |d| - beta / 2 (torch's smooth_l1_loss), for beta > 0
// (beta = 0 is |d|: the registry runs mean_absolute_error's kernel for it). The gradient is
// clip(d / beta, -1, 1), the same function as "d / beta inside, sign(d) outside" written
// without the |d| < beta test: GCC merged that float test with the loss's double one and left
// the gradient loops scalar (a float mask cannot select doubles; 23 ns an element at 1e7).
template <class Real>
struct SmoothL1Loss : PointwiseLoss {
    Real beta;
    Real inverse_beta;
    explicit SmoothL1Loss(const double* parameters)
        : beta(static_cast<Real>(parameters[0])),
          inverse_beta(static_cast<Real>(1.0 / parameters[0])) {}
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t) const {
        const double d = static_cast<double>(x - t);
        const double absolute = d < 0.0 ? -d : d;
        const double width = static_cast<double>(beta);
        return absolute < width ? 0.5 * d * d / width : absolute - 0.5 * width;
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t) const {
        const Real scaled = (x - t) * inverse_beta;
        return scaled > Real(1) ? Real(1) : (scaled < Real(-1) ? Real(-1) : scaled);
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real x, Real t) const {
        const Real d = x - t;
        return (d < Real(0) ? -d : d) < beta ? inverse_beta : Real(0);
    }
};

// q max(-d, 0) + (1 - q) max(d, 0): gradient 1 - q where pred > target, else -q (a tie
// included, as scikit-learn's PinballLoss), Hessian 0.
template <class Real>
struct PinballLoss : PointwiseLoss {
    Real quantile;
    explicit PinballLoss(const double* parameters) : quantile(static_cast<Real>(parameters[0])) {}
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t) const {
        const double d = static_cast<double>(x - t);
        const double q = static_cast<double>(quantile);
        return d > 0.0 ? (1.0 - q) * d : -q * d;
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t) const {
        const Real d = x - t;
        return d > Real(0) ? Real(1) - quantile : (d <= Real(0) ? -quantile : d);
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real, Real) const { return Real(0); }
};

// exp(raw) - t raw: torch's poisson_nll_loss(log_input=True, full=False), scikit-learn's
// HalfPoissonLoss less its constant. Targets >= 0.
template <class Real>
struct PoissonLoss : PointwiseLoss {
    static constexpr bool compute_bound = true;
    static constexpr bool has_target_domain = true;
    static const char* target_domain(const double*) { return "target >= 0"; }
    explicit PoissonLoss(const double*) {}
    FUSEDLOSS_ALWAYS_INLINE bool target_in_domain(Real t) const { return !(t < Real(0)); }
    FUSEDLOSS_ALWAYS_INLINE double loss(Real raw, Real t) const {
        const double x = static_cast<double>(raw);
        return exp_value(x) - static_cast<double>(t) * x;
    }
    // From the loss's double exp (the compiler computes it once per element): one exp an
    // element, and exp(raw) - t without float32 cancellation.
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real raw, Real t) const {
        return static_cast<Real>(exp_value(static_cast<double>(raw)) - static_cast<double>(t));
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real raw, Real) const { return exp_value(raw); }
};

// raw + t exp(-raw): scikit-learn's HalfGammaLoss less its constant. Targets > 0.
template <class Real>
struct GammaLoss : PointwiseLoss {
    static constexpr bool compute_bound = true;
    static constexpr bool has_target_domain = true;
    static const char* target_domain(const double*) { return "target > 0"; }
    explicit GammaLoss(const double*) {}
    FUSEDLOSS_ALWAYS_INLINE bool target_in_domain(Real t) const { return !(t <= Real(0)); }
    FUSEDLOSS_ALWAYS_INLINE double loss(Real raw, Real t) const {
        const double x = static_cast<double>(raw);
        return x + static_cast<double>(t) * exp_value(-x);
    }
    // From the loss's double exp, as Poisson's.
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real raw, Real t) const {
        return static_cast<Real>(1.0 - static_cast<double>(t) * exp_value(-static_cast<double>(raw)));
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real raw, Real t) const { return t * exp_value(-raw); }
};

// scikit-learn's HalfTweedieLoss (log link) for power p outside {0, 1, 2} (1: PoissonLoss,
// 2: GammaLoss, 0: TweedieZeroPower; the registry picks the kernel):
//   exp((2 - p) raw) / (2 - p) - t exp((1 - p) raw) / (1 - p).
// Targets: any for p < 0, >= 0 for 1 < p < 2, > 0 for p > 2 (0 < p < 1 is rejected by Python).
template <class Real>
struct TweedieLoss : PointwiseLoss {
    static constexpr bool compute_bound = true;
    static constexpr bool has_target_domain = true;
    static const char* target_domain(const double* parameters) {
        return parameters[0] < 0.0 ? "any target" : parameters[0] < 2.0 ? "target >= 0" : "target > 0";
    }
    double a, b, inverse_a, inverse_b;  // 2 - p, 1 - p and their inverses, in double
    Real two_minus_p, one_minus_p;
    int domain;  // 0: any, 1: t >= 0, 2: t > 0
    explicit TweedieLoss(const double* parameters)
        : a(2.0 - parameters[0]),
          b(1.0 - parameters[0]),
          inverse_a(1.0 / (2.0 - parameters[0])),
          inverse_b(1.0 / (1.0 - parameters[0])),
          two_minus_p(static_cast<Real>(2.0 - parameters[0])),
          one_minus_p(static_cast<Real>(1.0 - parameters[0])),
          domain(parameters[0] < 0.0 ? 0 : parameters[0] < 2.0 ? 1 : 2) {}
    FUSEDLOSS_ALWAYS_INLINE bool target_in_domain(Real t) const {
        return domain == 0 || (domain == 1 ? !(t < Real(0)) : !(t <= Real(0)));
    }
    FUSEDLOSS_ALWAYS_INLINE double loss(Real raw, Real t) const {
        const double x = static_cast<double>(raw);
        return exp_value(a * x) * inverse_a - static_cast<double>(t) * exp_value(b * x) * inverse_b;
    }
    // From the loss's two double exps (computed once per element).
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real raw, Real t) const {
        const double x = static_cast<double>(raw);
        return static_cast<Real>(exp_value(a * x) - static_cast<double>(t) * exp_value(b * x));
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real raw, Real t) const {
        return two_minus_p * exp_value(two_minus_p * raw) - one_minus_p * t * exp_value(one_minus_p * raw);
    }
};

// HalfTweedieLoss at power 0 (normal errors, log link): (exp(raw) - t)^2 / 2.
template <class Real>
struct TweedieZeroPower : PointwiseLoss {
    static constexpr bool compute_bound = true;
    explicit TweedieZeroPower(const double*) {}
    FUSEDLOSS_ALWAYS_INLINE double loss(Real raw, Real t) const {
        const double d = exp_value(static_cast<double>(raw)) - static_cast<double>(t);
        return 0.5 * d * d;
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real raw, Real t) const {  // from the loss's double exp
        const double e = exp_value(static_cast<double>(raw));
        return static_cast<Real>(e * (e - static_cast<double>(t)));
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real raw, Real t) const {
        const Real e = exp_value(raw);
        return e * (Real(2) * e - t);
    }
};

// ----------------------------------------------------------------------------- sigmoid BCE
// PyTorch's binary_cross_entropy_with_logits per element, x a logit, t a target (any real),
// p the element's pos_weight (absent: 1) and L = 1 + (p - 1) t (absent: exactly 1, not
// 1 + 0 t, which is NaN for t = inf), in its stable form with e = exp(-|x|):
//   loss = (1 - t) x + L (log1p(e) + max(-x, 0)),
// its linear part evaluated as (1 - t) x for x >= 0 and -p t x below (the same value, without
// the cancellation of its two terms);
//   d/dx = (1 - t) - L sigmoid(-x) = L sigmoid(x) - p t,
// the first form for x >= 0 and the second below, so that neither cancels needlessly;
//   d2/dx2 = L sigmoid(x) sigmoid(-x) = L e / (1 + e)^2.
// sigmoid(-|x|) = e / (1 + e): nothing overflows for any finite x. The element weight
// (`weight`) is the driver's; `pos_weight` is the element parameter.
// e = exp(-|x|), the start of both sigmoid losses' maths: their prepared value
// (PointwiseLoss::prepares), computed by the driver in a loop of its own.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real exp_of_minus_absolute(Real x) {
    const Real absolute = x < Real(0) ? -x : x;
    return exp_value(-absolute);
}

template <class Real>
struct SigmoidBinaryCrossEntropy : PointwiseLoss {
    static constexpr bool compute_bound = true;
    static constexpr bool has_element_weight = true;
    static constexpr bool has_element_parameter = true;
    static constexpr bool prepares = true;
    explicit SigmoidBinaryCrossEntropy(const double*) {}
    FUSEDLOSS_ALWAYS_INLINE Real prepare(Real x) const { return exp_of_minus_absolute(x); }
    // sigmoid(-|x|) from e
    static FUSEDLOSS_ALWAYS_INLINE Real sigmoid_small(Real e) { return e / (Real(1) + e); }
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t, Real e) const {
        const Real linear = x >= Real(0) ? (Real(1) - t) * x : -t * x;
        return static_cast<double>(linear + log1p_unit_interval(e));
    }
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t, Real positive_weight, Real e) const {
        const Real log_weight = Real(1) + (positive_weight - Real(1)) * t;
        const Real linear = x >= Real(0) ? (Real(1) - t) * x : -(positive_weight * t) * x;
        return static_cast<double>(multiply_add(log_weight, log1p_unit_interval(e), linear));
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t, Real e) const {
        const Real small = sigmoid_small(e);
        return x >= Real(0) ? (Real(1) - t) - small : small - t;
    }
    // multiply_add where both addends are products (L s - p t): spelled out, the SIMD body and
    // the scalar remainder round alike (an element's last bit once depended on its position
    // in a chunk, so a Dask chunk gave other gradients than the in-memory call).
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t, Real positive_weight, Real e) const {
        const Real log_weight = Real(1) + (positive_weight - Real(1)) * t;
        const Real small = sigmoid_small(e);
        return x >= Real(0) ? multiply_add(-log_weight, small, Real(1) - t)
                            : multiply_add(log_weight, small, -(positive_weight * t));
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real x, Real) const {
        const Real e = exp_of_minus_absolute(x);
        const Real u = Real(1) + e;
        return (e / u) / u;
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real x, Real t, Real positive_weight) const {
        return hessian(x, t) * (Real(1) + (positive_weight - Real(1)) * t);
    }
};

// ----------------------------------------------------------------------------- sigmoid focal
// torchvision's sigmoid_focal_loss per element, x a logit, t a target (any real, as BCE's:
// soft targets, not range-checked):
//   p = sigmoid(x),  ce = max(x, 0) - x t + log1p(exp(-|x|))  (BCE with logits),
//   q = 1 - p_t = p (1 - t) + (1 - p) t,  loss = a ce q^gamma,
//   a = alpha t + (1 - alpha)(1 - t), or 1 for alpha < 0.
// With s = p (1 - p) and the modulating factor m = q^gamma:
//   ce' = p - t,  ce'' = s,  q' = (1 - 2t) s,  q'' = q' (1 - 2p),
//   m' = gamma q^(gamma-1) q',  m'' = gamma (gamma-1) q^(gamma-2) q'^2 + gamma q^(gamma-1) q'',
//   loss' = a (ce' m + ce m'),  loss'' = a (s m + 2 ce' m' + ce m'').
// Stable at any logit: p and 1 - p are sigmoid(x) and sigmoid(-x) from e = exp(-|x|) (neither
// is 1 minus the other, which would leave nothing of a small 1 - p), ce is BCE's form without
// cancellation ((1 - t) x for x >= 0, -t x below, as BCE above), and
// p - t is p (1 - t) - (1 - p) t (for t = 1 the small 1 - p itself).

// The per-element quantities every term shares (the compiler computes them once per element
// for the loss, gradient and Hessian of one loop).
template <class Real>
struct SigmoidFocalTerms {
    Real p;            // sigmoid(x)
    Real complement;   // 1 - p, as sigmoid(-x)
    Real variance;     // s = p (1 - p)
    Real ce;           // BCE with logits
    Real ce_slope;     // ce' = p - t
    Real q;            // 1 - p_t
    Real q_slope;      // q' = (1 - 2t) s
};

template <class Real>
FUSEDLOSS_ALWAYS_INLINE SigmoidFocalTerms<Real> sigmoid_focal_terms(Real x, Real t, Real e) {
    const Real large = Real(1) / (Real(1) + e);  // sigmoid(|x|)
    const Real small = e * large;                // sigmoid(-|x|): one division for both
    SigmoidFocalTerms<Real> terms;  // a NaN x or t makes every term NaN
    terms.p = x >= Real(0) ? large : small;
    terms.complement = x >= Real(0) ? small : large;
    terms.variance = terms.p * terms.complement;
    const Real t_complement = Real(1) - t;
    terms.ce = (x >= Real(0) ? t_complement * x : -t * x) + log1p_unit_interval(e);
    terms.ce_slope = terms.p * t_complement - terms.complement * t;
    terms.q = terms.p * t_complement + terms.complement * t;
    terms.q_slope = (Real(1) - Real(2) * t) * terms.variance;
    return terms;
}

// The modulating factor m = q^gamma and its derivatives m', m'' for an integer gamma fixed at
// compile time: 0 is BCE (m = 1; its terms, and their inf * 0 at an infinite logit, are left
// out), 2 is the default (q q instead of a pow). Defined for any q: no power below 0 is formed.
template <int exponent, class Real>
FUSEDLOSS_ALWAYS_INLINE Real integer_power(Real q) {
    if constexpr (exponent <= 0) {
        return Real(1);
    } else {
        return q * integer_power<exponent - 1>(q);
    }
}

template <class Real, int gamma>
struct IntegerGamma {
    static constexpr bool constant = gamma == 0;
    explicit IntegerGamma(double) {}
    FUSEDLOSS_ALWAYS_INLINE Real value(const SigmoidFocalTerms<Real>& terms) const {
        return integer_power<gamma>(terms.q);
    }
    FUSEDLOSS_ALWAYS_INLINE Real first(const SigmoidFocalTerms<Real>& terms) const {
        return Real(gamma) * integer_power<gamma - 1>(terms.q) * terms.q_slope;
    }
    FUSEDLOSS_ALWAYS_INLINE Real second(const SigmoidFocalTerms<Real>& terms) const {
        const Real q_curvature = terms.q_slope * (terms.complement - terms.p);  // q'' = q' (1 - 2p)
        const Real second_power =
            gamma >= 2 ? Real(gamma * (gamma - 1)) * integer_power<gamma - 2>(terms.q) *
                             terms.q_slope * terms.q_slope
                       : Real(0);
        return second_power + Real(gamma) * integer_power<gamma - 1>(terms.q) * q_curvature;
    }
};

// Any gamma >= 0. m = q^gamma as std::pow takes it (0^gamma = 0, 1 at gamma = 0; a negative q,
// from a target outside [0, 1], keeps its sign for an odd whole gamma and is NaN for a
// fractional one), as exp(gamma log|q|) in double, float32 too: in float32 log's rounding
// would come out of exp times |gamma log q| (16 at q = 0.01, gamma = 3.5: some 10-20 ulps).
// With r = q' / q no power below 0 is formed:
//   m' = gamma m r,  m'' = gamma m r ((gamma - 1) r + 1 - 2p) = m' ((gamma - 1) r + 1 - 2p),
// and for t in [0, 1] |r| <= 1 (s <= min(p, 1 - p) <= q): nothing overflows where m does not
// (q^(gamma-2) q'^2 as written would be inf * 0 near q = 0 for gamma < 2). r is 0 where q = 0:
// for t in [0, 1] that is where s = 0, so q' = 0 and the terms r enters vanish; for a target
// outside [0, 1] they are taken as 0 there too: exact for gamma > 2 (gamma 2 has its own
// kernel); below, a guard (q^(gamma-1), q^(gamma-2) are infinite there, or 1 at gamma 1),
// the same as the float64 reference's.
template <class Real>
struct AnyGamma {
    static constexpr bool constant = false;
    double gamma;
    double zero_power;          // 0^gamma
    double negative_base_sign;  // q^gamma / |q|^gamma for q < 0: -1, 1, or NaN
    Real gamma_real, gamma_minus_one;
    explicit AnyGamma(double exponent)
        : gamma(exponent),
          zero_power(exponent == 0.0 ? 1.0 : 0.0),
          negative_base_sign(floor(exponent) != exponent ? NAN
                             : fmod(exponent, 2.0) == 1.0 ? -1.0 : 1.0),
          gamma_real(static_cast<Real>(exponent)),
          gamma_minus_one(static_cast<Real>(exponent - 1.0)) {}
    FUSEDLOSS_ALWAYS_INLINE Real value(const SigmoidFocalTerms<Real>& terms) const {
        const double q = static_cast<double>(terms.q);
        const double magnitude = exp_value(gamma * log_value(q < 0.0 ? -q : q));
        return static_cast<Real>(q == 0.0 ? zero_power
                                          : (q < 0.0 ? negative_base_sign * magnitude : magnitude));
    }
    FUSEDLOSS_ALWAYS_INLINE Real slope_ratio(const SigmoidFocalTerms<Real>& terms) const {
        return terms.q != Real(0) ? terms.q_slope / terms.q : Real(0);
    }
    FUSEDLOSS_ALWAYS_INLINE Real first(const SigmoidFocalTerms<Real>& terms) const {
        return gamma_real * value(terms) * slope_ratio(terms);
    }
    FUSEDLOSS_ALWAYS_INLINE Real second(const SigmoidFocalTerms<Real>& terms) const {
        const Real r = slope_ratio(terms);
        return first(terms) * (gamma_minus_one * r + (terms.complement - terms.p));
    }
};

// Parameters: alpha, gamma (the registry's order). The `weight` operand is the driver's.
template <class Real, class Modulation>
struct SigmoidFocalLoss : PointwiseLoss {
    static constexpr bool compute_bound = true;
    static constexpr bool has_element_weight = true;
    static constexpr bool prepares = true;
    Real alpha, alpha_complement;
    // 1 for alpha >= 0, else 0 (alpha_t = 1). A Real, not a bool: GCC left every loop of the
    // loss scalar for a select on a bool member (20 ns an element instead of 1-3).
    Real alpha_weighted;
    Modulation modulation;
    explicit SigmoidFocalLoss(const double* parameters)
        : alpha(static_cast<Real>(parameters[0])),
          alpha_complement(static_cast<Real>(1.0 - parameters[0])),
          alpha_weighted(parameters[0] >= 0.0 ? Real(1) : Real(0)),
          modulation(parameters[1]) {}
    FUSEDLOSS_ALWAYS_INLINE Real alpha_factor(Real t) const {
        return alpha_weighted != Real(0) ? alpha * t + alpha_complement * (Real(1) - t) : Real(1);
    }
    FUSEDLOSS_ALWAYS_INLINE Real prepare(Real x) const { return exp_of_minus_absolute(x); }
    FUSEDLOSS_ALWAYS_INLINE double loss(Real x, Real t, Real e) const {
        const SigmoidFocalTerms<Real> terms = sigmoid_focal_terms(x, t, e);
        return static_cast<double>(alpha_factor(t) * (terms.ce * modulation.value(terms)));
    }
    FUSEDLOSS_ALWAYS_INLINE Real gradient(Real x, Real t, Real e) const {
        const SigmoidFocalTerms<Real> terms = sigmoid_focal_terms(x, t, e);
        Real slope = terms.ce_slope * modulation.value(terms);
        if constexpr (!Modulation::constant) slope = slope + terms.ce * modulation.first(terms);
        return alpha_factor(t) * slope;
    }
    FUSEDLOSS_ALWAYS_INLINE Real hessian(Real x, Real t) const {
        const SigmoidFocalTerms<Real> terms = sigmoid_focal_terms(x, t, exp_of_minus_absolute(x));
        Real curvature = terms.variance * modulation.value(terms);
        if constexpr (!Modulation::constant) {
            curvature = curvature + Real(2) * terms.ce_slope * modulation.first(terms) +
                        terms.ce * modulation.second(terms);
        }
        return alpha_factor(t) * curvature;
    }
};

// One kernel per modulation the registry picks by gamma (_regression.py).
template <class Real>
using SigmoidFocalLossAnyGamma = SigmoidFocalLoss<Real, AnyGamma<Real>>;
template <class Real>
using SigmoidFocalLossGamma0 = SigmoidFocalLoss<Real, IntegerGamma<Real, 0>>;
template <class Real>
using SigmoidFocalLossGamma2 = SigmoidFocalLoss<Real, IntegerGamma<Real, 2>>;

// The table: the Python registry finds a kernel by its name here.
const ElementwiseLossEntry elementwise_loss_entries[] = {
    elementwise_entry<SquaredError>("mean_squared_error"),
    elementwise_entry<SigmoidBinaryCrossEntropy>("sigmoid_binary_cross_entropy"),
    elementwise_entry<AbsoluteError>("mean_absolute_error"),
    elementwise_entry<HuberLoss>("huber_loss"),
    elementwise_entry<SmoothL1Loss>("smooth_l1_loss"),
    elementwise_entry<PinballLoss>("pinball_loss"),
    elementwise_entry<PoissonLoss>("poisson_loss"),
    elementwise_entry<GammaLoss>("gamma_loss"),
    elementwise_entry<TweedieLoss>("tweedie_loss"),
    elementwise_entry<TweedieZeroPower>("tweedie_loss_power_0"),
    elementwise_entry<SigmoidFocalLossAnyGamma>("sigmoid_focal_loss"),
    elementwise_entry<SigmoidFocalLossGamma0>("sigmoid_focal_loss_gamma_0"),
    elementwise_entry<SigmoidFocalLossGamma2>("sigmoid_focal_loss_gamma_2"),
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
