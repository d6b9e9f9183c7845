// Row helpers shared by the softmax-based kernels (softmax cross-entropy and the building
// blocks softmax / log_softmax / logsumexp): the row max, the shifted exponentials and their
// sum, in-place scaling. Callers shift by the max only when it is finite (see
// softmax_cross_entropy.inl for the infinite-row rules).

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// The row helpers read x of any storage type (float, double, or 16-bit, widened by load_value)
// and compute in its compute type (float for the 16-bit types).
template <class Storage, class Real = compute_type<Storage>>
FUSEDLOSS_ALWAYS_INLINE Real row_maximum(const Storage* x, std::int64_t classes) {
    Real maximum = -__builtin_huge_valf();
    FUSEDLOSS_SIMD_MAX(maximum)
    for (std::int64_t j = 0; j < classes; ++j) {
        const Real value = load_value(x[j]);
        maximum = value > maximum ? value : maximum;
    }
    // The max reduction may drop NaN; the sum below brings it back into the row's result.
    return maximum;
}

// The exp pass of a piece of a row: lane[j % sum_lanes] += exp(x_j - shift), each term stored
// in `out` when store is set (out may be x: x_j is read before out_j is written). With shift
// the row's finite max, every x_j - shift is <= 0 (or NaN): the cheaper exp_nonpositive.
template <class Storage, bool store>
FUSEDLOSS_ALWAYS_INLINE void shifted_exp_pass(const Storage* x, compute_type<Storage> shift,
                                              bool shift_is_finite_max, compute_type<Storage>* out,
                                              std::int64_t classes, compute_type<Storage>* lane) {
    using Real = compute_type<Storage>;
    if (shift_is_finite_max) {
        add_to_lanes(lane, classes, [&](std::int64_t j) {
            const Real e = exp_nonpositive(load_value(x[j]) - shift);
            if (store) out[j] = e;
            return e;
        });
    } else {
        add_to_lanes(lane, classes, [&](std::int64_t j) {
            const Real e = exp_value(load_value(x[j]) - shift);
            if (store) out[j] = e;
            return e;
        });
    }
}

// The exp pass of a row that is followed by `next_row` (null for the last): the row is walked in
// pieces of exp_piece_bytes, and before each piece the same span of the next row is prefetched.
// Why: the exp pass is compute-bound and works on a row already in cache (the max pass brought
// it), so without this the memory bus idles during it and every row's max pass then waits on
// memory; spread over the exp pass, the next row's reads overlap the exp (4096 x 1000 float32,
// one thread: 2.85 -> 2.46 ms; 262144 x 1000, 1 GiB: 190 -> 165 ms). Prefetching a whole row
// in one burst before the pass did not help (docs/performance-notes.md).
constexpr std::int64_t exp_piece_bytes = 2048;

// Elements per piece of the option paths' row sums (S, sum_j a_j d_j, ...): each piece is a
// float32 SIMD sum (a few dozen terms per lane), the pieces are added in float64. One float32
// accumulator per lane over a row of 50000 classes erred by up to 80 ulps of the loss (offset
// 1e8, where float32 rounds the logits to multiples of 8 and the terms repeat);
// tests/test_offset_accuracy.py bounds the error by 4 + log2(C) / 2 ulps.
constexpr std::int64_t accurate_sum_piece = 256;

// Whether a row pass over `classes` elements prefetches the next row (or chunk) as it goes,
// by the next row's type. A float32 or float64 row is prefetched only up to
// next_row_prefetch_bytes: past that the hardware prefetcher, ramped up within the row, keeps
// up by itself and the hints compete with the row's own misses (Zen 4, float32 softmax-CE,
// one thread, with the hints / without: 1000 x 32000 1.23x the time, 2000 x 16000 1.20x,
// 4000 x 8000 1.18x, 8000 x 4000 1.03x, 16000 x 2000 1.02x; 2048 x 32000 1.33x, softmax focal
// 1.29x, KL 1.10x). The long rows' 16 KiB chunks and rows of 1000 classes keep them (32 x
// 128000 1.30x the time without; KL 4096 x 1000 1.25x), and so do 16-bit rows at any length,
// read in place or widened first (bfloat16 2000 x 16000 1.08x the time without).
constexpr std::int64_t next_row_prefetch_bytes = 16384;
template <class Next>
FUSEDLOSS_ALWAYS_INLINE bool prefetches_next_row(std::int64_t classes) {
    return !std::is_floating_point<Next>::value ||
           classes * static_cast<std::int64_t>(sizeof(Next)) <= next_row_prefetch_bytes;
}

