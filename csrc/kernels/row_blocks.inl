// The loop structure shared by every kernel: the batch is cut into the blocks of the
// ReductionPlan; OpenMP hands whole blocks to threads; each block's losses are summed
// sequentially in float64 and the block sums are added in block order afterwards. The result
// is therefore the same bits for any thread count.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

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
    } else {
#if defined(FUSEDLOSS_HAVE_OPENMP)
#pragma omp parallel for schedule(static) num_threads(plan.threads)
#endif
        for (std::int64_t block = 0; block < blocks; ++block) run_block(block);
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
