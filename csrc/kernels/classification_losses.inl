// The row-wise losses on the row driver: each is its per-row maths alone, a policy that
// row_loss_driver.inl runs (ignored rows, weights, threads, reductions and stores are the
// driver's). Each loss is one struct here, one line of the table at the bottom, and one entry
// of the Python registry (python/fusedloss/_classification.py) that names it.
//
// Memory: every policy reads its rows once from memory (the max pass) and writes the gradient
// row once; the other passes work on rows already in cache, and prefetch the next row while
// they compute (as softmax cross-entropy does, row_softmax.inl).
// Precision: a row's loss is returned as a double, built from the shifted quantities
// (x_j - m, log S) so that a float32 loss keeps its accuracy at any logit offset (SPEC
// "Accuracy at any offset"); per-row scalars (exp, expm1, pow) use the C library in double.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// ----------------------------------------------------------------------------- losses of -log p_y
// A loss F(ce) of the label's softmax cross-entropy ce = -log p_y has the gradient
// F'(ce) (p_j - [j = y]) and the Hessian diagonal F'(ce) p_j (1 - p_j) + F''(ce) (p_j - [j = y])^2.
// The row work is softmax cross-entropy's (one max pass, one exp pass storing e_j in the
// gradient row, one scaling pass); a policy of this family gives F, F' and F'' u^2 (u = 1 - p_y;
// bounded where F'' alone may overflow as u -> 0) of one row.

template <class Real>
struct LabelSoftmaxRow {
    Real shift;      // the row's max when finite, else 0 (infinite rows: see softmax_cross_entropy.inl)
    bool finite;
    Real sum;        // S = sum_j exp(x_j - shift)
    double ce;       // log S - (x_y - shift)
};

// Where a row's e_j are kept for the scaling pass: its gradient row (scaled in place), or,
// where the gradient streams, the driver's stream row in cache (stages_streamed_rows), from
// which the scaled row is streamed out: the gradient row is then written once, never read.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE Real* label_softmax_exponentials(const RowInput<Real>& in, Real* gradient) {
    return in.stream_row != nullptr ? in.stream_row : gradient;
}

// The max and exp passes; with a gradient, e_j is stored where label_softmax_exponentials says
// (the gradient row may be x).
template <class Real, bool store>
FUSEDLOSS_ALWAYS_INLINE LabelSoftmaxRow<Real> label_softmax_row(const RowInput<Real>& in,
                                                                Real* gradient) {
    if (store) gradient = label_softmax_exponentials(in, gradient);
    LabelSoftmaxRow<Real> row;
    const Real maximum = row_maximum(in.x, in.classes);
    row.finite = is_finite_value(maximum);
    row.shift = row.finite ? maximum : Real(0);
    const Real label_logit = in.x[in.label];  // read before the gradient may overwrite it
    row.sum = shifted_exp_pass_prefetching<Real, store>(in.x, row.shift, row.finite, gradient,
                                                        in.classes, in.next_x);
    row.ce = label_loss(log_scalar(row.sum), label_logit, row.shift);
    return row;
}

// The scaling pass: g_j = slope_factor (e_j / S - [j = y]).
template <class Real>
FUSEDLOSS_ALWAYS_INLINE void label_softmax_gradient(const RowInput<Real>& in,
                                                    const LabelSoftmaxRow<Real>& row,
                                                    double slope_factor, Real* gradient) {
    const Real row_scale = static_cast<Real>(slope_factor);
    const Real* exponentials = label_softmax_exponentials(in, gradient);
    if (exponentials != gradient) {  // (the same products, streamed)
        const Real scale = row_scale / row.sum;
        store_tile_with_entry(exponentials, scale, gradient, in.classes, true, in.label,
                              exponentials[in.label] * scale - row_scale);
        return;
    }
    scale_row(gradient, row_scale / row.sum, in.classes);
    gradient[in.label] -= row_scale;
}