// S = sum_j exp(x_j - shift) over the row: each piece's terms go to float32 lanes (a piece is a
// multiple of sum_lanes, so term j is in lane j % sum_lanes all along the row), the pieces'
// lanes are added to float64 lanes (the accuracy of a long row's S, as accurate_sum_piece
// above), and those are added as a tree once, at the end of the row: no horizontal sum per
// piece. The order depends on C and the instruction set only, not on the next row.
// (A 16-bit row is summed in the pieces of a float32 row, so that its S is the float32 kernel's
// on the widened row, bit for bit; it prefetches the 16-bit bytes of the piece.)
// (Next: the next row's type, where x is a widened copy of a 16-bit row.)
// The next row is prefetched where prefetches_next_row says.
template <class Storage, bool store, class Next = Storage>
FUSEDLOSS_ALWAYS_INLINE compute_type<Storage> shifted_exp_pass_prefetching(
    const Storage* x, compute_type<Storage> shift, bool shift_is_finite_max,
    compute_type<Storage>* out, std::int64_t classes, const Next* next_row) {
    using Real = compute_type<Storage>;
    constexpr int lanes = sum_lanes<Real>;
    constexpr std::int64_t piece = exp_piece_bytes / static_cast<std::int64_t>(sizeof(Real));
    static_assert(piece % lanes == 0, "a piece must hold whole sets of lanes");
    double row_lane[lanes] = {};
    for (std::int64_t begin = 0; begin < classes; begin += piece) {
        const std::int64_t count = classes - begin < piece ? classes - begin : piece;
        if (next_row != nullptr && prefetches_next_row<Next>(classes)) {
            prefetch_bytes(next_row + begin, count * static_cast<std::int64_t>(sizeof(Next)));
        }
        Real lane[lanes] = {};
        shifted_exp_pass<Storage, store>(x + begin, shift, shift_is_finite_max,
                                         store ? out + begin : out, count, lane);
        FUSEDLOSS_SIMD_LOOP
        for (int l = 0; l < lanes; ++l) row_lane[l] += static_cast<double>(lane[l]);
    }
    return static_cast<Real>(sum_of_lanes(row_lane, lanes));
}

// The row epilogue of every softmax kernel (rows, small-C tiles, long rows, options), written
// once. With m the shift (the row's max when finite), S = sum_j exp(x_j - m) and log S its log:
//   label_loss = log S - (x_y - m), never (m + log S) - x_y: the latter rounds m + log S to the
//   precision of m and loses |m| 2^-24 in float32 (0.03 at logits near 1e6, the whole loss at
//   1e8: [[1e8, -inf, 1e8]] gave 0 instead of log 2). x_y - m is exact in float64 for float32
//   inputs, and the float64 result keeps a loss of 6e38 (row [3e38, -3e38]) finite in the sums.
//   log_sum_exp = m + log S, rounded once to float64 (z-loss needs lse itself).
template <class Real>
FUSEDLOSS_ALWAYS_INLINE double label_loss(Real log_sum, Real label_logit, Real shift) {
    return static_cast<double>(log_sum) -
           (static_cast<double>(label_logit) - static_cast<double>(shift));
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE double log_sum_exp(Real shift, Real log_sum) {
    return static_cast<double>(shift) + static_cast<double>(log_sum);
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE void scale_row(Real* row, Real factor, std::int64_t classes) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < classes; ++j) row[j] *= factor;
}

template <class Real>
FUSEDLOSS_ALWAYS_INLINE void zero_row(Real* row, std::int64_t classes) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < classes; ++j) row[j] = Real(0);
}

// The same for a row of any storage type (the 16-bit zero is all zero bits).
template <class Storage>
FUSEDLOSS_ALWAYS_INLINE void zero_stored_row(Storage* row, std::int64_t classes) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = 0; j < classes; ++j) row[j] = store_value<Storage>(0.0f);
}

