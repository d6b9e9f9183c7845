// Softmax cross-entropy with integer labels, forward and fused forward+backward.
//
// Per row, while the row is in cache: (1) the max m, one read of the logits from memory;
// (2) e_j = exp(x_j - m) and their sum S -- with a gradient, e_j is stored in the gradient
// row (which may be the logits row itself: x_j is read before e_j is written); (3) the
// gradient row is scaled in place, g_j = w * scale * e_j / S, and w * scale is subtracted at
// the label. So memory sees one read of the logits and one write of the gradient.
// The shift uses m only when it is finite: a row of -inf gives lse = -inf, a row holding +inf
// gives lse = +inf (as SciPy / PyTorch), and NaN anywhere in a row makes that row NaN.
//
// The row paths, chosen by shape and options in softmax_cross_entropy() at the end:
//   plain rows and their small-C tiles (labels, weights, ignore_index): the row driver on the
//     policy SoftmaxCrossEntropyRows (classification_losses.inl: the label-softmax rows the
//     focal loss shares, F(ce) = ce)
//   softmax_cross_entropy_small_block     C <= 16 with options: tiles of rows
//   softmax_cross_entropy_labels_options_block   labels with smoothing / z-loss / argmax
//   softmax_cross_entropy_options_block   soft targets or softcap
// and, for C >= long_row_classes, the chunked long-row path (softmax_cross_entropy_long_rows.inl).
// The row helpers (row_maximum, store_shifted_exp, ...) are in row_softmax.inl; the option
// maths every path shares (row loss, lse coefficient, gradient factors) in
// softmax_cross_entropy_coefficients.inl.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// An ignored row: loss 0, gradient 0.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE void write_ignored_row(const ClassificationArgs<Real>& args, std::int64_t row,
                                               Real* gradient, std::int64_t classes) {
    if (gradient != nullptr) zero_row(gradient, classes);
    if (args.row_losses != nullptr) args.row_losses[row] = Real(0);
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE bool is_ignored(const ClassificationArgs<Real>& args, std::int64_t label) {
    return args.has_ignore_index && label == args.ignore_index;
}

// Step (1) for row r of the tile: its shift, label logit, w_j = x_j - shift in the work row and,
// with label smoothing, sum_j w_j (x_j - shift). Returns whether the row's max is finite.
template <class Real, int fixed_classes, bool find_argmax>
FUSEDLOSS_ALWAYS_INLINE bool small_tile_shift_row(const ClassificationArgs<Real>& args,
                                                  std::int64_t row, std::int64_t classes,
                                                  Real* w, bool smoothing,
                                                  const Real* smoothing_weights,
                                                  SmallTileRows<Real>& rows, std::int64_t r) {
    const Real* row_logits = args.logits + row * args.logits_row_stride;
    const std::int64_t label = args.labels[row];
    // With C known, the row is first copied to the stack: the work row may be the logits row
    // itself, and only a local copy lets the compiler vectorise the fixed-length loops below
    // (no aliasing left to rule out).
    Real row_copy[fixed_classes > 0 ? fixed_classes : 1];
    const Real* x = row_logits;
    if (fixed_classes > 0) {
        for (std::int64_t j = 0; j < fixed_classes; ++j) row_copy[j] = row_logits[j];
        x = row_copy;
    }
    std::int64_t* argmax = args.argmax != nullptr ? args.argmax + row : nullptr;
    const Real maximum = small_row_maximum<Real, find_argmax>(x, classes, argmax);
    const bool finite = is_finite_value(maximum);
    const Real shift = finite ? maximum : Real(0);
    rows.label_logit[r] = is_ignored(args, label) ? Real(0) : x[label];
    rows.shift[r] = shift;
    for (std::int64_t j = 0; j < classes; ++j) w[j] = x[j] - shift;
    if (smoothing) {
        // Four interleaved partial sums, added pairwise: one running sum made a chain of C
        // dependent multiply-adds per row (label smoothing cost +67 % at C = 10).
        Real partial[4] = {0, 0, 0, 0};
        for (std::int64_t j = 0; j < classes; ++j) partial[j & 3] += smoothing_weights[j] * w[j];
        rows.smoothing_sum[r] = (partial[0] + partial[1]) + (partial[2] + partial[3]);
    }
    return finite;
}

// Step (4) with options (label smoothing, z-loss): the row's loss; the gradient row from e_j.
template <class Real, bool with_gradient>
FUSEDLOSS_ALWAYS_INLINE double small_tile_options_row(const ClassificationArgs<Real>& args,
                                                      const LabelOptions& options,
                                                      std::int64_t row, std::int64_t label,
                                                      Real* w, std::int64_t classes,
                                                      const Real* smoothing_weights,
                                                      const SmallTileRows<Real>& rows,
                                                      std::int64_t r) {
    const double sample = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
    const double label_weight = args.class_weight != nullptr ? args.class_weight[label] : 1.0;
    const RowCoefficients coefficients = label_row_coefficients(
        options, sample, label_weight, rows.log_sum[r], rows.label_logit[r], rows.shift[r],
        static_cast<double>(rows.smoothing_sum[r]));
    if (with_gradient) {
        const GradientFactors<Real> factors =
            gradient_factors(coefficients, rows.sum[r], args.gradient_scale);
        for (std::int64_t j = 0; j < classes; ++j) {
            w[j] = factors.probability * w[j] -
                   (options.smoothing ? factors.target * smoothing_weights[j] : Real(0));
        }
        w[label] -= factors.label;
    }
    return coefficients.loss;
}

// Few classes (C <= small_class_limit) with options: integer labels with label smoothing /
// z-loss / argmax (the row coefficients of softmax_cross_entropy_coefficients.inl); no softcap,
// no soft targets. The tile steps of row_softmax.inl (small_tile_exp_and_sums), as the plain
// rows' tiles (classification_losses.inl, label_softmax_tile). fixed_classes > 0: C known at
// compile time (the per-row loops are unrolled); 0: args.classes.
template <class Real, bool with_gradient, int fixed_classes>
double softmax_cross_entropy_small_block(const ClassificationArgs<Real>& args, std::int64_t first,
                                         std::int64_t end) {
    const std::int64_t classes = fixed_classes > 0 ? fixed_classes : args.classes;
    const LabelOptions label_constants = label_options(args, KeepRounding::in_double);
    const bool smoothing = label_constants.smoothing;
    // The class weights as Real, 1 where absent: no per-element null test in the row loops.
    Real smoothing_weights[small_class_limit];
    for (std::int64_t j = 0; j < classes && j < small_class_limit; ++j) {
        smoothing_weights[j] =
            args.class_weight != nullptr ? static_cast<Real>(args.class_weight[j]) : Real(1);
    }
    Real scratch[with_gradient ? 1 : small_class_tile * small_class_limit];
    SmallTileRows<Real> rows;
    double block_sum = 0.0;
    for (std::int64_t tile = first; tile < end; tile += small_class_tile) {
        const std::int64_t tile_rows = end - tile < small_class_tile ? end - tile : small_class_tile;
        Real* work = with_gradient ? args.gradient + tile * classes : scratch;
        bool all_finite = true;
        for (std::int64_t r = 0; r < tile_rows; ++r) {
            all_finite = small_tile_shift_row<Real, fixed_classes, true>(
                             args, tile + r, classes, work + r * classes, smoothing,
                             smoothing_weights, rows, r) &&
                         all_finite;
        }
        small_tile_exp_and_sums(work, tile_rows, classes, all_finite, rows);
        for (std::int64_t r = 0; r < tile_rows; ++r) {
            const std::int64_t row = tile + r;
            const std::int64_t label = args.labels[row];
            Real* w = work + r * classes;
            if (args.argmax != nullptr && rows.sum[r] != rows.sum[r]) {
                // A NaN sum of exponentials means a NaN logit (exp(x_j - shift) is NaN only
                // there, the other terms are >= 0 or +inf): np.argmax is the first NaN, read
                // from the work row before it is scaled.
                std::int64_t j = 0;
                while (j + 1 < classes && w[j] == w[j]) ++j;
                args.argmax[row] = j;
            }
            if (is_ignored(args, label)) {
                write_ignored_row(args, row, with_gradient ? w : nullptr, classes);
                continue;
            }
            const double loss = small_tile_options_row<Real, with_gradient>(
                args, label_constants, row, label, w, classes, smoothing_weights, rows, r);
            if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(loss);
            block_sum += loss;
        }
    }
    return block_sum;
}

template <class Real, bool with_gradient>
double softmax_cross_entropy_small(const ClassificationArgs<Real>& args, std::int64_t first,
                                   std::int64_t end) {
    switch (args.classes) {
#define FUSEDLOSS_SMALL_CASE(c) \
    case c: return softmax_cross_entropy_small_block<Real, with_gradient, c>(args, first, end);
        FUSEDLOSS_SMALL_CASE(2) FUSEDLOSS_SMALL_CASE(3) FUSEDLOSS_SMALL_CASE(4)
        FUSEDLOSS_SMALL_CASE(5) FUSEDLOSS_SMALL_CASE(6) FUSEDLOSS_SMALL_CASE(7)
        FUSEDLOSS_SMALL_CASE(8) FUSEDLOSS_SMALL_CASE(9) FUSEDLOSS_SMALL_CASE(10)
        FUSEDLOSS_SMALL_CASE(11) FUSEDLOSS_SMALL_CASE(12) FUSEDLOSS_SMALL_CASE(13)
        FUSEDLOSS_SMALL_CASE(14) FUSEDLOSS_SMALL_CASE(15) FUSEDLOSS_SMALL_CASE(16)
#undef FUSEDLOSS_SMALL_CASE
        default: return softmax_cross_entropy_small_block<Real, with_gradient, 0>(args, first, end);
    }
}

// The row's maximum (NaN ignored, as row_maximum) and np.argmax: the first NaN if the row
// holds one, else the first index of the maximum. Max and "any NaN" in one SIMD pass, then
// blocks of 128 tested with a SIMD reduction, a scalar scan only inside the block that hits.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real row_maximum_and_argmax(const Real* x, std::int64_t classes,
                                                    std::int64_t* argmax) {
    Real maximum = -__builtin_huge_valf();
    Real any_nan = 0;
    FUSEDLOSS_SIMD_MAX(maximum, any_nan)
    for (std::int64_t j = 0; j < classes; ++j) {
        maximum = x[j] > maximum ? x[j] : maximum;
        any_nan = x[j] != x[j] ? Real(1) : any_nan;
    }
    *argmax = 0;
    if (any_nan != Real(0)) {  // rare: a plain scan for the first NaN
        for (std::int64_t j = 0; j < classes; ++j) {
            if (x[j] != x[j]) {
                *argmax = j;
                break;
            }
        }
        return maximum;
    }
    // The test is an integer OR over the block, and NaN is ruled out above, so the block loop
    // is one compare and one OR per vector (a select of "match ? 1 : hit" on a NaN-aware
    // condition had stayed several times slower).
    constexpr std::int64_t block = 128;
    for (std::int64_t start = 0; start < classes; start += block) {
        const std::int64_t stop = start + block < classes ? start + block : classes;
        int hit = 0;
        FUSEDLOSS_SIMD_OR(hit)
        for (std::int64_t j = start; j < stop; ++j) hit |= static_cast<int>(x[j] == maximum);
        if (hit == 0) continue;
        for (std::int64_t j = start; j < stop; ++j) {
            if (x[j] == maximum) {
                *argmax = j;
                return maximum;
            }
        }
    }
    return maximum;
}