// The Hessian row: slope_factor p_j (1 - p_j) + curvature_factor ((p_j - [j = y]) / u)^2, with
// curvature_factor = factor F'' u^2. At the label (p_y - 1) / u is -1 exactly and 1 - p_y is u.
template <class Real>
void label_softmax_hessian(const RowInput<Real>& in, const LabelSoftmaxRow<Real>& row,
                           double slope_factor, double curvature_factor, double u,
                           Real* hessian) {
    const Real inverse_sum = Real(1) / row.sum;
    const Real slope = static_cast<Real>(slope_factor);
    const Real curvature = static_cast<Real>(curvature_factor);
    // 1 / u only where it is finite in Real (else the curvature term, bounded by
    // curvature_factor, is dropped: u is then below the smallest normal number).
    const double inverse_u_double = u > 0.0 ? 1.0 / u : 0.0;
    const double largest = sizeof(Real) == sizeof(float) ? 3.4028234663852886e38 : 1.7976931348623157e308;
    const Real inverse_u = inverse_u_double <= largest
                               ? static_cast<Real>(inverse_u_double)
                               : Real(0);
    const Real* x = in.x;
    const Real shift = row.shift;
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < in.classes; ++j) {
        const Real p = exp_value(x[j] - shift) * inverse_sum;
        const Real r = p * inverse_u;
        hessian[j] = slope * p * (Real(1) - p) + curvature * r * r;
    }
    const double p_label = ::exp(-row.ce);
    hessian[in.label] = static_cast<Real>(slope_factor * p_label * u + curvature_factor);
}

// The small-C tile of a loss of -log p_y (C <= small_class_limit), with softmax
// cross-entropy's tile steps (softmax_cross_entropy.inl): per row the max and x_j - shift into
// the work tile (the gradient rows, or a stack tile without a gradient), then its
// small_tile_exp_and_sums (one flat exp over the tile, per-row sums in index order, one flat
// log); then per row F(ce), F'(ce) from `tile_terms` (or F(ce) = ce, identity_terms) and the
// gradient row.
// fixed_classes > 0: C known at compile time (softmax cross-entropy's tiles: its row loops
// unrolled, +30-60 % at C = 3-10 without); 0: tile.classes.
template <class Real, bool with_gradient, int fixed_classes = 0, class Policy>
FUSEDLOSS_ALWAYS_INLINE void label_softmax_tile(const Policy& policy, const RowTile<Real>& tile,
                                                double*) {
    const std::int64_t classes = fixed_classes > 0 ? fixed_classes : tile.classes;
    const std::int64_t rows = tile.rows;
    Real stack_work[with_gradient ? 1 : small_class_tile * small_class_limit];
    Real* work = with_gradient ? tile.gradient : stack_work;
    SmallTileRows<Real> row;
    bool all_finite = true;
    for (std::int64_t r = 0; r < rows; ++r) {
        // With C known, the row is first copied to the stack: the work row may be the input row
        // itself, and only a local copy lets the compiler vectorise the fixed-length loops
        // below (no aliasing left to rule out).
        const Real* x = tile.x + r * tile.x_row_stride;
        Real row_copy[fixed_classes > 0 ? fixed_classes : 1];
        if (fixed_classes > 0) {
            for (std::int64_t j = 0; j < fixed_classes; ++j) row_copy[j] = x[j];
            x = row_copy;
        }
        Real* w = work + r * classes;
        const Real maximum = small_row_maximum<Real, false>(x, classes, nullptr);
        const bool finite = is_finite_value(maximum);
        all_finite = all_finite && finite;
        const Real shift = finite ? maximum : Real(0);
        row.shift[r] = shift;
        row.label_logit[r] = tile.ignored[r] ? Real(0) : x[tile.labels[r]];  // before w replaces x
        for (std::int64_t j = 0; j < classes; ++j) w[j] = x[j] - shift;
    }
    small_tile_exp_and_sums(work, rows, classes, all_finite, row);
    // The rows' weighting, stores and sum (RowTile::sum: this is a sums_tiles policy's tile).
    // The tile's fields in locals: the stores below would otherwise make the compiler reload
    // them for every row.
    double sum = *tile.sum;
    const bool* ignored = tile.ignored;
    const std::int64_t* labels = tile.labels;
    const double* weight = tile.weight;
    const double* gradient_factor = tile.gradient_factor;
    Real* row_losses = tile.row_losses;
    if constexpr (Policy::identity_terms) {
        // F(ce) = ce (softmax cross-entropy): the loss, the gradient row and the sum in one
        // loop, whose dependent float64 additions then overlap the rows' other work.
        for (std::int64_t r = 0; r < rows; ++r) {
            if (ignored[r]) continue;
            const double weighted = weight[r] * label_loss(row.log_sum[r], row.label_logit[r], row.shift[r]);
            if (row_losses != nullptr) row_losses[r] = static_cast<Real>(weighted);
            sum += weighted;
            if (with_gradient) {
                Real* g = work + r * classes;
                const Real row_scale = static_cast<Real>(gradient_factor[r]);
                const Real scale = row_scale / row.sum[r];
                for (std::int64_t j = 0; j < classes; ++j) g[j] *= scale;
                g[labels[r]] -= row_scale;
            }
        }
    } else {
        // F(ce) and F'(ce) of the tile's rows in one loop (Policy::tile_terms; an ignored row's
        // terms are computed from ce = 0 and not used).
        double ce[small_class_tile];
        double slope[small_class_tile];
        for (std::int64_t r = 0; r < rows; ++r) {
            ce[r] = tile.ignored[r] ? 0.0 : label_loss(row.log_sum[r], row.label_logit[r], row.shift[r]);
        }
        double tile_losses[small_class_tile];
        policy.tile_terms(ce, rows, tile_losses, slope);
        for (std::int64_t r = 0; r < rows; ++r) {
            if (ignored[r]) continue;
            const double weighted = weight[r] * tile_losses[r];
            if (row_losses != nullptr) row_losses[r] = static_cast<Real>(weighted);
            sum += weighted;
            if (with_gradient) {
                Real* g = work + r * classes;
                const Real row_scale = static_cast<Real>(gradient_factor[r] * slope[r]);
                const Real scale = row_scale / row.sum[r];
                for (std::int64_t j = 0; j < classes; ++j) g[j] *= scale;
                g[labels[r]] -= row_scale;
            }
        }
    }
    *tile.sum = sum;
}

