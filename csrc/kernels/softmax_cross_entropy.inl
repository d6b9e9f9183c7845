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
        const bool finite = is_finite_value(maximum);
        const Real shift = finite ? maximum : Real(0);
        const Real label_logit = x[label];  // read before the gradient may overwrite it
        const Real* next_row = row + 1 < args.rows ? x + args.logits_row_stride : nullptr;
        const Real sum = shifted_exp_pass_prefetching<Real, with_gradient>(x, shift, finite, gradient,
                                                                           classes, next_row);
        const double loss = label_loss(log_scalar(sum), label_logit, shift);
        if (with_gradient) {
            const Real row_scale = static_cast<Real>(weight * args.gradient_scale);
            scale_row(gradient, row_scale / sum, classes);
            gradient[label] -= row_scale;
        }
        const double weighted_loss = weight * loss;
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
        block_sum += weighted_loss;
    }
    return block_sum;
}

// Few classes (C <= small_class_limit): per-row SIMD loops of C elements are mostly remainder
// and reduction epilogues, so the rows are processed in tiles of `small_class_tile` rows and
// the exp runs as one flat SIMD loop over the whole tile (rows x C contiguous values): (1) per
// row, max and the shifted values x_j - shift are written to the work tile (the gradient rows,
// or a stack buffer without a gradient; x_j is read before it is overwritten when the gradient
// is the logits), (2) one flat exp over the tile, (3) per row the sum (in index order, so the
// result does not depend on the thread count), one flat vectorised log over the tile's sums,
// the loss and the scaled gradient row.
constexpr std::int64_t small_class_limit = 16;
constexpr std::int64_t small_class_tile = 128;