// The max pass of the option paths: the row's max, and its argmax when asked for.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real options_row_maximum(const ClassificationArgs<Real>& args,
                                                 const Real* x, std::int64_t row) {
    return args.argmax != nullptr ? row_maximum_and_argmax(x, args.classes, args.argmax + row)
                                  : row_maximum(x, args.classes);
}

// The exp pass with label smoothing: S = sum_j exp(x_j - shift) (stored in `out` with a
// gradient) and, in the same sweep, sum_j w_j (x_j - shift) (w_j = 1 unweighted), the
// smoothing part of the row loss -- x_j is read once, before `out` (maybe x itself) is written.
template <class Real, bool with_gradient, bool weighted, bool nonpositive>
FUSEDLOSS_ALWAYS_INLINE Real shifted_exp_and_smoothing_sum(const Real* x, Real shift, Real* out,
                                                           const double* class_weight,
                                                           std::int64_t classes,
                                                           double* weighted_shifted) {
    // In pieces, each piece's SIMD sums added in float64 (see accurate_sum_piece).
    double wide_sum = 0, wide_total = 0;
    for (std::int64_t begin = 0; begin < classes; begin += accurate_sum_piece) {
        const std::int64_t stop = classes - begin < accurate_sum_piece ? classes : begin + accurate_sum_piece;
        Real sum = 0, total = 0;
        FUSEDLOSS_SIMD_SUM(sum, total)
        for (std::int64_t j = begin; j < stop; ++j) {
            const Real d = x[j] - shift;
            const Real e = nonpositive ? exp_nonpositive(d) : exp_value(d);
            if (with_gradient) out[j] = e;
            sum += e;
            total += weighted ? static_cast<Real>(class_weight[j]) * d : d;
        }
        wide_sum += static_cast<double>(sum);
        wide_total += static_cast<double>(total);
    }
    *weighted_shifted = wide_total;
    return static_cast<Real>(wide_sum);
}