// Softmax cross-entropy itself, F(ce) = ce (F' = 1, F'' = 0): its plain rows (integer labels,
// class and sample weights, ignore_index; C below the long rows) and its small-C tiles, C
// known at compile time. softmax_cross_entropy.inl runs it for a call without options; its
// options (label smoothing, z-loss, softcap, soft targets, argmax), long rows and 16-bit rows
// are that file's.
template <class Real>
struct SoftmaxCrossEntropyRows : RowLossPolicy {
    static constexpr bool has_small_class_tile = true;
    static constexpr std::int64_t tile_class_limit = small_class_limit;
    static constexpr bool sums_tiles = true;
    static constexpr bool identity_terms = true;  // label_softmax_tile: no tile_terms
    static constexpr bool stages_streamed_rows = true;
    explicit SoftmaxCrossEntropyRows(const double*) {}

    template <bool with_gradient>
    FUSEDLOSS_ALWAYS_INLINE double row(const RowInput<Real>& in, Real* gradient,
                                       double gradient_factor) const {
        const LabelSoftmaxRow<Real> row = label_softmax_row<Real, with_gradient>(in, gradient);
        if (with_gradient) label_softmax_gradient(in, row, gradient_factor, gradient);
        return row.ce;
    }

    // One out-of-line function per C known at compile time: inlined into tile() they made one
    // huge function per instantiation, and GCC took 16 s more per instruction set to compile it.
    template <bool with_gradient, int classes>
    FUSEDLOSS_NEVER_INLINE void fixed_tile(const RowTile<Real>& tile, double* losses) const {
        label_softmax_tile<Real, with_gradient, classes>(*this, tile, losses);
    }

    template <bool with_gradient>
    void tile(const RowTile<Real>& tile, double* losses) const {
        switch (tile.classes) {
#define FUSEDLOSS_SMALL_CASE(c) \
    case c: fixed_tile<with_gradient, c>(tile, losses); return;
            FUSEDLOSS_SMALL_CASE(2) FUSEDLOSS_SMALL_CASE(3) FUSEDLOSS_SMALL_CASE(4)
            FUSEDLOSS_SMALL_CASE(5) FUSEDLOSS_SMALL_CASE(6) FUSEDLOSS_SMALL_CASE(7)
            FUSEDLOSS_SMALL_CASE(8) FUSEDLOSS_SMALL_CASE(9) FUSEDLOSS_SMALL_CASE(10)
            FUSEDLOSS_SMALL_CASE(11) FUSEDLOSS_SMALL_CASE(12) FUSEDLOSS_SMALL_CASE(13)
            FUSEDLOSS_SMALL_CASE(14) FUSEDLOSS_SMALL_CASE(15) FUSEDLOSS_SMALL_CASE(16)
#undef FUSEDLOSS_SMALL_CASE
            default: label_softmax_tile<Real, with_gradient>(*this, tile, losses);
        }
    }

    // p_j (1 - p_j) (the Hessian of a call with options: classification_hessians.inl)
    void hessian_row(const RowInput<Real>& in, Real* hessian, double factor) const {
        const LabelSoftmaxRow<Real> row = label_softmax_row<Real, false>(in, nullptr);
        label_softmax_hessian(in, row, factor, 0.0, -::expm1(-row.ce), hessian);
    }
};

