// Multiclass hinge (Weston-Watkins SVM) loss, a policy of the row driver (row_loss_driver.inl),
// one sweep per row: term_j = max(0, s_j - s_y + margin) for every j but the label's column
// (never computed and subtracted afterwards: with an infinite s_y, s_y - s_y is NaN), its loss
// and gradient accumulated and the gradient written; then g_y = -(sum of the other g_j) is
// stored. The max is written `t <= 0 ? 0 : t` so that NaN propagates into the loss.
// Two row bodies: row() (any C: two loops around the label's column) and, for 2 <= C <= 16
// in the driver's small-C tiles, chunked_row() (C a template parameter; the label's column is
// masked by a bitwise select inside fixed-width chunks, see there).

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// The columns [begin, stop) of a row (not the label's): adds their loss terms and derivatives
// to loss and derivative_sum, and writes their gradient. A function, not a lambda: GCC left
// a lambda here out of line with its captures in memory, and its loop scalar for double
// (the float64 hinge ran 2-3x slower).
// (Scores and gradient of any storage type: a bfloat16 row is read and written as it is,
// computed in float32; see low_precision.inl.)
// The gradient goes to gradient[j] as Out (the scores' storage type; or float: a tile of
// float32 values that the caller rounds to bfloat16 in bulk).
template <class Storage, bool with_gradient, bool squared, class Real = compute_type<Storage>,
          class Out = Storage>
FUSEDLOSS_ALWAYS_INLINE void hinge_columns(const Storage* scores, std::int64_t begin, std::int64_t stop,
                                           Real label_score, Real margin, Real row_scale,
                                           Out* gradient, Real& loss, Real& derivative_sum) {
    Real range_loss = 0;
    Real range_derivative_sum = 0;
    FUSEDLOSS_SIMD_SUM(range_loss, range_derivative_sum)
    for (std::int64_t j = begin; j < stop; ++j) {
        const Real difference = load_value(scores[j]) - label_score + margin;
        const Real term = difference <= Real(0) ? Real(0) : difference;
        Real derivative;
        if (squared) {
            range_loss += term * term;
            derivative = Real(2) * term;
        } else {
            range_loss += term;
            derivative = difference > Real(0) ? Real(1) : Real(0);
        }
        range_derivative_sum += derivative;
        if (with_gradient) gradient[j] = store_value<Out>(derivative * row_scale);
    }
    loss += range_loss;
    derivative_sum += range_derivative_sum;
}

// The general row, in tiles of hinge_tile_columns: in each, the columns before and after the
// label in two loops (no per-element label test: a 64-bit compare that SSE2 lacks would keep
// the baseline loop scalar). Every storage type sums in the same tiles, so a 16-bit row is
// the float32 row's bits, rounded. A 16-bit gradient tile goes through float32 in L1 and is
// rounded by the hardware where the CPU can (AVX-512 BF16, F16C: the integer rounding was most
// of a 16-bit element's work); a float16 tile of scores is widened by F16C into float32 in L1
// first (its per-element widening in integer code cost more than the whole float32 element:
// float16 1024 x 32000, one thread, 14.7 ms against 9.7 ms for float32). 8 KiB tiles, in L1.
constexpr std::int64_t hinge_tile_columns = 2048;

