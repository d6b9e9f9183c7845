// Softmax cross-entropy (plain path: integer labels, class / sample weights, ignore_index) for
// long rows, C >= long_row_classes: each row is cut into chunks of long_row_chunk classes and
// the threads share the chunks of one row at a time, so a few huge rows (32 x 128000,
// 4 x 10^6) use every thread, and a row larger than the L2 cache is read from memory once.
//
// Per chunk c (phase 1): its max m_c, then e_j = exp(x_j - s_c) with s_c = m_c (0 when m_c is
// not finite, as on the row path) stored in the gradient, and their sum S_c: one read of the
// chunk's logits, one write of its gradient, the chunk staying in the thread's cache. Then
// (combine, one thread per row) the row's max M over the m_c, shift = M when finite else 0,
// and S = sum_c S_c exp(s_c - shift) in chunk order. Phase 2 scales each chunk by
// w scale exp(s_c - shift) / S while it is still in cache.
//
// Threads: with enough rows (long_rows_on_own_threads) each thread takes whole rows, one
// work-claiming task per row. Else (one work-claiming pass per call, no barrier that waits for
// a thread that has not started) the rows are taken in groups (enough chunks for every thread), each group's chunks
// in one contiguous slice per thread; the tasks are claimed in the order phase 1 of every slice
// of group 0, phase 2 of every slice of group 0, then group 1, ... The thread that finishes the
// last phase-1 slice of a group combines its rows; a phase-2 slice waits only for that combine,
// whose slices were all claimed before it -- every wait is for work a running thread holds,
// and a thread that never gets a CPU holds nothing up (the caller takes its slices). Each row
// has its own state then (the serial path alternates two groups' worth).
//
// bfloat16 / float16 rows are read as they are (run serially or on own threads): phase 1
// keeps their exponentials in a float32 row of the thread's scratch, phase 2 rounds the
// gradient once into the 16-bit output -- the float32 kernel's bits on the widened rows.
//
// The chunking depends on C only and the combination runs in chunk order, so the result is the
// same bits for any thread count. It differs from the row path's in the last bits (the sum is
// grouped by chunk), which is why the choice of path depends on the shape alone.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

constexpr std::int64_t long_row_classes = 32768;
// 4096 float32 = 16 KiB of logits and 16 KiB of gradient: both halves of a chunk stay in L1.
constexpr std::int64_t long_row_chunk = 4096;

// What the threads share about one row. The threads work on a group of rows at a time (enough
// chunks for every thread; one row when the row alone has them), and groups alternate between
// two sets of these and of the chunk values, so that phase 2 of a group needs no barrier before
// phase 1 of the next. Grouping changes which thread computes what, never what is computed.
template <class Real>
struct LongRowState {
    std::int64_t label;
    bool ignored;
    Real label_logit;  // read in phase 1 by the chunk holding it, before it may be overwritten
    Real row_scale;
    Real sum;
};

// Rows per group for `threads` threads: at least 4 chunks per thread.
FUSEDLOSS_ALWAYS_INLINE std::int64_t long_row_group(std::int64_t rows, std::int64_t classes,
                                                    int threads) {
    const std::int64_t chunks = (classes + long_row_chunk - 1) / long_row_chunk;
    const std::int64_t wanted = (4 * static_cast<std::int64_t>(threads) + chunks - 1) / chunks;
    return wanted < rows ? (wanted > 1 ? wanted : 1) : (rows > 1 ? rows : 1);
}