// Focal loss on the softmax (Lin et al.): -(1 - p_y)^gamma log p_y = u^gamma ce, u = 1 - p_y.
//   F' = u^gamma + gamma ce p u^(gamma-1)
//   F'' u^2 = gamma p u^gamma ((2 - ce) u + (gamma - 1) ce p)
// (d/dce of p is -p, of u is p). gamma = 0 is softmax cross-entropy: the registry runs that
// kernel for it, so that it is the same bits (its small-C and long-row paths included).
template <class Real>
struct SoftmaxFocalLoss : RowLossPolicy {
    static constexpr bool has_small_class_tile = true;
    static constexpr std::int64_t tile_class_limit = small_class_limit;
    static constexpr bool sums_tiles = true;
    static constexpr bool identity_terms = false;
    static constexpr bool stages_streamed_rows = true;
    double gamma;
    explicit SoftmaxFocalLoss(const double* parameters) : gamma(parameters[0]) {}

    struct Terms {
        double loss;          // F(ce)
        double slope;         // F'(ce)
        double curvature_u2;  // F''(ce) u^2
        double u;             // 1 - p_y
    };

    // F'(ce) = u^gamma + gamma ce p u^(gamma - 1), focus = u^gamma. The second term tends to 0 at
    // both ends (u -> 0: p ce ~ u; p -> 0: p ce -> 0); the test keeps 0 * inf out (ce = inf at
    // p = 0, u^(gamma - 1) = inf at u = 0).
    static FUSEDLOSS_ALWAYS_INLINE double slope(double ce, double p, double u, double focus,
                                                double gamma) {
        const double tail = p > 0.0 && u > 0.0 ? gamma * ce * p * (focus / u) : 0.0;
        return focus + tail;
    }

    // One libm call per row (plus a pow for a gamma other than 1 and 2): the rows of a small-C
    // batch are a few vectors each, so these scalar calls are much of their cost.
    Terms terms(double ce) const {
        Terms terms;
        double p, u;
        if (ce > 0.6931471805599453) {  // p_y < 1/2: 1 - p_y is exact to an ulp
            p = ::exp(-ce);
            u = 1.0 - p;
        } else {  // p_y >= 1/2: u from expm1 (no cancellation), then 1 - u is exact (Sterbenz)
            u = -::expm1(-ce);
            p = 1.0 - u;
        }
        terms.u = u;
        const double focus = gamma == 2.0 ? u * u : (gamma == 1.0 ? u : ::pow(u, gamma));
        terms.loss = focus * ce;
        terms.slope = slope(ce, p, u, focus, gamma);
        terms.curvature_u2 = p > 0.0 ? gamma * p * focus * ((2.0 - ce) * u + (gamma - 1.0) * ce * p) : 0.0;
        if (ce != ce) terms.slope = terms.curvature_u2 = ce;  // NaN row: NaN gradient and Hessian
        return terms;
    }

    // F(ce) and F'(ce) of a small-C tile's rows: for gamma 1 and 2 one loop that vectorises
    // (exp_value, expm1_small_value in double, both branches computed and one selected), where
    // a libm call per row was most of the tile's time (65536 x 3: 5 ms of libm for 218k rows);
    // another gamma takes terms() per row (a pow each). The same formulas as terms().
    void tile_terms(const double* ce, std::int64_t rows, double* loss, double* slopes) const {
        if (gamma != 1.0 && gamma != 2.0) {
            for (std::int64_t r = 0; r < rows; ++r) {
                const Terms focal = terms(ce[r]);
                loss[r] = focal.loss;
                slopes[r] = focal.slope;
            }
            return;
        }
        const double square = gamma == 2.0 ? 1.0 : 0.0;  // a double: the loop keeps its select
        const double exponent = gamma;  // a local: the stores below cannot alias it
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t r = 0; r < rows; ++r) {
            const double c = ce[r];
            const bool low = c > 0.6931471805599453;  // p_y < 1/2
            const double p_exp = exp_value(-c);
            const double u_small = 0.0 - expm1_small_value(-c);  // +0 at c = 0, as -expm1(-0)
            const double u = low ? 1.0 - p_exp : u_small;
            const double p = low ? p_exp : 1.0 - u_small;
            const double focus = square != 0.0 ? u * u : u;
            loss[r] = focus * c;
            slopes[r] = c != c ? c : slope(c, p, u, focus, exponent);
        }
    }

    template <bool with_gradient>
    FUSEDLOSS_ALWAYS_INLINE double row(const RowInput<Real>& in, Real* gradient,
                                       double gradient_factor) const {
        const LabelSoftmaxRow<Real> row = label_softmax_row<Real, with_gradient>(in, gradient);
        const Terms focal = terms(row.ce);
        if (with_gradient) label_softmax_gradient(in, row, gradient_factor * focal.slope, gradient);
        return focal.loss;
    }

    template <bool with_gradient>
    void tile(const RowTile<Real>& tile, double* losses) const {
        label_softmax_tile<Real, with_gradient>(*this, tile, losses);
    }

    void hessian_row(const RowInput<Real>& in, Real* hessian, double factor) const {
        const LabelSoftmaxRow<Real> row = label_softmax_row<Real, false>(in, nullptr);
        const Terms focal = terms(row.ce);
        label_softmax_hessian(in, row, factor * focal.slope, factor * focal.curvature_u2, focal.u,
                              hessian);
    }
};

