// The loop driver of the row-wise losses of the registry (classification_losses.inl). A loss
// is a small policy holding its per-row maths and nothing else:
//
//   template <class Real> struct SomeRowLoss : RowLossPolicy {
//       static constexpr bool takes_labels = true;     // or false: a float row of targets
//       explicit SomeRowLoss(const double* parameters); // its constants (gamma, 1/T, ...)
//       // The row's loss before any weight, as a double. With a gradient, writes
//       // gradient_factor * d loss / dx_j into `gradient` (which may be the input row itself:
//       // a policy reads x_j before it writes g_j).
//       template <bool with_gradient>
//       double row(const RowInput<Real>& row, Real* gradient, double gradient_factor) const;
//       // factor * d2 loss / dx_j2 into `hessian` (aliases nothing).
//       void hessian_row(const RowInput<Real>& row, Real* hessian, double factor) const;
//   };
//
// The driver owns the rest, once for every loss: the blocks of the deterministic float64
// reduction and the threads that run them, ignored rows (loss 0, gradient 0), the row weight
// (sample_weight[i] * weight[y_i]) and its product with the reduction's factor, the stores of
// per-row losses. The Hessian row is computed just before the loss row of the same row (still
// in cache), so the loss and gradient are the same code, and bits, with or without it.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// One row as a policy sees it: the input row, the next input row (null for the last: the
// policies prefetch it while they work on this one, see shifted_exp_pass_prefetching), and
// the row's label or its row of targets (with the next one).
template <class Real>
struct RowInput {
    const Real* x;
    const Real* next_x;
    std::int64_t label;
    const Real* target;
    const Real* next_target;
    std::int64_t classes;
    // With a gradient and needs_scratch_row: a row of `classes` values the policy may use
    // (malloc'ed once per block by the driver), or null where that allocation failed (the
    // policy then recomputes what it would have kept there).
    Real* scratch;
    // The gradient is written with streaming stores (low_precision.inl, streams_output): a
    // policy that stores its gradient rows from a tile (store_tile) passes this on.
    bool gradient_streams;
    // With gradient_streams, for a policy that stages_streamed_rows: a row of `classes` values
    // in cache (the thread's), from which it streams its gradient row out; or null where that
    // could not be allocated (the policy then stores as usual).
    Real* stream_row;
};

struct RowLossPolicy {
    static constexpr bool takes_labels = true;
    static constexpr bool needs_scratch_row = false;
    // A policy that, where the gradient streams (RowInput::gradient_streams), keeps its row's
    // values in RowInput::stream_row rather than in the gradient row and streams the gradient
    // out from there (the label-softmax rows: their e_j, scaled in place otherwise). (Not KL:
    // its rows are bound by their two exps, and streaming gained nothing there, 0.995x the
    // time at 1024 x 32000 float32, for the extra pass over the row.)
    static constexpr bool stages_streamed_rows = false;
    // A policy whose row() takes 16-bit rows itself (a template on the row's storage type,
    // computing in float32: the hinge): its 16-bit kernels run the driver on the 16-bit arrays
    // (C above the small-C tiles, no Hessian; float16 where the ISA has F16C for the gradient's
    // tiles). Any other runs the float32 kernel on staged tiles (low_precision.inl).
    static constexpr bool reads_16bit = false;
    // A policy with small-C tiles (tile<with_gradient>(const RowTile<Real>&, double* losses)):
    // used for C <= tile_class_limit, where per-row SIMD loops of C elements are all remainder
    // (C = 10 float32 rows ran scalar: 150 ns a row against 16 ns at C = 16).
    static constexpr bool has_small_class_tile = false;
    // The largest C its tiles take (<= small_class_limit, row_softmax.inl): the C up to which
    // they were measured faster than its rows.
    static constexpr std::int64_t tile_class_limit = 16;
    // A tile policy that weighs, stores and sums its rows' losses itself (RowTile::sum).
    static constexpr bool sums_tiles = false;
};