// fixed_classes > 0: C known at compile time (the per-row loops are unrolled); 0: args.classes.
// options: integer labels with label smoothing / z-loss / argmax (the row coefficients of the
// options path below, softmax_cross_entropy_labels_options_block); no softcap, no soft targets.
// find_argmax: return_argmax (alone on the plain path, or with the options).
template <class Real, bool with_gradient, int fixed_classes, bool options, bool find_argmax>
double softmax_cross_entropy_small_block(const ClassificationArgs<Real>& args, std::int64_t first,
                                         std::int64_t end) {
    const std::int64_t classes = fixed_classes > 0 ? fixed_classes : args.classes;
    const double* class_weight = args.class_weight;
    const Real smooth = static_cast<Real>(args.label_smoothing / static_cast<double>(classes));
    const double keep = 1.0 - static_cast<double>(static_cast<Real>(args.label_smoothing));
    const bool smoothing = options && args.label_smoothing != 0.0;
    Real smoothing_sums[options ? small_class_tile : 1];
    // The class weights as Real, 1 where absent: no per-element null test in the row loops.
    Real smoothing_weights[small_class_limit];
    for (std::int64_t j = 0; j < classes && j < small_class_limit; ++j) {
        smoothing_weights[j] = class_weight != nullptr ? static_cast<Real>(class_weight[j]) : Real(1);
    }
    Real scratch[with_gradient ? 1 : small_class_tile * small_class_limit];
    Real shifts[small_class_tile];
    Real label_logits[small_class_tile];
    Real sums[small_class_tile];
    Real logs[small_class_tile];
    double block_sum = 0.0;
    for (std::int64_t tile = first; tile < end; tile += small_class_tile) {
        const std::int64_t tile_rows = end - tile < small_class_tile ? end - tile : small_class_tile;
        Real* work = with_gradient ? args.gradient + tile * classes : scratch;
        bool all_finite = true;
        for (std::int64_t r = 0; r < tile_rows; ++r) {
            const std::int64_t row = tile + r;
            const Real* row_logits = args.logits + row * args.logits_row_stride;
            Real* w = work + r * classes;
            const std::int64_t label = args.labels[row];
            // With C known, the row is first copied to the stack: the work row may be the
            // logits row itself, and only a local copy lets the compiler vectorise the
            // fixed-length loops below (no aliasing left to rule out).
            Real row_copy[fixed_classes > 0 ? fixed_classes : 1];
            const Real* x = row_logits;
            if (fixed_classes > 0) {
                for (std::int64_t j = 0; j < fixed_classes; ++j) row_copy[j] = row_logits[j];
                x = row_copy;
            }
            Real maximum = x[0];
            if (find_argmax && args.argmax != nullptr) {
                // np.argmax: the first index of the maximum (a strict > keeps the first), or
                // the first NaN, which the row's NaN sum reveals below (a NaN x[0] keeps the
                // max NaN and the index 0). Tracked in the max loop: two selects per class,
                // where a bitmask of matches cost a vector OR reduction whose scalar-to-vector
                // moves stalled store forwarding (+136 % over plain at 65536 x 10).
                // The index select is written with a mask: as a ?: GCC made it a branch, which
                // random rows mispredict.
                std::int64_t first_maximum = 0;
                for (std::int64_t j = 1; j < classes; ++j) {
                    const std::int64_t greater = -static_cast<std::int64_t>(x[j] > maximum);
                    first_maximum = (j & greater) | (first_maximum & ~greater);
                    maximum = x[j] > maximum ? x[j] : maximum;
                }
                args.argmax[row] = first_maximum;
            } else {
                for (std::int64_t j = 1; j < classes; ++j) maximum = x[j] > maximum ? x[j] : maximum;
            }
            const bool finite = is_finite_value(maximum);
            all_finite = all_finite && finite;
            const Real shift = finite ? maximum : Real(0);
            const bool ignored = args.has_ignore_index && label == args.ignore_index;
            label_logits[r] = ignored ? Real(0) : x[label];
            shifts[r] = shift;
            for (std::int64_t j = 0; j < classes; ++j) w[j] = x[j] - shift;
            if (smoothing) {
                // Four interleaved partial sums, added pairwise: one running sum made a chain
                // of C dependent multiply-adds per row (label smoothing cost +67 % at C = 10).
                Real partial[4] = {0, 0, 0, 0};
                for (std::int64_t j = 0; j < classes; ++j) {
                    partial[j & 3] += smoothing_weights[j] * w[j];
                }
                smoothing_sums[r] = (partial[0] + partial[1]) + (partial[2] + partial[3]);
            }
        }
        const std::int64_t count = tile_rows * classes;
        if (all_finite) {
            FUSEDLOSS_SIMD_LOOP
            for (std::int64_t k = 0; k < count; ++k) work[k] = exp_nonpositive(work[k]);
        } else {
            FUSEDLOSS_SIMD_LOOP
            for (std::int64_t k = 0; k < count; ++k) work[k] = exp_value(work[k]);
        }
        for (std::int64_t r = 0; r < tile_rows; ++r) {
            const Real* w = work + r * classes;
            Real sum = 0;
            for (std::int64_t j = 0; j < classes; ++j) sum += w[j];
            sums[r] = sum;
        }
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t r = 0; r < tile_rows; ++r) logs[r] = log_value(sums[r]);
        for (std::int64_t r = 0; r < tile_rows; ++r) {
            const std::int64_t row = tile + r;
            const std::int64_t label = args.labels[row];
            Real* w = work + r * classes;
            if (find_argmax && args.argmax != nullptr && sums[r] != sums[r]) {
                // A NaN sum of exponentials means a NaN logit (exp(x_j - shift) is NaN only
                // there, the other terms are >= 0 or +inf): np.argmax is the first NaN, read
                // from the work row before it is scaled.
                std::int64_t j = 0;
                while (j + 1 < classes && w[j] == w[j]) ++j;
                args.argmax[row] = j;
            }
            if (args.has_ignore_index && label == args.ignore_index) {
                if (with_gradient) {
                    for (std::int64_t j = 0; j < classes; ++j) w[j] = Real(0);
                }
                if (args.row_losses != nullptr) args.row_losses[row] = Real(0);
                continue;
            }
            if (options) {
                const double sample = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
                const double weight = sample * (class_weight != nullptr ? class_weight[label] : 1.0);
                const double lse = log_sum_exp(shifts[r], logs[r]);
                double loss = keep * label_loss(logs[r], label_logits[r], shifts[r]);
                double lse_coefficient = keep;
                if (args.z_loss != 0.0) {
                    loss += args.z_loss * lse * lse;
                    lse_coefficient += 2.0 * args.z_loss * lse;
                }
                loss *= weight;
                lse_coefficient *= weight;
                const double smooth_scale = smoothing ? sample * static_cast<double>(smooth) : 0.0;
                if (smoothing) {
                    loss += smooth_scale * (args.class_weight_total * static_cast<double>(logs[r]) -
                                            static_cast<double>(smoothing_sums[r]));
                    lse_coefficient += smooth_scale * args.class_weight_total;
                }
                if (with_gradient) {
                    const double scale = args.gradient_scale;
                    const Real p_factor = static_cast<Real>(scale * lse_coefficient) / sums[r];
                    const Real target_factor = static_cast<Real>(scale * smooth_scale);
                    for (std::int64_t j = 0; j < classes; ++j) {
                        w[j] = p_factor * w[j] - (smoothing ? target_factor * smoothing_weights[j] : Real(0));
                    }
                    w[label] -= static_cast<Real>(scale * weight * keep);
                }
                if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(loss);
                block_sum += loss;
                continue;
            }
            const double weight = row_weight(args, row, label);
            const double loss = label_loss(logs[r], label_logits[r], shifts[r]);
            if (with_gradient) {
                const Real row_scale = static_cast<Real>(weight * args.gradient_scale);
                const Real factor = row_scale / sums[r];
                for (std::int64_t j = 0; j < classes; ++j) w[j] *= factor;
                w[label] -= row_scale;
            }
            const double weighted_loss = weight * loss;
            if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
            block_sum += weighted_loss;
        }
    }
    return block_sum;
}