// ----------------------------------------------------------------------------- distillation
// KL(q || p) = sum_j q_j (log q_j - log p_j) with p = softmax(x / T) (the student's logits x)
// and q = softmax(t / T) (the teacher's t), both softmaxes in one pass over the two rows and
// no probability array in memory. With a_j = x_j / T - m_x, b_j = t_j / T - m_t (the rows'
// maxima), S_p = sum e^a, S_q = sum e^b:
//   loss = (sum_j e^b_j (b_j - a_j)) / S_q - log S_q + log S_p
// (sum_j q_j = 1 folded in exactly); a q_j of 0 (a -inf teacher logit) adds nothing, even
// where the student's logit is -inf too. Gradient w.r.t. x: (p - q) / T; Hessian p (1 - p) / T^2.
// x / T is computed as x * (1 / T) in the input's type.
template <class Real>
struct SoftmaxKLDivergence : RowLossPolicy {
    static constexpr bool takes_labels = false;
    // e^b_j kept for the gradient pass: a third exp per element cost 25-30 % at C = 1000.
    static constexpr bool needs_scratch_row = true;
    static constexpr bool has_small_class_tile = true;
    static constexpr std::int64_t tile_class_limit = small_class_limit - 1;
    double inverse_temperature;
    Real scale;  // 1 / T in the input's type
    explicit SoftmaxKLDivergence(const double* parameters)
        : inverse_temperature(1.0 / parameters[0]), scale(static_cast<Real>(1.0 / parameters[0])) {}

    struct Shifts {
        Real student;  // m_x = max_j x_j / T when finite, else 0
        Real teacher;
        bool finite;   // both finite: every a_j, b_j <= 0 (or NaN), the cheaper exp
    };

    Shifts shifts(const RowInput<Real>& in) const {
        const Real student_max = row_maximum(in.x, in.classes) * scale;
        const Real teacher_max = row_maximum(in.target, in.classes) * scale;
        Shifts shifts;
        const bool student_finite = is_finite_value(student_max);
        const bool teacher_finite = is_finite_value(teacher_max);
        shifts.student = student_finite ? student_max : Real(0);
        shifts.teacher = teacher_finite ? teacher_max : Real(0);
        shifts.finite = student_finite && teacher_finite;
        return shifts;
    }

    struct Sums {
        double student;   // S_p
        double teacher;   // S_q
        double weighted;  // sum_j e^b_j (b_j - a_j)
    };

    // One piece of the exp pass (at most accurate_sum_piece elements: float SIMD sums, added
    // in double by the caller, as the softmax rows' long sums). With store, e^a_j goes to the
    // gradient row and e^b_j to the scratch row (when there is one).
    template <bool store, bool nonpositive>
    FUSEDLOSS_ALWAYS_INLINE void sum_piece(const Real* x, const Real* t, Real* gradient,
                                           Real* teacher_exp, std::int64_t count,
                                           const Shifts& shifts, Sums& sums) const {
        Real student = 0, teacher = 0, weighted = 0;
        const Real student_shift = shifts.student, teacher_shift = shifts.teacher, s = scale;
        FUSEDLOSS_SIMD_SUM(student, teacher, weighted)
        for (std::int64_t j = 0; j < count; ++j) {
            const Real a = x[j] * s - student_shift;
            const Real b = t[j] * s - teacher_shift;
            const Real ea = nonpositive ? exp_nonpositive(a) : exp_value(a);
            const Real eb = nonpositive ? exp_nonpositive(b) : exp_value(b);
            student += ea;
            teacher += eb;
            weighted += eb > Real(0) ? eb * (b - a) : Real(0);
            if (store) gradient[j] = ea;
            if (store) teacher_exp[j] = eb;
        }
        sums.student += static_cast<double>(student);
        sums.teacher += static_cast<double>(teacher);
        if (!is_finite_value(weighted) && is_finite_value(student) && is_finite_value(teacher)) {
            // The terms overflowed the input's type (b - a near 3e38 with float32 logits of
            // that size) though the loss may be finite: this piece again, in double.
            weighted_in_double<nonpositive>(x, t, count, shifts, sums);
            return;
        }
        sums.weighted += static_cast<double>(weighted);
    }