// Whether the threads take whole rows, each row's chunks on one thread, rather than share the
// chunks of one row: with at least 4 rows per thread every thread has rows of its own, and no
// row waits for another thread's chunks before its phase 2, nor finds its phase-2 chunks in
// the other core's cache (64 x 200000 float32, 2 threads, best of 9: 5.6-6.4 ms shared,
// 3.8-4.1 own; 2048 x 128000 within the noise, 76-87 and 71-83). Rows of more than 1 MiB of
// float inputs (C > 262144 float32) are still shared: a whole row and its gradient no longer
// stay in one core's L2 until phase 2, half of one does better (16 x 10^6 float32, 2 threads:
// 4.4-5.8 ms shared, 5.4-6.7 own). 16-bit rows (value_bytes 2) always go to own threads: they
// never share chunks (their float32 exponentials are per thread). Which thread runs a row
// never changes its bits.
FUSEDLOSS_ALWAYS_INLINE bool long_rows_on_own_threads(std::int64_t rows, std::int64_t classes,
                                                      std::int64_t value_bytes, int threads) {
    const bool few_bytes = value_bytes == 2 || classes * value_bytes <= (std::int64_t(1) << 20);
    return threads > 1 && rows >= 4 * static_cast<std::int64_t>(threads) && few_bytes;
}