// The gradient of an integer-label row from e_j (stored by the exp pass):
// g_j = probability e_j - target w_j (the smoothing part), then - label at the label.
template <class Real, bool weighted>
FUSEDLOSS_ALWAYS_INLINE void write_label_gradient(Real* gradient, const GradientFactors<Real>& factors,
                                                  bool smoothing, const double* class_weight,
                                                  std::int64_t classes, std::int64_t label) {
    if (smoothing) {
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t j = 0; j < classes; ++j) {
            const Real w = weighted ? static_cast<Real>(class_weight[j]) : Real(1);
            gradient[j] = factors.probability * gradient[j] - factors.target * w;
        }
    } else {
        scale_row(gradient, factors.probability, classes);
    }
    gradient[label] -= factors.label;
}

// Integer labels with label smoothing / z-loss / argmax (no softcap): the plain path's three
// passes (max, stored exp, scale) and their SIMD helpers, plus one in-cache sum for smoothing
// and, with return_argmax, a vectorised search for the max's first index.
template <class Real, bool with_gradient, bool weighted>
double softmax_cross_entropy_labels_options_block(const ClassificationArgs<Real>& args,
                                                  std::int64_t first, std::int64_t end) {
    const std::int64_t classes = args.classes;
    const double* class_weight = args.class_weight;
    const LabelOptions options = label_options(args, KeepRounding::in_double);
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* x = args.logits + row * args.logits_row_stride;
        Real* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const Real maximum = options_row_maximum(args, x, row);
        const std::int64_t label = args.labels[row];
        if (is_ignored(args, label)) {
            write_ignored_row(args, row, gradient, classes);
            continue;
        }
        const bool finite = is_finite_value(maximum);
        const Real shift = finite ? maximum : Real(0);
        const double sample = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
        const Real label_logit = x[label];  // read before the gradient may overwrite it
        double weighted_shifted = 0;
        Real sum;
        if (options.smoothing) {
            sum = finite ? shifted_exp_and_smoothing_sum<Real, with_gradient, weighted, true>(
                               x, shift, gradient, class_weight, classes, &weighted_shifted)
                         : shifted_exp_and_smoothing_sum<Real, with_gradient, weighted, false>(
                               x, shift, gradient, class_weight, classes, &weighted_shifted);
        } else {
            const Real* next_row = row + 1 < args.rows ? x + args.logits_row_stride : nullptr;
            sum = shifted_exp_pass_prefetching<Real, with_gradient>(x, shift, finite, gradient,
                                                                    classes, next_row);
        }
        const RowCoefficients coefficients =
            label_row_coefficients(options, sample, weighted ? class_weight[label] : 1.0,
                                   log_scalar(sum), label_logit, shift, weighted_shifted);
        if (with_gradient) {
            write_label_gradient<Real, weighted>(
                gradient, gradient_factors(coefficients, sum, args.gradient_scale),
                options.smoothing, class_weight, classes, label);
        }
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(coefficients.loss);
        block_sum += coefficients.loss;
    }
    return block_sum;
}