    template <bool nonpositive>
    FUSEDLOSS_NEVER_INLINE void weighted_in_double(const Real* x, const Real* t, std::int64_t count,
                                                   const Shifts& shifts, Sums& sums) const {
        for (std::int64_t j = 0; j < count; ++j) {
            const Real b = t[j] * scale - shifts.teacher;
            const Real eb = nonpositive ? exp_nonpositive(b) : exp_value(b);
            if (eb > Real(0)) {
                const double a_exact = static_cast<double>(x[j]) * static_cast<double>(scale) -
                                       static_cast<double>(shifts.student);
                const double b_exact = static_cast<double>(t[j]) * static_cast<double>(scale) -
                                       static_cast<double>(shifts.teacher);
                sums.weighted += static_cast<double>(eb) * (b_exact - a_exact);
            } else if (eb != eb) {
                sums.weighted += static_cast<double>(eb);
            }
        }
    }

    template <bool store>
    Sums row_sums(const RowInput<Real>& in, const Shifts& shifts, Real* gradient) const {
        Sums sums{0.0, 0.0, 0.0};
        for (std::int64_t begin = 0; begin < in.classes; begin += accurate_sum_piece) {
            const std::int64_t count =
                in.classes - begin < accurate_sum_piece ? in.classes - begin : accurate_sum_piece;
            if (in.next_x != nullptr && prefetches_next_row<Real>(in.classes)) {
                const std::int64_t bytes = count * static_cast<std::int64_t>(sizeof(Real));
                prefetch_bytes(in.next_x + begin, bytes);
                prefetch_bytes(in.next_target + begin, bytes);
            }
            Real* piece_gradient = store ? gradient + begin : gradient;
            Real* piece_scratch = store ? in.scratch + begin : nullptr;
            if (shifts.finite) {
                sum_piece<store, true>(in.x + begin, in.target + begin, piece_gradient, piece_scratch, count, shifts, sums);
            } else {
                sum_piece<store, false>(in.x + begin, in.target + begin, piece_gradient, piece_scratch, count, shifts, sums);
            }
        }
        return sums;
    }

    template <bool with_gradient>
    FUSEDLOSS_ALWAYS_INLINE double row(const RowInput<Real>& in, Real* gradient,
                                       double gradient_factor) const {
        const Shifts row_shifts = shifts(in);
        const bool kept = with_gradient && in.scratch != nullptr;
        const Sums sums = kept ? row_sums<true>(in, row_shifts, gradient)
                               : row_sums<false>(in, row_shifts, with_gradient ? gradient : nullptr);
        if (with_gradient) {
            // g_j = factor (e^a_j / S_p - e^b_j / S_q) / T, from the kept e^a_j, e^b_j (in
            // cache). Without a scratch row (its malloc failed) they are computed again.
            const Real student_factor = static_cast<Real>(gradient_factor * inverse_temperature / sums.student);
            const Real teacher_factor = static_cast<Real>(gradient_factor * inverse_temperature / sums.teacher);
            if (kept) {
                const Real* teacher_exp = in.scratch;
                FUSEDLOSS_SIMD_LOOP
                for (std::int64_t j = 0; j < in.classes; ++j) {
                    gradient[j] = student_factor * gradient[j] - teacher_factor * teacher_exp[j];
                }
            } else {
                const Real* x = in.x;
                const Real* t = in.target;
                const Real student_shift = row_shifts.student, teacher_shift = row_shifts.teacher;
                const Real s = scale;
                FUSEDLOSS_SIMD_LOOP
                for (std::int64_t j = 0; j < in.classes; ++j) {
                    gradient[j] = student_factor * exp_value(x[j] * s - student_shift) -
                                  teacher_factor * exp_value(t[j] * s - teacher_shift);
                }
            }
        }
        return sums.weighted / sums.teacher - ::log(sums.teacher) + ::log(sums.student);
    }

