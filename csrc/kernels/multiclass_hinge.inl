// Multiclass hinge (Weston-Watkins SVM) loss, forward and fused forward+backward, one sweep
// per row: term_j = max(0, s_j - s_y + margin) for every j but the label's column (never
// computed and subtracted afterwards: with an infinite s_y, s_y - s_y is NaN), its loss and
// gradient accumulated and the gradient written; then g_y = -(sum of the other g_j) is stored.
// The max is written `t <= 0 ? 0 : t` so that NaN propagates into the loss.
// Two kernels: multiclass_hinge_block (any C: two loops around the label's column) and, for
// 2 <= C <= 16, multiclass_hinge_chunked_block (C a template parameter; the label's column is
// masked by a bitwise select inside fixed-width chunks, see there).

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

constexpr std::int64_t hinge_small_class_limit = 16;

// Few classes (C <= hinge_small_class_limit, known at compile time): a row is covered by
// fixed-width chunks of `lanes` columns, the last one ending at column C (so it overlaps its
// predecessor when `lanes` does not divide C: C = 10, 8 lanes -> columns 0-7 and 2-9); no
// chunk reads or writes outside its row, and each is one SIMD operation wide, without the
// remainder loop and reduction epilogue of a loop over C. A lane counts in the row's sums when
// it is not the label's column and no earlier chunk covered it: a bitwise select (no branch,
// and the label's term is never computed-then-subtracted, see above). The sums are kept per
// lane across chunks, then added pairwise in a fixed order: the same bits for every row
// position and thread count. All chunks are read before any is written: the gradient may be
// the scores (out=scores), and overlapping chunks share columns.
// The chunk width is the kernel's, not the instruction set's: it fixes the order in which the
// lanes' sums are added, so it is part of the result. 32 bytes on every ISA (two SSE2 vectors,
// one AVX2 vector, half an AVX-512 one) keeps float32 results the same on all of them.
constexpr int hinge_chunk_bytes = 32;

template <int classes, int vector_lanes>
constexpr int hinge_chunk_lanes() {
    int lanes = 1;
    while (lanes * 2 <= classes && lanes * 2 <= vector_lanes) lanes *= 2;
    return lanes;
}

// Adds the upper half of the lanes onto the lower half until one lane is left: a fixed order.
template <int width, class Real>
FUSEDLOSS_ALWAYS_INLINE void fold_lanes(Real* first, Real* second) {
    if constexpr (width >= 1) {
        for (int lane = 0; lane < width; ++lane) {
            first[lane] += first[lane + width];
            second[lane] += second[lane + width];
        }
        fold_lanes<width / 2>(first, second);
    }
}

template <class Real, bool with_gradient, bool squared, int classes>
double multiclass_hinge_chunked_block(const ClassificationArgs<Real>& args, std::int64_t first,
                                      std::int64_t end) {
    using Bits = typename std::conditional<sizeof(Real) == 4, std::uint32_t, std::uint64_t>::type;
    constexpr int lanes = hinge_chunk_lanes<classes, hinge_chunk_bytes / static_cast<int>(sizeof(Real))>();
    constexpr int chunks = (classes + lanes - 1) / lanes;
    const Real margin = static_cast<Real>(args.margin);
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        const Real* scores = args.logits + row * args.logits_row_stride;
        const std::int64_t label = args.labels[row];
        // Column numbers compared as Real (exact below 2^24): a compare of the lanes' own
        // width, which SSE2 has for double (it lacks the 64-bit integer one).
        const Real label_column = static_cast<Real>(label);
        const double weight = row_weight(args, row, label);
        const Real row_scale = static_cast<Real>(weight * args.gradient_scale);
        const Real label_score = scores[label];
        Real loss_lanes[lanes] = {};
        Real count_lanes[lanes] = {};
        Real derivatives[chunks][lanes];
        for (int chunk = 0; chunk < chunks; ++chunk) {
            const int offset = chunk * lanes + lanes <= classes ? chunk * lanes : classes - lanes;
            const int covered = chunk * lanes;  // columns below this were counted already
            FUSEDLOSS_SIMD_LOOP
            for (int lane = 0; lane < lanes; ++lane) {
                const Real column = static_cast<Real>(offset + lane);
                const Real difference = scores[offset + lane] - label_score + margin;
                const Real positive = difference <= Real(0) ? Real(0) : difference;
                // All ones off the label's column, 0 on it.
                const Bits off_label = Bits(0) - static_cast<Bits>(column != label_column);
                const Bits counted = offset + lane >= covered ? off_label : Bits(0);
                const Real term = bit_cast_value<Real>(bit_cast_value<Bits>(positive) & off_label);
                Real derivative;
                if (squared) {
                    derivative = Real(2) * term;
                    const Real square = term * term;
                    loss_lanes[lane] += bit_cast_value<Real>(bit_cast_value<Bits>(square) & counted);
                } else {
                    const Real step = difference > Real(0) ? Real(1) : Real(0);
                    derivative = bit_cast_value<Real>(bit_cast_value<Bits>(step) & off_label);
                    loss_lanes[lane] += bit_cast_value<Real>(bit_cast_value<Bits>(term) & counted);
                }
                count_lanes[lane] += bit_cast_value<Real>(bit_cast_value<Bits>(derivative) & counted);
                derivatives[chunk][lane] = derivative;
            }
        }
        fold_lanes<lanes / 2>(loss_lanes, count_lanes);
        if (with_gradient) {
            Real* gradient = args.gradient + row * classes;
            for (int chunk = 0; chunk < chunks; ++chunk) {
                const int offset = chunk * lanes + lanes <= classes ? chunk * lanes : classes - lanes;
                FUSEDLOSS_SIMD_LOOP
                for (int lane = 0; lane < lanes; ++lane) {
                    gradient[offset + lane] = derivatives[chunk][lane] * row_scale;
                }
            }
            gradient[label] = -count_lanes[0] * row_scale;
        }
        const double weighted_loss = weight * static_cast<double>(loss_lanes[0]);
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
        block_sum += weighted_loss;
    }
    return block_sum;
}