template <class Real, bool with_gradient, bool options = false, bool find_argmax = options>
double softmax_cross_entropy_small(const ClassificationArgs<Real>& args, std::int64_t first,
                                   std::int64_t end) {
    switch (args.classes) {
#define FUSEDLOSS_SMALL_CASE(c) \
    case c: return softmax_cross_entropy_small_block<Real, with_gradient, c, options, find_argmax>(args, first, end);
        FUSEDLOSS_SMALL_CASE(2) FUSEDLOSS_SMALL_CASE(3) FUSEDLOSS_SMALL_CASE(4)
        FUSEDLOSS_SMALL_CASE(5) FUSEDLOSS_SMALL_CASE(6) FUSEDLOSS_SMALL_CASE(7)
        FUSEDLOSS_SMALL_CASE(8) FUSEDLOSS_SMALL_CASE(9) FUSEDLOSS_SMALL_CASE(10)
        FUSEDLOSS_SMALL_CASE(11) FUSEDLOSS_SMALL_CASE(12) FUSEDLOSS_SMALL_CASE(13)
        FUSEDLOSS_SMALL_CASE(14) FUSEDLOSS_SMALL_CASE(15) FUSEDLOSS_SMALL_CASE(16)
#undef FUSEDLOSS_SMALL_CASE
        default: return softmax_cross_entropy_small_block<Real, with_gradient, 0, options, find_argmax>(args, first, end);
    }
}