    // C <= tile_class_limit: the row loops above would run as vector remainders; here a and b
    // of every row go to tiles, one flat exp covers each tile, and the rows' sums follow.
    template <bool with_gradient>
    void tile(const RowTile<Real>& tile, double* losses) const {
        const std::int64_t classes = tile.classes;
        const std::int64_t rows = tile.rows;
        const std::int64_t count = rows * classes;
        Real stack_student[with_gradient ? 1 : small_class_tile * small_class_limit];
        Real teacher[small_class_tile * small_class_limit];
        Real difference[small_class_tile * small_class_limit];  // b_j - a_j
        Real* student = with_gradient ? tile.gradient : stack_student;
        Shifts row_shifts[small_class_tile];
        bool all_finite = true;
        const Real s = scale;
        for (std::int64_t r = 0; r < rows; ++r) {
            const Real* x = tile.x + r * tile.x_row_stride;
            const Real* t = tile.targets + r * tile.targets_row_stride;
            const Real student_max = small_row_maximum<Real, false>(x, classes, nullptr) * s;
            const Real teacher_max = small_row_maximum<Real, false>(t, classes, nullptr) * s;
            Shifts& shift = row_shifts[r];
            const bool student_finite = is_finite_value(student_max);
            const bool teacher_finite = is_finite_value(teacher_max);
            shift.student = student_finite ? student_max : Real(0);
            shift.teacher = teacher_finite ? teacher_max : Real(0);
            shift.finite = student_finite && teacher_finite;
            all_finite = all_finite && shift.finite;
            for (std::int64_t j = 0; j < classes; ++j) {
                const Real a = x[j] * s - shift.student;
                const Real b = t[j] * s - shift.teacher;
                difference[r * classes + j] = b - a;
                student[r * classes + j] = a;  // (x_j is read before g_j replaces it)
                teacher[r * classes + j] = b;
            }
        }
        if (all_finite) {
            FUSEDLOSS_SIMD_LOOP
            for (std::int64_t k = 0; k < count; ++k) {
                student[k] = exp_nonpositive(student[k]);
                teacher[k] = exp_nonpositive(teacher[k]);
            }
        } else {
            FUSEDLOSS_SIMD_LOOP
            for (std::int64_t k = 0; k < count; ++k) {
                student[k] = exp_value(student[k]);
                teacher[k] = exp_value(teacher[k]);
            }
        }
        double log_student[small_class_tile];
        double log_teacher[small_class_tile];
        Sums sums[small_class_tile];
        for (std::int64_t r = 0; r < rows; ++r) {
            Real student_sum = 0, teacher_sum = 0, weighted = 0;
            for (std::int64_t j = 0; j < classes; ++j) {
                const Real eb = teacher[r * classes + j];
                student_sum += student[r * classes + j];
                teacher_sum += eb;
                weighted += eb > Real(0) ? eb * difference[r * classes + j] : Real(0);
            }
            sums[r] = Sums{static_cast<double>(student_sum), static_cast<double>(teacher_sum),
                           static_cast<double>(weighted)};
            if (!is_finite_value(weighted) && is_finite_value(student_sum) && is_finite_value(teacher_sum)) {
                sums[r].weighted = 0.0;  // overflowed in Real: again in double (see sum_piece)
                const Real* x = tile.x + r * tile.x_row_stride;
                const Real* t = tile.targets + r * tile.targets_row_stride;
                if (row_shifts[r].finite) {
                    weighted_in_double<true>(x, t, classes, row_shifts[r], sums[r]);
                } else {
                    weighted_in_double<false>(x, t, classes, row_shifts[r], sums[r]);
                }
            }
        }
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t r = 0; r < rows; ++r) {
            log_student[r] = log_value(sums[r].student);
            log_teacher[r] = log_value(sums[r].teacher);
        }
        for (std::int64_t r = 0; r < rows; ++r) {
            losses[r] = sums[r].weighted / sums[r].teacher - log_teacher[r] + log_student[r];
            if (with_gradient) {
                const double factor = tile.gradient_factor[r] * inverse_temperature;
                const Real student_factor = static_cast<Real>(factor / sums[r].student);
                const Real teacher_factor = static_cast<Real>(factor / sums[r].teacher);
                Real* g = student + r * classes;
                const Real* eb = teacher + r * classes;
                for (std::int64_t j = 0; j < classes; ++j) g[j] = student_factor * g[j] - teacher_factor * eb[j];
            }
        }
    }

    void hessian_row(const RowInput<Real>& in, Real* hessian, double factor) const {
        const Shifts row_shifts = shifts(in);
        const Sums sums = row_sums<false>(in, row_shifts, nullptr);
        const Real inverse_sum = static_cast<Real>(1.0 / sums.student);
        const Real hessian_factor = static_cast<Real>(factor * inverse_temperature * inverse_temperature);
        const Real* x = in.x;
        const Real student_shift = row_shifts.student, s = scale;
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t j = 0; j < in.classes; ++j) {
            const Real p = exp_value(x[j] * s - student_shift) * inverse_sum;
            hessian[j] = hessian_factor * p * (Real(1) - p);
        }
    }
};