// The soft-target / softcap path, the same three passes over a row. With a softcap the max
// pass reads the raw logits (z = cap tanh(x / cap) is monotonic in x, so it also finds their
// argmax); with a gradient, pass 2 stores tanh(x_j / cap) in the gradient row (which may be the
// logits row) and pass 3 recomputes exp from it while the row is in cache.
template <class Real>
struct SoftOptions {
    Real cap, inverse_cap;  // 1 and 1 without a softcap
    Real keep, smooth;      // 1 - eps, eps / C in Real: the soft targets' a_j
};

// Pass 2's sums (each in float64 over pieces): S, sum_j a_j d_j (soft) or sum_j w_j d_j
// (smoothing), and A (soft).
struct OptionSums {
    double sum, weighted_shifted, target_total;
};

// Summed in pieces (accurate_sum_piece in row_softmax.inl): float32 SIMD sums of a piece, added
// in float64, so that a row of 50000 classes keeps its sums to a few ulps.
template <class Real, bool with_gradient, bool soft, bool capped, bool weighted>
FUSEDLOSS_ALWAYS_INLINE OptionSums options_exp_pass(const Real* x, Real* gradient, const Real* target,
                                                    const double* class_weight, std::int64_t classes,
                                                    Real shift, bool smoothing,
                                                    const SoftOptions<Real>& constants) {
    OptionSums sums = {0, 0, 0};
    for (std::int64_t begin = 0; begin < classes; begin += accurate_sum_piece) {
        const std::int64_t stop = classes - begin < accurate_sum_piece ? classes : begin + accurate_sum_piece;
        Real sum = 0, weighted_shifted = 0, target_total = 0;
        FUSEDLOSS_SIMD_SUM(sum, weighted_shifted, target_total)
        for (std::int64_t j = begin; j < stop; ++j) {
            const Real raw = x[j];
            Real z = raw;
            if (capped) {
                const Real t = tanh_value(raw * constants.inverse_cap);
                z = constants.cap * t;
                if (with_gradient) gradient[j] = t;
            }
            const Real d = z - shift;
            const Real e = exp_value(d);
            if (with_gradient && !capped) gradient[j] = e;
            sum += e;
            const Real w = weighted ? static_cast<Real>(class_weight[j]) : Real(1);
            if (soft) {
                const Real a = soft_target_weight(w, constants.keep, target[j], constants.smooth);
                target_total += a;
                // a_j d_j adds nothing where either is 0, also for an infinite a_j at d_j = 0
                // (the max): its loss share a_j (log S - d_j) is all in A log S, and inf * 0
                // would turn the row's +-inf loss into NaN.
                weighted_shifted += (a != Real(0) && d != Real(0)) ? a * d : Real(0);
            } else if (smoothing) {
                weighted_shifted += w * d;
            }
        }
        sums.sum += static_cast<double>(sum);
        sums.weighted_shifted += static_cast<double>(weighted_shifted);
        sums.target_total += static_cast<double>(target_total);
    }
    return sums;
}