// Up to small_class_tile rows of few classes, as a tile policy sees them. The policy writes the
// unweighted loss of every row that is not ignored into losses[r] and, with a gradient, its
// gradient row times gradient_factor[r]; the driver then zeroes the ignored rows.
template <class Real>
struct RowTile {
    std::int64_t rows;
    std::int64_t classes;
    const Real* x;                    // row r at x + r * x_row_stride
    std::int64_t x_row_stride;
    const std::int64_t* labels;       // the tile's labels, or null
    const Real* targets;              // row r at targets + r * targets_row_stride, or null
    std::int64_t targets_row_stride;
    const bool* ignored;              // per row
    const double* gradient_factor;    // per row: weight * the reduction's factor
    Real* gradient;                   // the tile's gradient rows (C-contiguous), or null
    // For a policy that sums_tiles (else null): per row its weight (1 unweighted), the
    // tile's per-row losses (or null), and the block's running float64 sum. Such a policy,
    // for each row that is not ignored and in row order, multiplies its loss by weight[r],
    // stores that in row_losses[r] (as Real) and adds it to *sum -- where it computes the row
    // -- instead of writing losses[r]: the driver's sum, the same bits. A loop of 128
    // dependent additions after the tile had left their latency exposed (softmax-CE at
    // 65536 x 3: +25 % with "mean", +60 % with "none").
    const double* weight;
    Real* row_losses;
    double* sum;
};

template <class Loss, class Real, bool with_gradient>
double row_loss_tiles(const Loss& loss, const RowLossArgs<Real>& args, std::int64_t first,
                      std::int64_t end) {
    const std::int64_t classes = args.classes;
    const bool with_hessian = with_gradient && args.hessian != nullptr;
    bool ignored[small_class_tile];
    double weight[small_class_tile];
    double gradient_factor[small_class_tile];
    double losses[small_class_tile];
    // Unweighted (the common case), the rows' factors are set once per block; an ignore_index
    // (softmax-CE's default -100 is always set) costs one vectorised compare per tile, and the
    // tiles without an ignored row take the short sum below. (A per-row setup loop for every
    // call with an ignore_index made softmax-CE's tiles 20-60 % slower at C = 3-16.)
    const bool weighted = args.sample_weight != nullptr || args.class_weight != nullptr;
    const bool may_ignore = Loss::takes_labels && args.has_ignore_index;
    if (!weighted) {
        for (std::int64_t r = 0; r < small_class_tile; ++r) {
            ignored[r] = false;
            weight[r] = 1.0;
            gradient_factor[r] = args.gradient_scale;
        }
    }
    double block_sum = 0.0;
    for (std::int64_t tile_first = first; tile_first < end; tile_first += small_class_tile) {
        const std::int64_t rows = end - tile_first < small_class_tile ? end - tile_first : small_class_tile;
        RowTile<Real> tile{};
        tile.rows = rows;
        tile.classes = classes;
        tile.x = args.input + tile_first * args.input_row_stride;
        tile.x_row_stride = args.input_row_stride;
        tile.ignored = ignored;
        tile.gradient_factor = gradient_factor;
        tile.gradient = with_gradient ? args.gradient + tile_first * classes : nullptr;
        if constexpr (Loss::takes_labels) {
            tile.labels = args.labels + tile_first;
        } else {
            tile.targets = args.targets + tile_first * args.targets_row_stride;
            tile.targets_row_stride = args.targets_row_stride;
        }
        bool any_ignored = false;
        if (!weighted) {
            // The rows' factors were set once, before the tiles.
            if (may_ignore) {
                const std::int64_t* labels = args.labels + tile_first;
                const std::int64_t ignore_index = args.ignore_index;
                for (std::int64_t r = 0; r < rows; ++r) {
                    const bool ignore = labels[r] == ignore_index;
                    ignored[r] = ignore;
                    any_ignored = any_ignored || ignore;
                }
            }
        } else {
            for (std::int64_t r = 0; r < rows; ++r) {
                const std::int64_t row = tile_first + r;
                double row_weight = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
                ignored[r] = false;
                if constexpr (Loss::takes_labels) {
                    const std::int64_t label = args.labels[row];
                    ignored[r] = args.has_ignore_index && label == args.ignore_index;
                    if (!ignored[r] && args.class_weight != nullptr) row_weight *= args.class_weight[label];
                }
                weight[r] = row_weight;
                gradient_factor[r] = row_weight * args.gradient_scale;
                any_ignored = any_ignored || ignored[r];
            }
        }
        if (with_hessian) {
            // Before the tile, which may overwrite the input with the gradient (out=input).
            for (std::int64_t r = 0; r < rows; ++r) {
                Real* hessian = args.hessian + (tile_first + r) * classes;
                if (ignored[r]) {
                    zero_row(hessian, classes);
                    continue;
                }
                RowInput<Real> input{};
                input.classes = classes;
                input.x = tile.x + r * args.input_row_stride;
                if constexpr (Loss::takes_labels) {
                    input.label = tile.labels[r];
                } else {
                    input.target = tile.targets + r * args.targets_row_stride;
                }
                loss.hessian_row(input, hessian, gradient_factor[r]);
            }
        }
        if constexpr (Loss::sums_tiles) {
            tile.weight = weight;
            tile.row_losses = args.row_losses != nullptr ? args.row_losses + tile_first : nullptr;
            tile.sum = &block_sum;
            loss.template tile<with_gradient>(tile, losses);
            if (any_ignored) {
                for (std::int64_t r = 0; r < rows; ++r) {
                    if (!ignored[r]) continue;
                    if (with_gradient) zero_row(tile.gradient + r * classes, classes);
                    if (args.row_losses != nullptr) args.row_losses[tile_first + r] = Real(0);
                }
            }
            continue;
        }
        loss.template tile<with_gradient>(tile, losses);
        if (!weighted && !any_ignored && args.row_losses == nullptr) {
            for (std::int64_t r = 0; r < rows; ++r) block_sum += losses[r];  // (weight 1: exact)
            continue;
        }
        for (std::int64_t r = 0; r < rows; ++r) {
            const std::int64_t row = tile_first + r;
            if (ignored[r]) {
                if (with_gradient) zero_row(tile.gradient + r * classes, classes);
                if (args.row_losses != nullptr) args.row_losses[row] = Real(0);
                continue;
            }
            const double weighted_loss = weight[r] * losses[r];
            if (args.row_losses != nullptr) args.row_losses[row] = static_cast<Real>(weighted_loss);
            block_sum += weighted_loss;
        }
    }
    return block_sum;
}

