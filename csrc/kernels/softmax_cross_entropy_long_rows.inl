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
// Threads (one work-claiming pass per call, no barrier that waits for a thread that has not
// started): the rows are taken in groups (enough chunks for every thread), each group's chunks
// in one contiguous slice per thread; the tasks are claimed in the order phase 1 of every slice
// of group 0, phase 2 of every slice of group 0, then group 1, ... The thread that finishes the
// last phase-1 slice of a group combines its rows; a phase-2 slice waits only for that combine,
// whose slices were all claimed before it -- every wait is for work a running thread holds,
// and a thread that never gets a CPU holds nothing up (the caller takes its slices). Each row
// has its own state then (the serial path alternates two groups' worth).
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

// states: 2 * group entries; chunk_values: 4 * group * chunks (per chunk: its max, and its sum
// then its factor). A chunk's shift is derived from its max, as on the row path.
template <class Real, bool with_gradient>
double softmax_cross_entropy_long_rows(const ClassificationArgs<Real>& args,
                                       const ReductionPlan& plan, std::int64_t group,
                                       LongRowState<Real>* states, Real* chunk_values) {
    const std::int64_t classes = args.classes;
    const std::int64_t chunks = (classes + long_row_chunk - 1) / long_row_chunk;
    double total = 0.0;
    // The threaded path gives every row its own slot and sums the rows' losses afterwards.
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

    const auto first_phase = [&](std::int64_t row, std::int64_t chunk) {
        LongRowState<Real>& state = states[slot(row)];
        Real* values = chunk_values + slot(row) * 2 * chunks;
        const std::int64_t begin = chunk * long_row_chunk;
        const std::int64_t count = chunk_size(begin);
        const Real* x = args.logits + row * args.logits_row_stride + begin;
        Real* gradient = with_gradient ? args.gradient + row * classes + begin : nullptr;
        const std::int64_t label = args.labels[row];
        if (args.has_ignore_index && label == args.ignore_index) {
            if (with_gradient) zero_row(gradient, count);
            return;
        }
        if (label >= begin && label < begin + count) state.label_logit = x[label - begin];
        const Real maximum = row_maximum(x, count);
        const bool finite = is_finite_value(maximum);
        const Real shift = finite ? maximum : Real(0);
        values[2 * chunk] = maximum;
        // The next chunk of this row, or the next row's first: where this thread most likely
        // reads next (the static schedule hands each thread consecutive chunks).
        const Real* next = chunk + 1 < chunks ? x + count
                         : (row + 1 < args.rows ? args.logits + (row + 1) * args.logits_row_stride : nullptr);
        values[2 * chunk + 1] = shifted_exp_pass_prefetching<Real, with_gradient>(x, shift, finite, gradient,
                                                                                  count, next);
    };
    const auto combine = [&](std::int64_t row) {
        LongRowState<Real>& state = states[slot(row)];
        Real* values = chunk_values + slot(row) * 2 * chunks;
        state.label = args.labels[row];
        state.ignored = args.has_ignore_index && state.label == args.ignore_index;
        if (state.ignored) {
            if (args.row_losses != nullptr) args.row_losses[row] = Real(0);
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
        if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
        if (row_sums != nullptr) {
            row_sums[row] = weighted_loss;
        } else {
            total += weighted_loss;
        }
    };
    const auto second_phase = [&](std::int64_t row, std::int64_t chunk) {
        const LongRowState<Real>& state = states[slot(row)];
        if (state.ignored) return;
        const Real* values = chunk_values + slot(row) * 2 * chunks;
        const std::int64_t begin = chunk * long_row_chunk;
        const std::int64_t count = chunk_size(begin);
        Real* gradient = args.gradient + row * classes + begin;
        scale_row(gradient, state.row_scale / state.sum * values[2 * chunk + 1], count);
        if (state.label >= begin && state.label < begin + count) gradient[state.label - begin] -= state.row_scale;
    };

    if (plan.threads > 1) {
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
            // Claim order: per group, its chunks in `slices` contiguous slices (one per thread, as
            // OpenMP's static schedule split them): phase 1 of each slice, then phase 2 of each.
            // The thread whose phase-1 slice finishes last combines the group's rows; a phase-2
            // slice waits for that (only for threads that hold a claimed slice: running ones).
            // A thread that took phase-1 slice k usually takes phase-2 slice k too, so phase 2
            // finds its chunks in that core's cache, as with the static schedule.
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
                        first_phase(first_row + unit / chunks, unit % chunks);
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
                    second_phase(first_row + unit / chunks, unit % chunks);
                }
            };
            run_parallel_tasks(tasks, plan.threads, run);
            for (std::int64_t row = 0; row < rows; ++row) total += row_sums[row];
            std::free(memory);
            return total;
        }
    }
    for (std::int64_t row = 0; row < args.rows; ++row) {
        for (std::int64_t chunk = 0; chunk < chunks; ++chunk) first_phase(row, chunk);
        combine(row);
        if (with_gradient) {
            for (std::int64_t chunk = 0; chunk < chunks; ++chunk) second_phase(row, chunk);
        }
    }
    return total;
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