// Pass 3: g_j = (probability e_j - a_j-part) [* (1 - tanh^2)], then the label's part.
template <class Real, bool soft, bool capped, bool weighted>
FUSEDLOSS_ALWAYS_INLINE void options_gradient_pass(Real* gradient, const Real* target,
                                                   const double* class_weight, std::int64_t classes,
                                                   Real shift, bool smoothing,
                                                   const SoftOptions<Real>& constants,
                                                   const GradientFactors<Real>& factors) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < classes; ++j) {
        Real e, chain = Real(1);
        if (capped) {
            const Real t = gradient[j];
            e = exp_value(constants.cap * t - shift);
            chain = Real(1) - t * t;
        } else {
            e = gradient[j];
        }
        Real g = factors.probability * e;
        const Real w = weighted ? static_cast<Real>(class_weight[j]) : Real(1);
        if (soft) {
            g -= factors.target * soft_target_weight(w, constants.keep, target[j], constants.smooth);
        } else if (smoothing) {
            g -= factors.target * w;
        }
        gradient[j] = capped ? g * chain : g;
    }
}

// `weighted` (class weights given) is a template parameter: a load under a run-time
// `class_weight != nullptr` test cannot be if-converted, and the loops stayed scalar.
template <class Real, bool with_gradient, bool soft, bool capped, bool weighted>
double softmax_cross_entropy_options_block(const ClassificationArgs<Real>& args,
                                           std::int64_t first, std::int64_t end) {
    const std::int64_t classes = args.classes;
    const LabelOptions options = label_options(args, KeepRounding::in_real);
    SoftOptions<Real> constants;
    constants.cap = capped ? static_cast<Real>(args.softcap) : Real(1);
    constants.inverse_cap = capped ? static_cast<Real>(1.0 / args.softcap) : Real(1);
    constants.keep = static_cast<Real>(options.keep);
    constants.smooth = static_cast<Real>(options.smooth);
    const bool smoothing = !soft && options.smoothing;
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* x = args.logits + row * args.logits_row_stride;
        Real* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const Real* target = soft ? args.soft_targets + row * args.soft_targets_row_stride : nullptr;
        // Pass 1: the max of the raw logits (and their argmax).
        const Real maximum = options_row_maximum(args, x, row);
        const std::int64_t label = soft ? 0 : args.labels[row];
        if (!soft && is_ignored(args, label)) {
            write_ignored_row(args, row, gradient, classes);
            continue;
        }
        const Real capped_maximum = capped ? constants.cap * tanh_value(maximum * constants.inverse_cap) : maximum;
        const Real shift = is_finite_value(capped_maximum) ? capped_maximum : Real(0);
        const double sample = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
        Real label_logit = Real(0), label_tanh = Real(0);
        if (!soft) {
            label_logit = x[label];  // read before the gradient may overwrite it
            if (capped) {
                label_tanh = tanh_value(label_logit * constants.inverse_cap);
                label_logit = constants.cap * label_tanh;
            }
        }
        // Pass 2: S and the target sums.
        const OptionSums sums = options_exp_pass<Real, with_gradient, soft, capped, weighted>(
            x, gradient, target, args.class_weight, classes, shift, smoothing, constants);
        const Real sum = static_cast<Real>(sums.sum);
        const Real log_sum = log_scalar(sum);
        const RowCoefficients coefficients =
            soft ? soft_row_coefficients(options.z_loss, sample, sums.target_total,
                                         sums.weighted_shifted, log_sum, shift)
                 : label_row_coefficients(options, sample,
                                          (weighted && !soft) ? args.class_weight[label] : 1.0,
                                          log_sum, label_logit, shift, sums.weighted_shifted);
        if (with_gradient) {
            const GradientFactors<Real> factors = gradient_factors(coefficients, sum, args.gradient_scale);
            options_gradient_pass<Real, soft, capped, weighted>(gradient, target, args.class_weight, classes,
                                                                shift, smoothing, constants, factors);
            if (!soft) {
                const Real label_chain = capped ? Real(1) - label_tanh * label_tanh : Real(1);
                gradient[label] -= factors.label * label_chain;
            }
        }
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(coefficients.loss);
        block_sum += coefficients.loss;
    }
    return block_sum;
}