template <class Storage, bool with_gradient, bool squared, class Real = compute_type<Storage>>
FUSEDLOSS_ALWAYS_INLINE double hinge_row(const Storage* scores, std::int64_t label, std::int64_t classes,
                                         Real margin, Real row_scale, Storage* gradient,
                                         const Storage* next_row, bool streaming) {
    const Real label_score = load_value(scores[label]);
    Real loss = 0;
    Real derivative_sum = 0;
    // The gradient tile computed into `stored_later` in L1, then stored from there: where the
    // hardware rounds 16-bit tiles, or where the gradient streams (streams_output).
    constexpr bool may_store_later =
        with_gradient && (may_store_tiles_in_hardware<Storage> || IsaTraits::has_streaming_stores);
    // The tile's scores widened into float32 in L1 first (`widened`), the next tile prefetched
    // meanwhile: float16 with F16C always (widens_in_bulk); bfloat16 for a row of one tile,
    // where it beat the shift in the loop (one thread, 65536 x 40: 0.64x the time on an Intel
    // Xeon, 0.65x on Zen 4; 4096 x 1000: 0.76x, 1.03x) -- not for rows of several tiles: in
    // cache 256 x 32000 1.11x (Xeon); from memory with the gradient streamed it was 0.82x on
    // the Xeon but 1.26-1.44x on Zen 4 (2048 x 32000, 8192 x 32000, one and two threads), the
    // machine this project is tuned for.
    constexpr bool may_widen = widens_in_bulk<Storage> || std::is_same<Storage, bfloat16_bits>::value;
    const bool widens_tiles = widens_in_bulk<Storage> || (may_widen && classes <= hinge_tile_columns);
    bool store_later = false;
    if constexpr (may_store_later) store_later = streaming || stores_tiles_in_hardware<Storage>();
    Real stored_later[may_store_later ? hinge_tile_columns : 1];
    float widened[may_widen ? hinge_tile_columns : 1];
    for (std::int64_t begin = 0; begin < classes; begin += hinge_tile_columns) {
        const std::int64_t count = classes - begin < hinge_tile_columns ? classes - begin : hinge_tile_columns;
        // (columns counted from the tile's first, in the scores and the gradient alike)
        Storage* tile_gradient = with_gradient ? gradient + begin : nullptr;
        const std::int64_t label_column = label - begin;  // may lie outside the tile
        const std::int64_t before = label_column < count ? label_column : count;
        const std::int64_t after = label_column + 1 > 0 ? label_column + 1 : 0;
        // The tile's two ranges, from scores of type Tile (the row's, or the widened float32
        // tile), the gradient into Out (the row's, or the float32 tile rounded afterwards).
        const auto columns = [&](const auto* tile_scores, auto* out) {
            using Tile = std::remove_cv_t<std::remove_pointer_t<decltype(tile_scores)>>;
            using Out = std::remove_pointer_t<decltype(out)>;
            constexpr bool writes = with_gradient;
            if (before > 0) {
                hinge_columns<Tile, writes, squared, Real, Out>(tile_scores, 0, before, label_score, margin,
                                                                row_scale, out, loss, derivative_sum);
            }
            if (after < count) {
                hinge_columns<Tile, writes, squared, Real, Out>(tile_scores, after, count, label_score, margin,
                                                                row_scale, out, loss, derivative_sum);
            }
        };
        // The next tile's scores (this row's, or the next row's first), fetched while this
        // one is computed: a tile widened in one loop would otherwise wait for memory there.
        if (widens_tiles) {
            const std::int64_t next_begin = begin + count;
            const Storage* next = next_begin < classes ? scores + next_begin : next_row;
            const std::int64_t next_count = next_begin < classes ? classes - next_begin : classes;
            if (next != nullptr) {
                prefetch_bytes(next, (next_count < hinge_tile_columns ? next_count : hinge_tile_columns) *
                                         static_cast<std::int64_t>(sizeof(Storage)));
            }
        }
        // The tile's columns from `tile_scores` (the row's, or its widened float32 copy).
        const auto tile = [&](const auto* tile_scores) {
            if constexpr (may_store_later) {
                if (store_later) {
                    columns(tile_scores, static_cast<Real*>(stored_later));
                    if (label_column >= 0 && label_column < count) {
                        // (the label's entry is set below, once the row's sum is known: its
                        // line is stored as usual)
                        store_tile_with_entry(static_cast<const Real*>(stored_later), Real(1), tile_gradient,
                                              count, streaming, label_column, store_value<Storage>(0.0f));
                    } else {
                        store_tile(static_cast<const Real*>(stored_later), Real(1), tile_gradient, count,
                                   streaming);
                    }
                    return;
                }
            }
            columns(tile_scores, tile_gradient);
        };
        if constexpr (may_widen) {
            if (widens_tiles) {
                widen_values(scores + begin, widened, count);
                tile(static_cast<const float*>(widened));
                continue;
            }
        }
        if constexpr (!widens_in_bulk<Storage>) tile(scores + begin);
    }
    if (with_gradient) gradient[label] = store_value<Storage>(-derivative_sum * row_scale);
    return static_cast<double>(loss);
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
FUSEDLOSS_ALWAYS_INLINE double hinge_chunked_row(const Real* scores, std::int64_t label,
                                                 Real margin, Real row_scale, Real* gradient) {
    using Bits = typename std::conditional<sizeof(Real) == 4, std::uint32_t, std::uint64_t>::type;
    constexpr int lanes = hinge_chunk_lanes<classes, hinge_chunk_bytes / static_cast<int>(sizeof(Real))>();
    constexpr int chunks = (classes + lanes - 1) / lanes;
    // Column numbers compared as Real (exact below 2^24): a compare of the lanes' own
    // width, which SSE2 has for double (it lacks the 64-bit integer one).
    const Real label_column = static_cast<Real>(label);
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
        for (int chunk = 0; chunk < chunks; ++chunk) {
            const int offset = chunk * lanes + lanes <= classes ? chunk * lanes : classes - lanes;
            FUSEDLOSS_SIMD_LOOP
            for (int lane = 0; lane < lanes; ++lane) {
                gradient[offset + lane] = derivatives[chunk][lane] * row_scale;
            }
        }
        gradient[label] = -count_lanes[0] * row_scale;
    }
    return static_cast<double>(loss_lanes[0]);
}