// (Storage: the arrays' type; a 16-bit one only for a policy that reads_16bit, never with
// small-C tiles or a Hessian: row_loss_16bit routes those to the staged kernel.)
template <class Loss, class Storage, bool with_gradient>
double row_loss_block(const Loss& loss, const RowLossArgs<Storage>& args, std::int64_t first,
                      std::int64_t end) {
    constexpr bool native_type = std::is_same<Storage, compute_type<Storage>>::value;
    const std::int64_t classes = args.classes;
    if constexpr (Loss::has_small_class_tile && native_type) {
        static_assert(Loss::tile_class_limit <= small_class_limit, "a tile holds at most small_class_limit classes");
        if (classes <= Loss::tile_class_limit) return row_loss_tiles<Loss, Storage, with_gradient>(loss, args, first, end);
    }
    const bool with_hessian = native_type && with_gradient && args.hessian != nullptr;
    // (malloc, an extern "C" function: no inline std code in a unit compiled per ISA)
    Storage* scratch = with_gradient && Loss::needs_scratch_row
                        ? static_cast<Storage*>(std::malloc(static_cast<std::size_t>(classes) * sizeof(Storage)))
                        : nullptr;
    const bool streaming = with_gradient && streams_output(args.gradient, args.rows * classes);
    Storage* stream_row = nullptr;
    if constexpr (Loss::stages_streamed_rows) {
        if (streaming) {
            stream_row = reinterpret_cast<Storage*>(thread_scratch_memory(
                static_cast<std::size_t>(classes) * sizeof(Storage), streamed_row_scratch));
        }
    }
    double block_sum = 0.0;
    for (std::int64_t row = first; row < end; ++row) {
        RowInput<Storage> input{};
        input.classes = classes;
        input.scratch = scratch;
        input.gradient_streams = streaming;
        input.stream_row = stream_row;
        input.x = args.input + row * args.input_row_stride;
        input.next_x = row + 1 < args.rows ? input.x + args.input_row_stride : nullptr;
        Storage* gradient = with_gradient ? args.gradient + row * classes : nullptr;
        double weight = args.sample_weight != nullptr ? args.sample_weight[row] : 1.0;
        if constexpr (Loss::takes_labels) {
            input.label = args.labels[row];
            if (args.has_ignore_index && input.label == args.ignore_index) {
                if (with_gradient) zero_stored_row(gradient, classes);
                if (with_hessian) zero_stored_row(args.hessian + row * classes, classes);
                if (args.row_losses != nullptr) args.row_losses[row] = store_value<Storage>(0.0);
                continue;
            }
            if (args.class_weight != nullptr) weight *= args.class_weight[input.label];
        } else {
            input.target = args.targets + row * args.targets_row_stride;
            input.next_target = row + 1 < args.rows ? input.target + args.targets_row_stride : nullptr;
        }
        const double gradient_factor = weight * args.gradient_scale;
        if constexpr (native_type) {
            if (with_hessian) loss.hessian_row(input, args.hessian + row * classes, gradient_factor);
        }
        const double weighted_loss =
            weight * loss.template row<with_gradient>(input, gradient, gradient_factor);
        if (args.row_losses != nullptr) args.row_losses[row] = store_value<Storage>(weighted_loss);
        block_sum += weighted_loss;
    }
    std::free(scratch);
    if (stream_row != nullptr) release_large_thread_scratch(streamed_row_scratch);
    return block_sum;
}