// Storage: the arrays' type. A 16-bit row keeps its exponentials in a float32 row of the
// thread's scratch (in cache) and is rounded into the 16-bit gradient in phase 2: the float32
// kernel's bits on the widened row, rounded once, with half its memory traffic. A float16
// chunk is widened by F16C into that row first, and its passes run there (widens_in_bulk).
// 16-bit rows are run serially or on own threads only (softmax_cross_entropy_16bit stages the
// others).
// states: 2 * group entries; chunk_values: 4 * group * chunks (per chunk: its max, and its sum
// then its factor). A chunk's shift is derived from its max, as on the row path.
template <class Storage, bool with_gradient>
double softmax_cross_entropy_long_rows(const ClassificationArgs<Storage>& args,
                                       const ReductionPlan& plan, std::int64_t group,
                                       LongRowState<compute_type<Storage>>* states,
                                       compute_type<Storage>* chunk_values) {
    using Real = compute_type<Storage>;
    constexpr bool native = std::is_same<Storage, Real>::value;
    const std::int64_t classes = args.classes;
    const std::int64_t chunks = (classes + long_row_chunk - 1) / long_row_chunk;
    // Where the gradient is large, it is streamed out from a float32 row in cache (a 16-bit
    // row's, always kept there; a float32 row's kept in the thread's scratch instead of its
    // gradient row, where each thread runs whole rows: the chunks of the threaded path below
    // may be split between threads, and keep their e_j in the gradient row).
    const bool own_threads = long_rows_on_own_threads(args.rows, classes, sizeof(Storage), plan.threads);
    const bool streaming = with_gradient && streams_output(args.gradient, args.rows * classes) &&
                           (!native || plan.threads <= 1 || own_threads);
    double total = 0.0;
    // The threaded paths give every row its own slot and sum the rows' losses afterwards.
    bool slot_per_row = false;
    double* row_sums = nullptr;
    // Row `row`'s slot: its place in its group, in the group's half of the buffers.
    const auto slot = [&](std::int64_t row) {
        return slot_per_row ? row : ((row / group) & 1) * group + row % group;
    };

    // Classes in the chunk starting at class `begin` (the last one may be shorter).
    const auto chunk_size = [&](std::int64_t begin) {
        return classes - begin < long_row_chunk ? classes - begin : long_row_chunk;
    };

    // `exponentials`: where the row's e_j are kept between the phases (its gradient row, or
    // the float32 row of a 16-bit row).
    const auto first_phase = [&](std::int64_t row, std::int64_t chunk, Real* exponentials) {
        LongRowState<Real>& state = states[slot(row)];
        Real* values = chunk_values + slot(row) * 2 * chunks;
        const std::int64_t begin = chunk * long_row_chunk;
        const std::int64_t count = chunk_size(begin);
        const Storage* x = args.logits + row * args.logits_row_stride + begin;
        const std::int64_t label = args.labels[row];
        if (args.has_ignore_index && label == args.ignore_index) {
            if (with_gradient) zero_stored_row(args.gradient + row * classes + begin, count);
            return;
        }
        if (label >= begin && label < begin + count) state.label_logit = load_value(x[label - begin]);
        // The next chunk of this row, or the next row's first: where this thread most likely
        // reads next (the static schedule hands each thread consecutive chunks).
        const Storage* next = chunk + 1 < chunks ? x + count
                            : (row + 1 < args.rows ? args.logits + (row + 1) * args.logits_row_stride : nullptr);
        // The chunk's passes on `chunk_logits`: the row's own, or (widens_in_bulk, float16)
        // the chunk widened into float32 first, where its exponentials then go.
        const auto passes = [&](const auto* chunk_logits) {
            using Logits = std::remove_cv_t<std::remove_pointer_t<decltype(chunk_logits)>>;
            const Real maximum = row_maximum(chunk_logits, count);
            const bool finite = is_finite_value(maximum);
            const Real shift = finite ? maximum : Real(0);
            values[2 * chunk] = maximum;
            values[2 * chunk + 1] = shifted_exp_pass_prefetching<Logits, with_gradient>(
                chunk_logits, shift, finite, with_gradient ? exponentials + begin : nullptr, count, next);
        };
        if constexpr (widens_in_bulk<Storage>) {
            float widened[with_gradient ? 1 : long_row_chunk];
            float* chunk_logits = with_gradient ? exponentials + begin : widened;
            widen_values(x, chunk_logits, count);
            passes(static_cast<const float*>(chunk_logits));
        } else {
            passes(x);
        }
    };
    const auto combine = [&](std::int64_t row) {
        LongRowState<Real>& state = states[slot(row)];
        Real* values = chunk_values + slot(row) * 2 * chunks;
        state.label = args.labels[row];
        state.ignored = args.has_ignore_index && state.label == args.ignore_index;
        if (state.ignored) {
            if (args.row_losses != nullptr) args.row_losses[row] = store_value<Storage>(0.0);
            return;
        }
        Real maximum = -__builtin_huge_valf();
        for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
            const Real m = values[2 * chunk];
            maximum = m > maximum ? m : maximum;
        }
        const Real shift = is_finite_value(maximum) ? maximum : Real(0);
        Real sum = 0;
        for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
            // The chunk was shifted by its max when finite, else by 0 (a chunk of -inf does
            // not raise M).
            const Real chunk_maximum = values[2 * chunk];
            const Real chunk_shift = is_finite_value(chunk_maximum) ? chunk_maximum : Real(0);
            const Real part = values[2 * chunk + 1];
            const Real factor = exp_value(chunk_shift - shift);
            values[2 * chunk + 1] = factor;  // for phase 2
            // An empty sum (a chunk of -inf) adds 0 even where its factor overflows.
            sum += part == Real(0) ? Real(0) : part * factor;
        }
        const double weight = row_weight(args, row, state.label);
        state.row_scale = static_cast<Real>(weight * args.gradient_scale);
        state.sum = sum;
        const double weighted_loss = weight * label_loss(log_scalar(sum), state.label_logit, shift);
        if (args.row_losses != nullptr) args.row_losses[row] = store_value<Storage>(weighted_loss);
        if (row_sums != nullptr) {
            row_sums[row] = weighted_loss;
        } else {
            total += weighted_loss;
        }
    };
    const auto second_phase = [&](std::int64_t row, std::int64_t chunk, const Real* exponentials) {
        const LongRowState<Real>& state = states[slot(row)];
        if (state.ignored) return;
        const Real* values = chunk_values + slot(row) * 2 * chunks;
        const std::int64_t begin = chunk * long_row_chunk;
        const std::int64_t count = chunk_size(begin);
        Storage* gradient = args.gradient + row * classes + begin;
        const Real factor = state.row_scale / state.sum * values[2 * chunk + 1];
        const bool has_label = state.label >= begin && state.label < begin + count;
        if constexpr (native) {
            if (!streaming) {
                scale_row(gradient, factor, count);
                if (has_label) gradient[state.label - begin] -= state.row_scale;
                return;
            }
        }
        // As the float32 kernel's scale and label subtraction, then rounded once (16-bit).
        const Real* e = exponentials + begin;
        if (has_label) {
            store_tile_with_entry(e, factor, gradient, count, streaming, state.label - begin,
                                  store_value<Storage>(e[state.label - begin] * factor - state.row_scale));
        } else {
            store_tile(e, factor, gradient, count, streaming);
        }
    };
    // A whole row on this thread: phase 1 of its chunks, the combination, phase 2. Null
    // `exponentials` for a 16-bit row whose float32 row could not be allocated.
    const auto whole_row = [&](std::int64_t row, Real* exponentials) {
        for (std::int64_t chunk = 0; chunk < chunks; ++chunk) first_phase(row, chunk, exponentials);
        combine(row);
        if (with_gradient) {
            for (std::int64_t chunk = 0; chunk < chunks; ++chunk) second_phase(row, chunk, exponentials);
        }
    };
    // The float32 row of a 16-bit row's exponentials (the calling thread's scratch), or the
    // row's gradient itself.
    const auto exponentials_of = [&](std::int64_t row) -> Real* {
        if constexpr (native) {
            if (!with_gradient) return nullptr;
            Real* gradient_row = args.gradient + row * classes;
            if (!streaming) return gradient_row;
            // (the calling thread's second scratch: a staged 16-bit kernel may run this on
            // tiles held in the first)
            Real* row_exponentials = reinterpret_cast<Real*>(thread_scratch_memory(
                static_cast<std::size_t>(classes) * sizeof(Real), streamed_row_scratch));
            return row_exponentials != nullptr ? row_exponentials : gradient_row;
        } else {
            if (!with_gradient) return nullptr;
            Real* row_exponentials = reinterpret_cast<Real*>(
                thread_scratch_memory(static_cast<std::size_t>(classes) * sizeof(Real)));
            if (row_exponentials == nullptr && plan.allocation_failed != nullptr) *plan.allocation_failed = 1;
            return row_exponentials;
        }
    };

    // (16-bit rows never share chunks between threads: their float32 rows are per thread.)
    if (plan.threads > 1 && (native || own_threads)) {
        const std::int64_t rows = args.rows;
        const std::int64_t groups = (rows + group - 1) / group;
        // Per row: its state, 2 values per chunk, its weighted loss; per group: its phase-1
        // slices not yet finished and whether its rows are combined.
        const std::size_t bytes = static_cast<std::size_t>(rows) * sizeof(LongRowState<Real>) +
                                  static_cast<std::size_t>(rows * 2 * chunks) * sizeof(Real) +
                                  static_cast<std::size_t>(rows) * sizeof(double) +
                                  static_cast<std::size_t>(groups) * (sizeof(std::int64_t) + sizeof(int));
        void* memory = std::malloc(bytes);
        if (memory != nullptr) {  // else: the serial path below
            auto* row_states = static_cast<LongRowState<Real>*>(memory);
            auto* row_values = reinterpret_cast<Real*>(row_states + rows);
            row_sums = reinterpret_cast<double*>(row_values + rows * 2 * chunks);
            auto* pending = reinterpret_cast<std::int64_t*>(row_sums + rows);
            auto* combined = reinterpret_cast<int*>(pending + groups);
            const auto group_rows = [&](std::int64_t g) { return rows - g * group < group ? rows - g * group : group; };
            for (std::int64_t row = 0; row < rows; ++row) row_sums[row] = 0.0;
            for (std::int64_t g = 0; g < groups; ++g) combined[g] = 0;
            states = row_states;
            chunk_values = row_values;
            slot_per_row = true;
            if (own_threads) {
                run_parallel_tasks(rows, plan.threads, [&](std::int64_t row) {
                    Real* exponentials = exponentials_of(row);
                    if (native || !with_gradient || exponentials != nullptr) whole_row(row, exponentials);
                });
            } else {
                if constexpr (native) {
                    // Claim order: per group, its chunks in `slices` contiguous slices (one per
                    // thread, as OpenMP's static schedule split them): phase 1 of each slice,
                    // then phase 2 of each. The thread whose phase-1 slice finishes last
                    // combines the group's rows; a phase-2 slice waits for that (only for
                    // threads that hold a claimed slice: running ones). A thread that took
                    // phase-1 slice k usually takes phase-2 slice k too, so phase 2 finds its
                    // chunks in that core's cache, as with the static schedule.
                    const std::int64_t slices = plan.threads < group * chunks ? plan.threads : group * chunks;
                    const std::int64_t per_group = with_gradient ? 2 * slices : slices;
                    const std::int64_t tasks = groups * per_group;
                    for (std::int64_t g = 0; g < groups; ++g) pending[g] = slices;
                    const auto run = [&](std::int64_t task) {
                        const std::int64_t g = task / per_group;
                        const std::int64_t phase = (task % per_group) / slices;
                        const std::int64_t slice = task % slices;
                        const std::int64_t work = group_rows(g) * chunks;
                        const std::int64_t first_unit = slice * work / slices;
                        const std::int64_t end_unit = (slice + 1) * work / slices;
                        const std::int64_t first_row = g * group;
                        if (phase == 0) {
                            for (std::int64_t unit = first_unit; unit < end_unit; ++unit) {
                                const std::int64_t row = first_row + unit / chunks;
                                first_phase(row, unit % chunks, exponentials_of(row));
                            }
                            if (decrement_shared(&pending[g]) == 0) {
                                for (std::int64_t row = first_row; row < first_row + group_rows(g); ++row) combine(row);
                                publish_flag(&combined[g]);
                            }
                            return;
                        }
                        std::int64_t attempt = 0;
                        while (!flag_published(&combined[g])) wait_for_task(attempt);
                        for (std::int64_t unit = first_unit; unit < end_unit; ++unit) {
                            const std::int64_t row = first_row + unit / chunks;
                            second_phase(row, unit % chunks, exponentials_of(row));
                        }
                    };
                    run_parallel_tasks(tasks, plan.threads, run);
                }
            }
            for (std::int64_t row = 0; row < rows; ++row) total += row_sums[row];
            std::free(memory);
            return total;
        }
    }
    for (std::int64_t row = 0; row < args.rows; ++row) {
        Real* exponentials = exponentials_of(row);
        if (!native && with_gradient && exponentials == nullptr) return 0.0;
        whole_row(row, exponentials);
    }
    IsaTraits::store_fence();
    return total;
}