// Few classes (C <= small_class_limit): per-row SIMD loops of C elements are mostly remainder
// and reduction epilogues, so the rows are processed in tiles of `small_class_tile` rows and
// the exp runs as one flat SIMD loop over the whole tile (rows x C contiguous values): (1) per
// row, max and the shifted values x_j - shift are written to the work tile (the gradient rows,
// or a stack buffer without a gradient; x_j is read before it is overwritten when the gradient
// is the logits), (2) one flat exp over the tile, (3) per row the sum (in index order, so the
// result does not depend on the thread count), one flat vectorised log over the tile's sums,
// (4) per row the loss and the scaled gradient row.
// Tiles hold up to C = 32 (small_class_limit); each user says up to which C it takes them
// (the row driver's policies: tile_class_limit). Up to 32 for softmax-CE's plain rows and the
// focal loss, not 16 as before: a row of 17-31 float32 classes on the row path cost 90 ns, a
// fixed price of its reductions (the max's and the lanes' horizontal steps through the stack,
// the scalar remainder, a libm log), against 20-37 ns in a tile (65536 rows, one thread,
// softmax-CE: C = 17 5.1 -> 1.2 ms, 20 6.4 -> 2.4, 32 4.7 -> 3.0; the focal loss 0.3-0.5x).
// KL and softmax-CE's options stop at 31: at exactly 32 (one full set of AVX-512 lanes, no
// remainder) their rows were faster than their tiles (KL 4.6 against 5.4 ms, label smoothing
// 2.9 against 4.1). Above 32 a tile's per-row maxima and sums in index order cost more than
// the row path saves (C = 64: CE 5.1 ms in tiles against 3.9-5.0 on rows).
constexpr std::int64_t small_class_limit = 32;
constexpr std::int64_t small_class_tile = 128;

// What steps (1)-(3) leave per row of a tile for step (4).
template <class Real>
struct SmallTileRows {
    Real shift[small_class_tile];
    Real label_logit[small_class_tile];
    Real smoothing_sum[small_class_tile];  // sum_j w_j (x_j - shift), with label smoothing
    Real sum[small_class_tile];            // S
    Real log_sum[small_class_tile];        // log S
};

// The row's max, and with `argmax` (not null) np.argmax: the first index of the maximum (a
// strict > keeps the first), or the first NaN, which the row's NaN sum reveals in step (4) (a
// NaN x[0] keeps the max NaN and the index 0). Tracked in the max loop: two selects per class,
// where a bitmask of matches cost a vector OR reduction whose scalar-to-vector moves stalled
// store forwarding (+136 % over plain at 65536 x 10). The index select is written with a mask:
// as a ?: GCC made it a branch, which random rows mispredict.
template <class Real, bool find_argmax>
FUSEDLOSS_ALWAYS_INLINE Real small_row_maximum(const Real* x, std::int64_t classes,
                                               std::int64_t* argmax) {
    Real maximum = x[0];
    if (find_argmax && argmax != nullptr) {
        std::int64_t first_maximum = 0;
        for (std::int64_t j = 1; j < classes; ++j) {
            const std::int64_t greater = -static_cast<std::int64_t>(x[j] > maximum);
            first_maximum = (j & greater) | (first_maximum & ~greater);
            maximum = x[j] > maximum ? x[j] : maximum;
        }
        *argmax = first_maximum;
    } else {
        for (std::int64_t j = 1; j < classes; ++j) maximum = x[j] > maximum ? x[j] : maximum;
    }
    return maximum;
}

// Steps (2) and (3): the flat exp over the tile, each row's sum in index order, their logs.
template <class Real>
FUSEDLOSS_ALWAYS_INLINE void small_tile_exp_and_sums(Real* work, std::int64_t tile_rows,
                                                     std::int64_t classes, bool all_finite,
                                                     SmallTileRows<Real>& rows) {
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
        rows.sum[r] = sum;
    }
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t r = 0; r < tile_rows; ++r) rows.log_sum[r] = log_value(rows.sum[r]);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