// The kernel of one loss: the float64 sum of its weighted row losses, in the plan's fixed order.
template <template <class> class LossPolicy, class Storage>
double row_loss(const RowLossArgs<Storage>& args, const ReductionPlan& plan) {
    using Loss = LossPolicy<compute_type<Storage>>;
    const Loss loss(args.parameters);
    if (args.gradient != nullptr) {
        return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
            return row_loss_block<Loss, Storage, true>(loss, args, first, end);
        });
    }
    return sum_over_blocks(args.rows, plan, [&](std::int64_t first, std::int64_t end) {
        return row_loss_block<Loss, Storage, false>(loss, args, first, end);
    });
}

// The 16-bit kernel of a loss: the driver on the 16-bit arrays where the policy reads them
// (reads_16bit, C above the small-C tiles, no Hessian; float16 only where the ISA rounds its
// gradient tiles with F16C), else the float32 kernel on staged tiles. Why native: a staged
// tile is widened from memory, computed, then rounded to memory, three passes one after the
// other; the driver's row loop overlaps its reads with the row's arithmetic (float16 hinge,
// 1024 x 32000, one thread: 14.9 ms staged, the float32 call 8.4 ms).
template <template <class> class LossPolicy, class Storage>
double row_loss_16bit(const RowLossArgs<Storage>& args, const ReductionPlan& plan) {
    constexpr bool native = LossPolicy<float>::reads_16bit &&
                            (std::is_same<Storage, bfloat16_bits>::value || IsaTraits::has_f16c);
    if constexpr (native) {
        if (args.classes > LossPolicy<float>::tile_class_limit && args.hessian == nullptr) {
            return row_loss<LossPolicy, Storage>(args, plan);
        }
    }
    return staged_kernel<RowLossArgs, Storage, &row_loss<LossPolicy, float>>(args, plan);
}

// The table entry of one loss (classification_losses.inl lists them).
template <template <class> class LossPolicy>
constexpr RowLossEntry row_loss_entry(const char* name) {
    return RowLossEntry{name,
                        KernelsByType<RowLossKernel>{&row_loss<LossPolicy, float>,
                                                     &row_loss<LossPolicy, double>,
                                                     &row_loss_16bit<LossPolicy, bfloat16_bits>,
                                                     &row_loss_16bit<LossPolicy, float16_bits>},
                        LossPolicy<double>::takes_labels ? 1 : 0};
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