// C >= long_row_classes: the chunked long-row path, with its per-row-slot buffers (state, and
// per chunk its max and its sum). Returns false, computing nothing, when they cannot be
// allocated: the row path then runs.
template <class Storage>
bool softmax_cross_entropy_long_rows_if_memory(const ClassificationArgs<Storage>& args,
                                               const ReductionPlan& plan, double* total) {
    using Real = compute_type<Storage>;
    const std::int64_t chunks = (args.classes + long_row_chunk - 1) / long_row_chunk;
    const std::int64_t group = long_row_group(args.rows, args.classes, plan.threads);
    auto* states = static_cast<LongRowState<Real>*>(
        std::malloc(static_cast<std::size_t>(2 * group) * sizeof(LongRowState<Real>)));
    auto* chunk_values = static_cast<Real*>(
        std::malloc(static_cast<std::size_t>(4 * group * chunks) * sizeof(Real)));
    const bool allocated = states != nullptr && chunk_values != nullptr;
    if (allocated) {
        *total = args.gradient != nullptr
            ? softmax_cross_entropy_long_rows<Storage, true>(args, plan, group, states, chunk_values)
            : softmax_cross_entropy_long_rows<Storage, false>(args, plan, group, states, chunk_values);
    }
    std::free(states);
    std::free(chunk_values);
    return allocated;
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