// The options path (label smoothing, soft targets, z-loss, softcap, argmax), the same three
// passes over a row. With z_j the (possibly soft-capped) logits, shift = max z (z is monotonic
// in x, so the max pass reads the raw logits and also finds their argmax), d_j = z_j - shift,
// S = sum_j exp(d_j), lse = shift + log S, every option is a row loss of the form
//   A * log S - sum_j a_j d_j  (+ lambda lse^2) = sum_j a_j (lse - z_j) (+ lambda lse^2)
// with target coefficients a_j >= 0 and A = sum_j a_j, whose gradient w.r.t. z is
//   (A + 2 lambda lse) softmax_j - a_j,
// chain-ruled through the softcap by (1 - tanh^2(x_j / c)). Integer labels:
//   a_j = w_y (1 - eps) [j = y] + (eps / C) w_j  (w the class weights, 1 when absent);
// the row's weight w_y (times sample_weight) also weights the z-loss, the smoothing part only
// carries sample_weight (PyTorch's rule). Soft targets: a_j = w_j ((1 - eps) t_j + eps / C),
// the row weight is sample_weight. a_j = 0 contributes 0 even where d_j = -inf (0 log 0 = 0).
// With a softcap and a gradient, pass 2 stores tanh(x_j / c) in the gradient row (which may be
// the logits row) and pass 3 recomputes exp from it while the row is in cache.

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

// Integer labels with label smoothing / z-loss / argmax (no softcap): the plain path's three
// passes (max, stored exp, scale) and their SIMD helpers, plus one in-cache sum for smoothing
// and, with return_argmax, a vectorised search for the max's first index; the per-row
// coefficients are those of the general options block below.
template <class Real, bool with_gradient, bool weighted>
double softmax_cross_entropy_labels_options_block(const ClassificationArgs<Real>& args,
                                                  std::int64_t first, std::int64_t end) {
    const std::int64_t classes = args.classes;
    const double* class_weight = args.class_weight;
    const Real smooth = static_cast<Real>(args.label_smoothing / static_cast<double>(classes));
    const double keep = 1.0 - static_cast<double>(static_cast<Real>(args.label_smoothing));
    const bool smoothing = args.label_smoothing != 0.0;
    const double lambda = args.z_loss;
    const double scale = args.gradient_scale;
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* x = args.logits + row * args.logits_row_stride;
        Real* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const Real maximum = args.argmax != nullptr
                                 ? row_maximum_and_argmax(x, classes, args.argmax + row)
                                 : row_maximum(x, classes);
        const std::int64_t label = args.labels[row];
        if (args.has_ignore_index && label == args.ignore_index) {
            if (with_gradient) zero_row(gradient, classes);
            if (args.row_losses != nullptr) args.row_losses[row] = Real(0);
            continue;
        }
        const bool finite = is_finite_value(maximum);
        const Real shift = finite ? maximum : Real(0);
        const double sample = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
        const double row_weight = sample * (weighted ? class_weight[label] : 1.0);
        const Real label_logit = x[label];  // read before the gradient may overwrite it
        double weighted_shifted = 0;
        Real sum;
        if (smoothing) {
            sum = finite ? shifted_exp_and_smoothing_sum<Real, with_gradient, weighted, true>(
                               x, shift, gradient, class_weight, classes, &weighted_shifted)
                         : shifted_exp_and_smoothing_sum<Real, with_gradient, weighted, false>(
                               x, shift, gradient, class_weight, classes, &weighted_shifted);
        } else {
            const Real* next_row = row + 1 < args.rows ? x + args.logits_row_stride : nullptr;
            sum = shifted_exp_pass_prefetching<Real, with_gradient>(x, shift, finite, gradient,
                                                                    classes, next_row);
        }
        const Real log_sum = log_scalar(sum);
        const double lse = log_sum_exp(shift, log_sum);
        double loss = keep * label_loss(log_sum, label_logit, shift);
        double lse_coefficient = keep;
        if (lambda != 0.0) {
            loss += lambda * lse * lse;
            lse_coefficient += 2.0 * lambda * lse;
        }
        loss *= row_weight;
        lse_coefficient *= row_weight;
        const double smooth_scale = smoothing ? sample * static_cast<double>(smooth) : 0.0;
        if (smoothing) {
            loss += smooth_scale * (args.class_weight_total * static_cast<double>(log_sum) -
                                    weighted_shifted);
            lse_coefficient += smooth_scale * args.class_weight_total;
        }
        if (with_gradient) {
            const Real p_factor = static_cast<Real>(scale * lse_coefficient) / sum;
            if (smoothing) {
                const Real target_factor = static_cast<Real>(scale * smooth_scale);
                FUSEDLOSS_SIMD_LOOP
                for (std::int64_t j = 0; j < classes; ++j) {
                    const Real w = weighted ? static_cast<Real>(class_weight[j]) : Real(1);
                    gradient[j] = p_factor * gradient[j] - target_factor * w;
                }
            } else {
                scale_row(gradient, p_factor, classes);
            }
            gradient[label] -= static_cast<Real>(scale * row_weight * keep);
        }
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(loss);
        block_sum += loss;
    }
    return block_sum;
}