// With 16-byte vectors (the SSE2 baseline) the double chunk loops stayed scalar, with branches,
// and ran 2-4x slower than the two-loop row (float's were 1.7x faster): double keeps that row
// there.
constexpr bool hinge_chunks_for_double = IsaTraits::vector_bytes >= 32;

// The policy: margin its parameter, `squared` a compile-time choice (two table entries).
// "mean" divides by N (or the summed sample weights), not by the class weights: the registry's
// class_weight_in_mean is false for it (torch's multi_margin_loss rule).
template <class Real, bool squared>
struct MulticlassHingeLoss : RowLossPolicy {
    static constexpr bool has_small_class_tile = true;
    static constexpr bool reads_16bit = true;
    Real margin;
    explicit MulticlassHingeLoss(const double* parameters) : margin(static_cast<Real>(parameters[0])) {}

    template <bool with_gradient, class Storage>
    FUSEDLOSS_ALWAYS_INLINE double row(const RowInput<Storage>& in, Storage* gradient,
                                       double gradient_factor) const {
        return hinge_row<Storage, with_gradient, squared>(in.x, in.label, in.classes, margin,
                                                          static_cast<Real>(gradient_factor), gradient,
                                                          in.next_x, in.gradient_streams);
    }

    template <bool with_gradient, int classes>
    FUSEDLOSS_NEVER_INLINE void chunked_tile(const RowTile<Real>& tile, double* losses) const {
        for (std::int64_t r = 0; r < tile.rows; ++r) {
            losses[r] = hinge_chunked_row<Real, with_gradient, squared, classes>(
                tile.x + r * tile.x_row_stride, tile.labels[r], margin,
                static_cast<Real>(tile.gradient_factor[r]),
                with_gradient ? tile.gradient + r * classes : nullptr);
        }
    }

    // C <= 16 (the driver's tiles, tile_class_limit; the hinge has no ignored rows): the chunked
    // rows, C known. (Its rows are no slower above: up to 32 its tiles measured 3-4 % slower.)
    template <bool with_gradient>
    void tile(const RowTile<Real>& tile, double* losses) const {
        if (sizeof(Real) == 4 || hinge_chunks_for_double) {
            switch (tile.classes) {
#define FUSEDLOSS_HINGE_CASE(C) \
    case C: chunked_tile<with_gradient, C>(tile, losses); return;
                FUSEDLOSS_HINGE_CASE(2) FUSEDLOSS_HINGE_CASE(3) FUSEDLOSS_HINGE_CASE(4)
                FUSEDLOSS_HINGE_CASE(5) FUSEDLOSS_HINGE_CASE(6) FUSEDLOSS_HINGE_CASE(7)
                FUSEDLOSS_HINGE_CASE(8) FUSEDLOSS_HINGE_CASE(9) FUSEDLOSS_HINGE_CASE(10)
                FUSEDLOSS_HINGE_CASE(11) FUSEDLOSS_HINGE_CASE(12) FUSEDLOSS_HINGE_CASE(13)
                FUSEDLOSS_HINGE_CASE(14) FUSEDLOSS_HINGE_CASE(15) FUSEDLOSS_HINGE_CASE(16)
#undef FUSEDLOSS_HINGE_CASE
                default: break;
            }
        }
        for (std::int64_t r = 0; r < tile.rows; ++r) {
            losses[r] = hinge_row<Real, with_gradient, squared>(
                tile.x + r * tile.x_row_stride, tile.labels[r], tile.classes, margin,
                static_cast<Real>(tile.gradient_factor[r]),
                with_gradient ? tile.gradient + r * tile.classes : nullptr, nullptr, false);
        }
    }

    // Piecewise linear: 0 everywhere (also at the kinks, as the gradient's 1[term > 0] takes
    // no side). Squared: with d_j = s_j - s_y + margin, each active term (d_j > 0, j != y)
    // gives 2 at j and 2 at the label, times the row's factor. A NaN d_j counts as inactive,
    // as in the gradient's comparison.
    void hessian_row(const RowInput<Real>& in, Real* hessian, double factor) const {
        if (!squared) {
            zero_row(hessian, in.classes);
            return;
        }
        const Real* s = in.x;
        const double two_factor = 2.0 * factor;
        const Real two = static_cast<Real>(two_factor);
        const Real offset = margin - s[in.label];
        std::int64_t active = 0;
        FUSEDLOSS_SIMD_SUM(active)
        for (std::int64_t j = 0; j < in.classes; ++j) {
            const bool on = (s[j] + offset > Real(0)) && j != in.label;
            hessian[j] = on ? two : Real(0);
            active += on ? 1 : 0;
        }
        hessian[in.label] = static_cast<Real>(two_factor * static_cast<double>(active));
    }
};

template <class Real>
using MulticlassHinge = MulticlassHingeLoss<Real, false>;
template <class Real>
using MulticlassHingeSquared = MulticlassHingeLoss<Real, true>;

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