// ----------------------------------------------------------------------------- probabilities
// Cross-entropy of given probabilities (no softmax inside): -sum_j t_j log(p_j + eps), gradient
// -t / (p + eps), Hessian t / (p + eps)^2 (fusedloss.cross_entropy; no clipping, so no flat
// region). Integer labels: one log per row, and the gradient row is zeros except at the label
// -- p_y is read before the row is written (the gradient may be the probabilities' row).
template <class Real>
struct ProbabilityCrossEntropy : RowLossPolicy {
    Real eps;
    explicit ProbabilityCrossEntropy(const double* parameters) : eps(static_cast<Real>(parameters[0])) {}

    template <bool with_gradient>
    FUSEDLOSS_ALWAYS_INLINE double row(const RowInput<Real>& in, Real* gradient,
                                       double gradient_factor) const {
        const Real shifted = in.x[in.label] + eps;
        if (with_gradient) {
            zero_row(gradient, in.classes);
            gradient[in.label] = -static_cast<Real>(gradient_factor) / shifted;
        }
        return -static_cast<double>(log_scalar(shifted));
    }

    void hessian_row(const RowInput<Real>& in, Real* hessian, double factor) const {
        const Real shifted = in.x[in.label] + eps;
        zero_row(hessian, in.classes);
        hessian[in.label] = (static_cast<Real>(factor) / shifted) / shifted;
    }
};

// -sum_j t_j log(p_j + eps) of one soft-target row. One out-of-line function for the
// forward-only and the gradient call: the vectoriser lays out a reduction as it sees fit, and
// two inlined loops (one storing the gradient) had been laid out differently, so the float64
// loss changed in its last bits with return_grad (baseline and AVX).
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

// Soft targets: terms with t_j = 0 count 0 (so 0 log 0 = 0 and their gradient is 0).
template <class Real>
struct ProbabilityCrossEntropySoftTargets : RowLossPolicy {
    static constexpr bool takes_labels = false;
    Real eps;
    explicit ProbabilityCrossEntropySoftTargets(const double* parameters)
        : eps(static_cast<Real>(parameters[0])) {}

    template <bool with_gradient>
    FUSEDLOSS_ALWAYS_INLINE double row(const RowInput<Real>& in, Real* gradient,
                                       double gradient_factor) const {
        const Real* p = in.x;
        const Real* t = in.target;
        // The loss first: the gradient may be the probabilities' row (out=probs).
        const double loss = soft_target_row_loss(p, t, eps, in.classes);
        if (with_gradient) {
            const Real row_scale = static_cast<Real>(gradient_factor);
            FUSEDLOSS_SIMD_LOOP
            for (std::int64_t j = 0; j < in.classes; ++j) {
                const Real target = t[j];
                gradient[j] = target == Real(0) ? Real(0) : -(row_scale * target) / (p[j] + eps);
            }
        }
        return loss;
    }

    void hessian_row(const RowInput<Real>& in, Real* hessian, double factor) const {
        const Real row_scale = static_cast<Real>(factor);
        const Real* p = in.x;
        const Real* t = in.target;
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t j = 0; j < in.classes; ++j) {
            const Real target = t[j];
            const Real shifted = p[j] + eps;
            hessian[j] = target == Real(0) ? Real(0) : ((row_scale * target) / shifted) / shifted;
        }
    }
};

// The table: the Python registry finds a kernel by its name here.
const RowLossEntry row_loss_entries[] = {
    row_loss_entry<SoftmaxFocalLoss>("softmax_focal_loss"),
    row_loss_entry<SoftmaxKLDivergence>("softmax_kl_divergence"),
    row_loss_entry<ProbabilityCrossEntropy>("cross_entropy"),
    row_loss_entry<ProbabilityCrossEntropySoftTargets>("cross_entropy_soft_targets"),
    row_loss_entry<MulticlassHinge>("multiclass_hinge"),
    row_loss_entry<MulticlassHingeSquared>("multiclass_hinge_squared"),
};

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