// `weighted` (class weights given) is a template parameter: a load under a run-time
// `class_weight != nullptr` test cannot be if-converted, and the loops stayed scalar.
template <class Real, bool with_gradient, bool soft, bool capped, bool weighted>
double softmax_cross_entropy_options_block(const ClassificationArgs<Real>& args,
                                           std::int64_t first, std::int64_t end) {
    const std::int64_t classes = args.classes;
    const Real epsilon = static_cast<Real>(args.label_smoothing);
    const Real smooth = static_cast<Real>(args.label_smoothing / static_cast<double>(classes));
    const Real keep = Real(1) - epsilon;
    const Real cap = capped ? static_cast<Real>(args.softcap) : Real(1);
    const Real inverse_cap = capped ? static_cast<Real>(1.0 / args.softcap) : Real(1);
    const double* class_weight = args.class_weight;
    const double lambda = args.z_loss;
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* x = args.logits + row * args.logits_row_stride;
        Real* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        const Real* target = soft ? args.soft_targets + row * args.soft_targets_row_stride : nullptr;
        // Pass 1: the max of the raw logits (and their argmax).
        const Real maximum = args.argmax != nullptr
                                 ? row_maximum_and_argmax(x, classes, args.argmax + row)
                                 : row_maximum(x, classes);
        std::int64_t label = 0;
        if (!soft) {
            label = args.labels[row];
            if (args.has_ignore_index && label == args.ignore_index) {
                if (with_gradient) zero_row(gradient, classes);
                if (args.row_losses != nullptr) args.row_losses[row] = Real(0);
                continue;
            }
        }
        const Real capped_maximum = capped ? cap * tanh_value(maximum * inverse_cap) : maximum;
        const Real shift = is_finite_value(capped_maximum) ? capped_maximum : Real(0);
        const double sample = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
        const double label_weight =
            (!soft && class_weight != nullptr) ? class_weight[label] : 1.0;
        Real label_logit = Real(0), label_tanh = Real(0);
        if (!soft) {
            label_logit = x[label];  // read before the gradient may overwrite it
            if (capped) {
                label_tanh = tanh_value(label_logit * inverse_cap);
                label_logit = cap * label_tanh;
            }
        }
        // Pass 2: S = sum exp(d_j), and sum_j a_j d_j (soft) or sum_j w_j d_j (smoothing).
        // Summed in pieces (piece_sums in row_softmax.inl): float32 SIMD sums of a piece,
        // added in float64, so that a row of 50000 classes keeps its sums to a few ulps.
        double wide_sum = 0, wide_weighted_shifted = 0, wide_target_total = 0;
        const bool smoothing = !soft && epsilon != Real(0);
        for (std::int64_t begin = 0; begin < classes; begin += accurate_sum_piece) {
            const std::int64_t stop = classes - begin < accurate_sum_piece ? classes : begin + accurate_sum_piece;
            Real sum = 0, weighted_shifted = 0, target_total = 0;
            FUSEDLOSS_SIMD_SUM(sum, weighted_shifted, target_total)
            for (std::int64_t j = begin; j < stop; ++j) {
                const Real raw = x[j];
                Real z = raw;
                if (capped) {
                    const Real t = tanh_value(raw * inverse_cap);
                    z = cap * t;
                    if (with_gradient) gradient[j] = t;
                }
                const Real d = z - shift;
                const Real e = exp_value(d);
                if (with_gradient && !capped) gradient[j] = e;
                sum += e;
                if (soft) {
                    const Real w = weighted ? static_cast<Real>(class_weight[j]) : Real(1);
                    const Real a = w * (keep * target[j] + smooth);
                    target_total += a;
                    // a_j d_j adds nothing where either is 0, also for an infinite a_j at d_j = 0
                    // (the max): its loss share a_j (log S - d_j) is all in A log S, and inf * 0
                    // would turn the row's +-inf loss into NaN.
                    weighted_shifted += (a != Real(0) && d != Real(0)) ? a * d : Real(0);
                } else if (smoothing) {
                    const Real w = weighted ? static_cast<Real>(class_weight[j]) : Real(1);
                    weighted_shifted += w * d;
                }
            }
            wide_sum += static_cast<double>(sum);
            wide_weighted_shifted += static_cast<double>(weighted_shifted);
            wide_target_total += static_cast<double>(target_total);
        }
        const Real sum = static_cast<Real>(wide_sum);
        const Real log_sum = log_scalar(sum);
        const double lse = log_sum_exp(shift, log_sum);
        double loss;
        double lse_coefficient;   // A + 2 lambda lse, times the row weight
        double row_weight;        // weight of the label / z-loss part
        if (soft) {
            row_weight = sample;
            loss = wide_target_total * static_cast<double>(log_sum) - wide_weighted_shifted;
            lse_coefficient = wide_target_total;
        } else {
            row_weight = sample * label_weight;
            loss = static_cast<double>(keep) * label_loss(log_sum, label_logit, shift);
            lse_coefficient = static_cast<double>(keep);
        }
        if (lambda != 0.0) {
            loss += lambda * lse * lse;
            lse_coefficient += 2.0 * lambda * lse;
        }
        loss *= row_weight;
        lse_coefficient *= row_weight;
        double smooth_scale = 0.0;  // multiplies w_j in a_j for the smoothing part
        if (smoothing) {
            smooth_scale = sample * static_cast<double>(smooth);
            const double total_weight = args.class_weight_total;
            loss += smooth_scale * (total_weight * static_cast<double>(log_sum) -
                                    wide_weighted_shifted);
            lse_coefficient += smooth_scale * total_weight;
        }
        if (with_gradient) {
            // Pass 3: g_j = scale ((A + 2 lambda lse) e_j / S - a_j) [* (1 - tanh^2)].
            const double scale = args.gradient_scale;
            const Real p_factor = static_cast<Real>(scale * lse_coefficient) / sum;
            const Real target_factor =
                static_cast<Real>(scale * (soft ? row_weight : smooth_scale));
            FUSEDLOSS_SIMD_LOOP
            for (std::int64_t j = 0; j < classes; ++j) {
                Real e, chain = Real(1);
                if (capped) {
                    const Real t = gradient[j];
                    e = exp_value(cap * t - shift);
                    chain = Real(1) - t * t;
                } else {
                    e = gradient[j];
                }
                Real g = p_factor * e;
                if (soft) {
                    const Real w =
                        weighted ? static_cast<Real>(class_weight[j]) : Real(1);
                    g -= target_factor * (w * (keep * target[j] + smooth));
                } else if (smoothing) {
                    const Real w =
                        weighted ? static_cast<Real>(class_weight[j]) : Real(1);
                    g -= target_factor * w;
                }
                gradient[j] = capped ? g * chain : g;
            }
            if (!soft) {
                const Real label_chain = capped ? Real(1) - label_tanh * label_tanh : Real(1);
                gradient[label] -=
                    static_cast<Real>(scale * row_weight * static_cast<double>(keep)) * label_chain;
            }
        }
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(loss);
        block_sum += loss;
    }
    return block_sum;
}

