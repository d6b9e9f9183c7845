// The loop structure shared by every kernel: the batch is cut into the blocks of the
// ReductionPlan; the work pool (fusedloss/work_pool.hpp) hands whole blocks to whichever
// thread is running -- the caller included -- one work-claiming pass per call; each block's
// losses are summed sequentially in float64 and the block sums are added in block order
// afterwards. The result is therefore the same bits for any thread count and any schedule.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// A task's streaming stores (low_precision.inl, streams_output) are not ordered with its
// thread's other stores: fenced before the pool counts the task as done (and before a serial
// kernel returns, in sum_over_blocks and the long rows).
template <class Function>
void call_task(void* function, std::int64_t task) {
    (*static_cast<const Function*>(function))(task);
    IsaTraits::store_fence();
}

// function(task) for every task in [0, tasks), claimed by up to `threads` threads (see
// run_tasks: a task may wait only for earlier-claimed tasks).
template <class Function>
void run_parallel_tasks(std::int64_t tasks, int threads, const Function& function) {
    run_tasks(tasks, threads, &call_task<Function>, const_cast<Function*>(&function));
}

// Waiting for a claimed task of another thread (the pool's backoff: a pause, later a yield).
FUSEDLOSS_ALWAYS_INLINE void wait_for_task(std::int64_t& attempt) { pause_waiting(attempt++); }

// Atomics on plain integers shared by the tasks of one call (builtins, not std::atomic's inline
// functions: nothing is shared between units compiled with different flags).
#if defined(_MSC_VER) && !defined(__clang__)
FUSEDLOSS_ALWAYS_INLINE std::int64_t decrement_shared(std::int64_t* value) {
    return _InterlockedDecrement64(reinterpret_cast<volatile long long*>(value));
}
FUSEDLOSS_ALWAYS_INLINE void publish_flag(int* flag) { _InterlockedExchange(reinterpret_cast<volatile long*>(flag), 1); }
FUSEDLOSS_ALWAYS_INLINE bool flag_published(const int* flag) {
    return *reinterpret_cast<const volatile long*>(flag) != 0;  // /volatile:ms reads acquire
}
#else
FUSEDLOSS_ALWAYS_INLINE std::int64_t decrement_shared(std::int64_t* value) {
    return __atomic_sub_fetch(value, 1, __ATOMIC_ACQ_REL);
}
FUSEDLOSS_ALWAYS_INLINE void publish_flag(int* flag) { __atomic_store_n(flag, 1, __ATOMIC_RELEASE); }
FUSEDLOSS_ALWAYS_INLINE bool flag_published(const int* flag) { return __atomic_load_n(flag, __ATOMIC_ACQUIRE) != 0; }
#endif

// block_loss(first_row, end_row) returns the float64 sum of that range's weighted losses.
template <class BlockLoss>
double sum_over_blocks(std::int64_t rows, const ReductionPlan& plan, const BlockLoss& block_loss) {
    const std::int64_t blocks = plan.blocks;
    double* block_sums = plan.block_sums;
    const auto run_block = [&](std::int64_t block) {
        const std::int64_t first = block * plan.rows_per_block;
        const std::int64_t end =
            rows - first < plan.rows_per_block ? rows : first + plan.rows_per_block;
        block_sums[block] = block_loss(first, end);
    };
    if (plan.threads <= 1) {
        // No parallel region at all (not even an if(false) one): small calls stay cheap.
        for (std::int64_t block = 0; block < blocks; ++block) run_block(block);
        IsaTraits::store_fence();
    } else {
        run_parallel_tasks(blocks, plan.threads, run_block);
    }
    double total = 0.0;
    for (std::int64_t block = 0; block < blocks; ++block) total += block_sums[block];
    return total;
}

// Weight of a classification row: sample_weight[row] * class_weight[label].
template <class Real>
FUSEDLOSS_ALWAYS_INLINE double row_weight(const ClassificationArgs<Real>& args, std::int64_t row,
                                          std::int64_t label) {
    double weight = 1.0;
    if (args.sample_weight != nullptr) weight *= args.sample_weight[row];
    if (args.class_weight != nullptr) weight *= args.class_weight[label];
    return weight;
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