// Soft targets or a softcap, by the flags that are template parameters.
template <class Real, bool with_gradient>
double softmax_cross_entropy_soft_or_capped(const ClassificationArgs<Real>& args, std::int64_t first,
                                            std::int64_t end) {
    const bool soft = args.soft_targets != nullptr;
    const bool capped = args.softcap > 0.0;
    const bool weighted = args.class_weight != nullptr;
#define FUSEDLOSS_OPTIONS_CASE(soft_, capped_, weighted_)                                        \
    if (soft == soft_ && capped == capped_ && weighted == weighted_)                             \
        return softmax_cross_entropy_options_block<Real, with_gradient, soft_, capped_, weighted_>( \
            args, first, end);
    FUSEDLOSS_OPTIONS_CASE(true, true, true)
    FUSEDLOSS_OPTIONS_CASE(true, false, true)
    FUSEDLOSS_OPTIONS_CASE(true, true, false)
    FUSEDLOSS_OPTIONS_CASE(true, false, false)
    FUSEDLOSS_OPTIONS_CASE(false, true, true)
#undef FUSEDLOSS_OPTIONS_CASE
    return softmax_cross_entropy_options_block<Real, with_gradient, false, true, false>(args, first, end);
}

template <class Real, bool with_gradient>
double softmax_cross_entropy_options(const ClassificationArgs<Real>& args,
                                     const ReductionPlan& plan) {
    const bool labels_only = args.soft_targets == nullptr && !(args.softcap > 0.0);
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        if (labels_only && args.classes < small_class_limit) {  // (C = 32: rows, row_softmax.inl)
            return softmax_cross_entropy_small<Real, with_gradient>(args, first, end);
        }
        if (labels_only) {
            return args.class_weight != nullptr
                ? softmax_cross_entropy_labels_options_block<Real, with_gradient, true>(args, first, end)
                : softmax_cross_entropy_labels_options_block<Real, with_gradient, false>(args, first, end);
        }
        return softmax_cross_entropy_soft_or_capped<Real, with_gradient>(args, first, end);
    });
}

template <class Real>
double softmax_cross_entropy(const ClassificationArgs<Real>& args, const ReductionPlan& plan) {
    const bool has_options = args.soft_targets != nullptr || args.label_smoothing != 0.0 ||
                             args.z_loss != 0.0 || args.softcap > 0.0;
    // return_argmax alone takes the options path: with no option set, its coefficients are the
    // plain row's, bit for bit, and the plain kernels need not be instantiated twice.
    if (has_options || args.argmax != nullptr) {
        if (args.gradient != nullptr) return softmax_cross_entropy_options<Real, true>(args, plan);
        return softmax_cross_entropy_options<Real, false>(args, plan);
    }
    double total = 0.0;
    if (args.classes >= long_row_classes && softmax_cross_entropy_long_rows_if_memory(args, plan, &total)) {
        return total;
    }
    // The plain rows and small-C tiles: the row driver on SoftmaxCrossEntropyRows
    // (classification_losses.inl), the focal loss's rows with F(ce) = ce.
    RowLossArgs<Real> rows{};
    rows.input = args.logits;
    rows.rows = args.rows;
    rows.classes = args.classes;
    rows.input_row_stride = args.logits_row_stride;
    rows.labels = args.labels;
    rows.has_ignore_index = args.has_ignore_index;
    rows.ignore_index = args.ignore_index;
    rows.class_weight = args.class_weight;
    rows.sample_weight = args.sample_weight;
    rows.gradient_scale = args.gradient_scale;
    rows.row_losses = args.row_losses;
    rows.gradient = args.gradient;
    return row_loss<SoftmaxCrossEntropyRows, Real>(rows, plan);
}