template <class Real, bool with_gradient>
double softmax_cross_entropy_options(const ClassificationArgs<Real>& args,
                                     const ReductionPlan& plan) {
    const bool soft = args.soft_targets != nullptr;
    const bool capped = args.softcap > 0.0;
    const bool weighted = args.class_weight != nullptr;
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        if (!soft && !capped && args.classes <= small_class_limit) {
            return softmax_cross_entropy_small<Real, with_gradient, true>(args, first, end);
        }
        if (!soft && !capped) {
            return weighted
                ? softmax_cross_entropy_labels_options_block<Real, with_gradient, true>(args, first, end)
                : softmax_cross_entropy_labels_options_block<Real, with_gradient, false>(args, first, end);
        }
        if (soft) {
            if (weighted) {
                return capped
                    ? softmax_cross_entropy_options_block<Real, with_gradient, true, true, true>(args, first, end)
                    : softmax_cross_entropy_options_block<Real, with_gradient, true, false, true>(args, first, end);
            }
            return capped
                ? softmax_cross_entropy_options_block<Real, with_gradient, true, true, false>(args, first, end)
                : softmax_cross_entropy_options_block<Real, with_gradient, true, false, false>(args, first, end);
        }
        return weighted
            ? softmax_cross_entropy_options_block<Real, with_gradient, false, true, true>(args, first, end)
            : softmax_cross_entropy_options_block<Real, with_gradient, false, true, false>(args, first, end);
    });
}