template <class Real, bool with_gradient, bool squared>
double multiclass_hinge_small(const ClassificationArgs<Real>& args, std::int64_t first,
                              std::int64_t end) {
    switch (args.classes) {
#define FUSEDLOSS_HINGE_CASE(C) \
    case C: return multiclass_hinge_chunked_block<Real, with_gradient, squared, C>(args, first, end);
        FUSEDLOSS_HINGE_CASE(2) FUSEDLOSS_HINGE_CASE(3) FUSEDLOSS_HINGE_CASE(4)
        FUSEDLOSS_HINGE_CASE(5) FUSEDLOSS_HINGE_CASE(6) FUSEDLOSS_HINGE_CASE(7)
        FUSEDLOSS_HINGE_CASE(8) FUSEDLOSS_HINGE_CASE(9) FUSEDLOSS_HINGE_CASE(10)
        FUSEDLOSS_HINGE_CASE(11) FUSEDLOSS_HINGE_CASE(12) FUSEDLOSS_HINGE_CASE(13)
        FUSEDLOSS_HINGE_CASE(14) FUSEDLOSS_HINGE_CASE(15) FUSEDLOSS_HINGE_CASE(16)
#undef FUSEDLOSS_HINGE_CASE
        default: return multiclass_hinge_block<Real, with_gradient, squared>(args, first, end);
    }
}

// With 16-byte vectors (the SSE2 baseline) the double chunk loops stayed scalar, with branches,
// and ran 2-4x slower than the two-loop kernel (float's were 1.7x faster): double keeps that
// kernel there.
constexpr bool hinge_chunks_for_double = IsaTraits::vector_bytes >= 32;

template <class Real, bool with_gradient, bool squared>
double multiclass_hinge_for_options(const ClassificationArgs<Real>& args,
                                    const ReductionPlan& plan) {
    if (args.classes <= hinge_small_class_limit && (sizeof(Real) == 4 || hinge_chunks_for_double)) {
        return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
            return multiclass_hinge_small<Real, with_gradient, squared>(args, first, end);
        });
    }
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        return multiclass_hinge_block<Real, with_gradient, squared>(args, first, end);
    });
}

template <class Real, bool with_gradient>
double multiclass_hinge_for_gradient(const ClassificationArgs<Real>& args,
                                     const ReductionPlan& plan) {
    if (args.squared) return multiclass_hinge_for_options<Real, with_gradient, true>(args, plan);
    return multiclass_hinge_for_options<Real, with_gradient, false>(args, plan);
}

template <class Real>
double multiclass_hinge(const ClassificationArgs<Real>& args, const ReductionPlan& plan) {
    if (args.gradient != nullptr) return multiclass_hinge_for_gradient<Real, true>(args, plan);
    return multiclass_hinge_for_gradient<Real, false>(args, plan);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