// bfloat16/float16 plain rows (labels, class and sample weights, ignore_index; C between the
// small-C tiles and the long rows; long rows too where each thread takes whole rows, in
// softmax_cross_entropy_long_rows.inl): the plain rows' passes (label_softmax_row) on the
// 16-bit row, the exponentials kept in a float32 row of the thread's scratch (in cache), the
// gradient rounded once into the 16-bit output: the float32 kernel's bits on the widened row,
// rounded, with half its memory traffic. A bfloat16 row is read as it is (the max and exp
// passes widen in registers: a shift); a float16 row is first widened by F16C into the float32
// row, where both passes then run (widens_in_bulk; staged, float16 1024 x 32000 took 24.6 ms
// on one thread against float32's 20.1 ms).
// The rows with options: softmax_cross_entropy_options_block_16bit below; soft targets and
// small C run the float32 kernel on staged tiles (low_precision.inl).
struct RowSumAndLoss {
    float sum;
    double loss;
};

template <class Storage, bool with_gradient>
double softmax_cross_entropy_block_16bit(const ClassificationArgs<Storage>& args,
                                         std::int64_t first, std::int64_t end,
                                         float* exponentials) {
    const std::int64_t classes = args.classes;
    const bool streaming = with_gradient && streams_output(args.gradient, args.rows * classes);
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Storage* stored_row = args.logits + row * args.logits_row_stride;
        Storage* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const std::int64_t label = args.labels[row];
        if (is_ignored(args, label)) {
            if (with_gradient) zero_stored_row(gradient, classes);
            if (args.row_losses != nullptr) args.row_losses[row] = store_value<Storage>(0.0f);
            continue;
        }
        const double weight = row_weight(args, row, label);
        const Storage* next_row = row + 1 < args.rows ? stored_row + args.logits_row_stride : nullptr;
        // The row's passes on x, the 16-bit row or its widened float32 copy (the gradient may
        // overwrite the 16-bit row: x_y is read first).
        const auto passes = [&](const auto* x) {
            const float maximum = row_maximum(x, classes);
            const bool finite = is_finite_value(maximum);
            const float shift = finite ? maximum : 0.0f;
            const float label_logit = load_value(x[label]);
            const float sum = shifted_exp_pass_prefetching<std::remove_cv_t<std::remove_pointer_t<decltype(x)>>,
                                                           with_gradient>(
                x, shift, finite, exponentials, classes, next_row);
            return RowSumAndLoss{sum, label_loss(log_scalar(sum), label_logit, shift)};
        };
        RowSumAndLoss result;
        if constexpr (widens_in_bulk<Storage>) {
            widen_values(stored_row, exponentials, classes);
            result = passes(static_cast<const float*>(exponentials));
        } else {
            result = passes(stored_row);
        }
        const float sum = result.sum;
        const double loss = result.loss;
        if (with_gradient) {
            // As scale_row and the label's subtraction of the float32 kernel, in float32.
            const float row_scale = static_cast<float>(weight * args.gradient_scale);
            const float factor = row_scale / sum;
            store_tile_with_entry(exponentials, factor, gradient, classes, streaming, label,
                                  store_value<Storage>(exponentials[label] * factor - row_scale));
        }
        const double weighted_loss = weight * loss;
        if (args.row_losses != nullptr) args.row_losses[row] = store_value<Storage>(weighted_loss);
        block_sum += weighted_loss;
    }
    return block_sum;
}