template <class Real>
double softmax_cross_entropy(const ClassificationArgs<Real>& args, const ReductionPlan& plan) {
    const bool has_options = args.soft_targets != nullptr || args.label_smoothing != 0.0 ||
                             args.z_loss != 0.0 || args.softcap > 0.0;
    // Few classes: the plain tile kernel finds the argmax itself (no row coefficients needed).
    if (has_options || (args.argmax != nullptr && args.classes > small_class_limit)) {
        if (args.gradient != nullptr) return softmax_cross_entropy_options<Real, true>(args, plan);
        return softmax_cross_entropy_options<Real, false>(args, plan);
    }
    if (args.classes <= small_class_limit) {
        if (args.argmax != nullptr) {
            return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
                return args.gradient != nullptr
                    ? softmax_cross_entropy_small<Real, true, false, true>(args, first, end)
                    : softmax_cross_entropy_small<Real, false, false, true>(args, first, end);
            });
        }
        if (args.gradient != nullptr) {
            return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
                return softmax_cross_entropy_small<Real, true>(args, first, end);
            });
        }
        return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
            return softmax_cross_entropy_small<Real, false>(args, first, end);
        });
    }
    if (args.classes >= long_row_classes) {
        // Per row slot its state and max and sum per chunk; null when out of memory: the row
        // path below.
        const std::int64_t chunks = (args.classes + long_row_chunk - 1) / long_row_chunk;
        const std::int64_t group = long_row_group(args.rows, args.classes, plan.threads);
        auto* states = static_cast<LongRowState<Real>*>(
            std::malloc(static_cast<std::size_t>(2 * group) * sizeof(LongRowState<Real>)));
        auto* chunk_values = static_cast<Real*>(
            std::malloc(static_cast<std::size_t>(4 * group * chunks) * sizeof(Real)));
        if (states != nullptr && chunk_values != nullptr) {
            const double total = args.gradient != nullptr
                ? softmax_cross_entropy_long_rows<Real, true>(args, plan, group, states, chunk_values)
                : softmax_cross_entropy_long_rows<Real, false>(args, plan, group, states, chunk_values);
            std::free(states);
            std::free(chunk_values);
            return total;
        }
        std::free(states);
        std::free(chunk_values);
    }
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