// bfloat16/float16 integer-label rows with options (label smoothing, z-loss, softcap,
// return_argmax; C above the small-C tiles): each row widened into the thread's float32 row,
// the float32 options block run on that one row in place, its gradient rounded by store_tile
// and its loss rounded once: the float32 kernel's bits, rounded, as the staged tiles gave, but
// a row at a time with the next row prefetched (staged, the three passes over a 64 KB tile did
// not overlap memory: bfloat16 label smoothing took 1.9x the float32 time at 4096 x 1000).
template <class Storage, bool with_gradient>
double softmax_cross_entropy_options_block_16bit(const ClassificationArgs<Storage>& args,
                                                 std::int64_t first, std::int64_t end, float* row) {
    const std::int64_t classes = args.classes;
    ClassificationArgs<float> one{};
    one.logits = row;
    one.rows = 1;
    one.classes = classes;
    one.logits_row_stride = classes;
    one.has_ignore_index = args.has_ignore_index;
    one.ignore_index = args.ignore_index;
    one.class_weight = args.class_weight;
    one.gradient_scale = args.gradient_scale;
    one.gradient = with_gradient ? row : nullptr;
    one.label_smoothing = args.label_smoothing;
    one.z_loss = args.z_loss;
    one.softcap = args.softcap;
    one.class_weight_total = args.class_weight_total;
    float row_loss = 0.0f;
    one.row_losses = args.row_losses != nullptr ? &row_loss : nullptr;
    const bool streaming = with_gradient && streams_output(args.gradient, args.rows * classes);
    double block_sum = 0.0;
    for (std::int64_t r = first; r < end; ++r) {
        const Storage* x = args.logits + r * args.logits_row_stride;
        if (r + 1 < args.rows) {
            const std::int64_t ahead = classes < 4096 ? classes : 4096;  // (the rest: the hardware's)
            prefetch_bytes(x + args.logits_row_stride, ahead * static_cast<std::int64_t>(sizeof(Storage)));
        }
        widen_values(x, row, classes);
        one.labels = args.labels + r;
        one.sample_weight = args.sample_weight != nullptr ? args.sample_weight + r : nullptr;
        one.argmax = args.argmax != nullptr ? args.argmax + r : nullptr;
        const double loss =
            args.softcap > 0.0 ? softmax_cross_entropy_soft_or_capped<float, with_gradient>(one, 0, 1)
            : args.class_weight != nullptr
                ? softmax_cross_entropy_labels_options_block<float, with_gradient, true>(one, 0, 1)
                : softmax_cross_entropy_labels_options_block<float, with_gradient, false>(one, 0, 1);
        if (with_gradient) store_tile(row, 1.0f, args.gradient + r * classes, classes, streaming);
        if (args.row_losses != nullptr) args.row_losses[r] = store_value<Storage>(row_loss);
        block_sum += loss;
    }
    return block_sum;
}

template <class Storage>
double softmax_cross_entropy_16bit(const ClassificationArgs<Storage>& args, const ReductionPlan& plan) {
    const bool plain = args.soft_targets == nullptr && args.label_smoothing == 0.0 &&
                       args.z_loss == 0.0 && !(args.softcap > 0.0) && args.argmax == nullptr;
    if (plain && args.classes >= long_row_classes &&
        (plan.threads <= 1 || long_rows_on_own_threads(args.rows, args.classes, sizeof(Storage), plan.threads))) {
        double total = 0.0;
        if (softmax_cross_entropy_long_rows_if_memory(args, plan, &total)) return total;
        // (its row buffers could not be allocated: the staged kernel below)
    }
    if (!plain && args.soft_targets == nullptr && args.classes >= small_class_limit) {
        return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
            float* row = reinterpret_cast<float*>(
                thread_scratch_memory(static_cast<std::size_t>(args.classes) * sizeof(float)));
            if (row == nullptr) {
                if (plan.allocation_failed != nullptr) *plan.allocation_failed = 1;
                return 0.0;
            }
            return args.gradient != nullptr
                       ? softmax_cross_entropy_options_block_16bit<Storage, true>(args, first, end, row)
                       : softmax_cross_entropy_options_block_16bit<Storage, false>(args, first, end, row);
        });
    }
    if (!plain || args.classes <= small_class_limit || args.classes >= long_row_classes) {
        return staged_kernel<ClassificationArgs, Storage, &softmax_cross_entropy<float>>(args, plan);
    }
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        constexpr bool always_row = widens_in_bulk<Storage>;
        if (args.gradient == nullptr && !always_row) {
            return softmax_cross_entropy_block_16bit<Storage, false>(args, first, end, nullptr);
        }
        float* exponentials = reinterpret_cast<float*>(
            thread_scratch_memory(static_cast<std::size_t>(args.classes) * sizeof(float)));
        if (exponentials == nullptr) {
            if (plan.allocation_failed != nullptr) *plan.allocation_failed = 1;
            return 0.0;
        }
        return args.gradient == nullptr
                   ? softmax_cross_entropy_block_16bit<Storage, false>(args, first, end, exponentials)
                   : softmax_cross_entropy_block_16bit<Storage, true>(args, first, end, exponentials);
    });
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
