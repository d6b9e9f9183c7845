// The loop driver of every elementwise loss (regression_losses.inl). A loss is a small policy
// holding its maths and nothing else:
//
//   template <class Real> struct SomeLoss : PointwiseLoss {
//       explicit SomeLoss(const double* parameters);   // its constants (delta, quantile, ...)
//       double loss(Real x, Real t) const;             // per element, before any weight
//       Real gradient(Real x, Real t) const;           // d loss / dx, divided by gradient_unit
//       Real hessian(Real x, Real t) const;            // d2 loss / dx2, divided by hessian_unit
//       // with has_target_domain = true: bool target_in_domain(Real t) const and
//       // static const char* target_domain(const double* parameters) ("target >= 0")
//       // with has_element_weight = true: the driver multiplies each element's loss, gradient
//       // and Hessian by ElementwiseArgs::element_weight (the sigmoid losses' `weight`)
//       // with has_element_parameter = true: the same three with a third argument, the
//       // element's ElementwiseArgs::element_parameter (BCE's `pos_weight`)
//   };
//
// The driver owns the rest, once for every loss: the blocks of the deterministic reduction and
// the threads that run them, the runs of elements that share one sample weight, the float64
// sums, the stores of per-element losses, gradient and Hessian, the domain check, and the
// periodic element operands (weight, parameter) of the losses that declare them.
// The plan's "rows" are blocks of elements here (rows_per_block elements each), so that a 1-d
// array parallelises like a 2-d one. Losses are summed in float64 (a float32 sum of 10^7
// squares loses digits; the kernel is bound by memory, so the wider sum is free).

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// What a policy does not say, the driver assumes.
struct PointwiseLoss {
    // A constant factor of the gradient (Hessian), folded into the weight instead of being
    // applied per element: MSE's 2 d / n is d * (2 / n), so that 2 d cannot overflow in float32
    // where the scaled gradient does not.
    static constexpr double gradient_unit = 1.0;
    static constexpr double hessian_unit = 1.0;
    static constexpr bool has_target_domain = false;
    // An operand of the loss's own that multiplies each element (BCE's `weight` meaning). Only
    // a loss that declares it gets the weighted loops: the other losses' instantiations, and
    // their speed, are those of a driver without it.
    static constexpr bool has_element_weight = false;
    // A per-element parameter of the loss's own (BCE's `pos_weight`, periodic like the element
    // weight): a loss that declares it defines loss/gradient/hessian(x, t, parameter) beside
    // the two-argument ones (used where the call gives none).
    static constexpr bool has_element_parameter = false;
    // A loss whose maths starts with one costly function of x alone (the sigmoid losses'
    // e = exp(-|x|)) may declare prepares = true and define Real prepare(Real x) const: the
    // driver then computes it for a tile of elements in a loop of its own, and passes it as
    // the last argument of loss() and gradient() (not hessian()). Two loops instead of one
    // long dependent chain per element: the out-of-order core overlaps more of them (sigmoid
    // focal, 65536 float32 elements in cache: see docs/performance-notes.md, stop 28).
    static constexpr bool prepares = false;
    // A loss whose maths (exp, log, pow per element) costs more than its memory traffic. Its
    // bfloat16 calls run the float32 kernel on staged tiles, as float16 calls do, instead of a
    // third instantiation of the driver: the tile conversions run in cache beside the maths
    // (sigmoid focal, Poisson, Gamma, Tweedie: within 10 % of the native bfloat16 loops at 1e7
    // elements, and 0.6 MB less code per instruction set to compile).
    static constexpr bool compute_bound = false;
};

// The periodic per-element operands of a run [first, end): element k reads weight[k - first]
// and parameter[k - first] (pointers into their patterns, see elementwise_periodic_block).
// Which of them a run has is a compile-time fact: a loss that declares none keeps the loops,
// and the speed, of a driver without them.
template <class Storage, bool has_weight, bool has_parameter>
struct ElementOperands {
    static constexpr bool weighted = has_weight;
    static constexpr bool parameterised = has_parameter;
    const Storage* weight;
    const Storage* parameter;
    FUSEDLOSS_ALWAYS_INLINE ElementOperands advanced(std::int64_t offset) const {
        return ElementOperands{has_weight ? weight + offset : nullptr,
                               has_parameter ? parameter + offset : nullptr};
    }
};
template <class Storage>
using NoElementOperands = ElementOperands<Storage, false, false>;

// The policy's maths of element index (of the run) with its operands: the element parameter
// as the policy's third argument, the element weight times the result.
// (`prepared`: the policy's prepare(x) of the element where it declares one, else nothing.)
template <class Loss, class Operands, class Real, class... Prepared>
FUSEDLOSS_ALWAYS_INLINE double element_loss(const Loss& loss, Real x, Real t,
                                            const Operands& operands, std::int64_t index,
                                            Prepared... prepared) {
    double value;
    if constexpr (Operands::parameterised) {
        value = loss.loss(x, t, load_value(operands.parameter[index]), prepared...);
    } else {
        value = loss.loss(x, t, prepared...);
    }
    if constexpr (Operands::weighted) return static_cast<double>(load_value(operands.weight[index])) * value;
    return value;
}
template <class Loss, class Operands, class Real, class... Prepared>
FUSEDLOSS_ALWAYS_INLINE Real element_gradient(const Loss& loss, Real x, Real t,
                                              const Operands& operands, std::int64_t index,
                                              Prepared... prepared) {
    Real value;
    if constexpr (Operands::parameterised) {
        value = loss.gradient(x, t, load_value(operands.parameter[index]), prepared...);
    } else {
        value = loss.gradient(x, t, prepared...);
    }
    if constexpr (Operands::weighted) return load_value(operands.weight[index]) * value;
    return value;
}
template <class Loss, class Operands, class Real>
FUSEDLOSS_ALWAYS_INLINE Real element_hessian(const Loss& loss, Real x, Real t,
                                             const Operands& operands, std::int64_t index) {
    Real value;
    if constexpr (Operands::parameterised) {
        value = loss.hessian(x, t, load_value(operands.parameter[index]));
    } else {
        value = loss.hessian(x, t);
    }
    if constexpr (Operands::weighted) return load_value(operands.weight[index]) * value;
    return value;
}

// The elements of a tile of a loss that prepares (see PointwiseLoss::prepares), and the tile
// size: 2 KiB of prepared values on the stack, in L1 with the tile's inputs.
constexpr std::int64_t prepare_tile = 512;
template <class Loss, class Storage>
FUSEDLOSS_ALWAYS_INLINE void prepare_values(const Loss& loss, const Storage* prediction,
                                            std::int64_t first, std::int64_t end,
                                            compute_type<Storage>* prepared) {
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t k = first; k < end; ++k) prepared[k - first] = loss.prepare(load_value(prediction[k]));
}

// The loss loop of [first, end), in one SIMD loop. Its elements share `weight` (per_element
// false: returns the sum of their losses, which the caller multiplies by the weight), or
// element k has weights[k - first] (per_element: a 1-d pred with sample_weight, or the
// expanded weights of short samples, read as a third stream; returns the weighted sum).
// `prepared` (element k at prepared[k - first]) is read only for a loss that prepares.
// with_gradient and with_losses are compile-time: a run-time test here became a masked store
// per vector.
// `to_tile` (compile-time too: a run-time choice of store kept both loops, and the compiler
// vectorised the loss sum of one of them another way): the gradient's values go to
// tile[k - first] in compute_type instead, for the caller to round or stream in bulk (see
// elementwise_run).
template <class Loss, class Storage, bool with_gradient, bool with_losses, bool per_element,
          bool to_tile = false, class Operands>
FUSEDLOSS_ALWAYS_INLINE double elementwise_loop(const Loss& loss, const ElementwiseArgs<Storage>& args,
                                                std::int64_t first, std::int64_t end,
                                                double weight, const double* weights,
                                                const Operands& operands,
                                                const compute_type<Storage>* prepared,
                                                compute_type<Storage>* tile = nullptr) {
    using Real = compute_type<Storage>;
    const Storage* prediction = args.prediction;
    const Storage* target = args.target;
    Storage* gradient = args.gradient;
    Storage* element_losses = args.element_losses;
    const double gradient_scale = args.gradient_scale * Loss::gradient_unit;
    const Real gradient_factor = static_cast<Real>(weight * args.gradient_scale * Loss::gradient_unit);
    double sum = 0.0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t k = first; k < end; ++k) {
        const Real x = load_value(prediction[k]);
        const Real t = load_value(target[k]);
        double value;
        Real slope = Real(0);
        if constexpr (Loss::prepares) {
            value = element_loss(loss, x, t, operands, k - first, prepared[k - first]);
            if (with_gradient) slope = element_gradient(loss, x, t, operands, k - first, prepared[k - first]);
        } else {
            (void)prepared;
            value = element_loss(loss, x, t, operands, k - first);
            if (with_gradient) slope = element_gradient(loss, x, t, operands, k - first);
        }
        if constexpr (per_element) {
            const double element_weight = weights[k - first];
            sum += element_weight * value;
            if (with_gradient) {
                const Real scaled = static_cast<Real>(gradient_scale * element_weight) * slope;
                if constexpr (to_tile) {
                    tile[k - first] = scaled;
                } else {
                    gradient[k] = store_value<Storage>(scaled);
                }
            }
            if (with_losses) element_losses[k] = store_value<Storage>(element_weight * value);
        } else {
            (void)weights;
            (void)gradient_scale;
            sum += value;
            if (with_gradient) {
                if constexpr (to_tile) {
                    tile[k - first] = gradient_factor * slope;
                } else {
                    gradient[k] = store_value<Storage>(gradient_factor * slope);
                }
            }
            if (with_losses) element_losses[k] = store_value<Storage>(weight * value);
        }
    }
    return sum;
}

// The loss loop of [first, end) in tiles of prepare_tile elements, with or without a gradient,
// so that the loss is summed in the same pieces however the gradient is stored (a tile's SIMD
// sum is reduced at its end: one loop over the whole run would sum in another order). Returns
// weight * sum of the losses (per_element false), or the sum of the weighted losses.
// Out of line: elementwise_span runs each variant from two places, and inlined there they
// were two copies of every loss's loop (a quarter of each instruction set's code, for no
// measurable speed: a call per run or chunk of >= 64 elements).
// (The gradient is not streamed here, unlike the row kernels' (streams_output): with the
// tile's loop and its 2 KiB of streaming stores taking turns, the stores held up the next
// tile's reads. 3e7 float32 elements, one thread, streamed / stored: MSE 0.84, pinball 0.93,
// MAE 1.04, Huber 1.09, Poisson 1.13, smooth L1 1.25, BCE 1.27; bfloat16 MSE 0.95.)
// (Nor are 16-bit inputs prefetched in software ahead of the tile: the hardware prefetcher
// follows two sequential streams by itself. Hints two tiles ahead measured 1.00x on an Intel
// Xeon (stop 32) and cost on Zen 4: alternated in blocks, bfloat16 MSE 3e7 one thread 1.21x
// / 1.28x the time without them (two runs), 2.6e8 1.20x, float16 3e7 1.00x / 1.43x; two threads
// 3e7 1.18x, 2.6e8 1.09x.)
template <class Loss, class Storage, bool with_gradient, bool with_losses, bool per_element,
          class Operands>
FUSEDLOSS_NEVER_INLINE double elementwise_run(const Loss& loss, const ElementwiseArgs<Storage>& args,
                                              std::int64_t first, std::int64_t end,
                                              double weight, const double* weights,
                                              const Operands& operands) {
    using Real = compute_type<Storage>;
    double sum = 0.0;
    if constexpr (widens_in_bulk<Storage> && !Loss::prepares && !Operands::weighted && !Operands::parameterised) {
        // float16: the tile's inputs widened by F16C into float32 tiles in L1, the float32 loop
        // run on them, its gradient and per-element losses rounded by F16C from float32 tiles
        // (the integer widening of two inputs in the loop cost more than the rest of an MSE
        // element: 8192 x 32000, one thread, 145.6 ms against bfloat16's 97.4).
        float tile_prediction[prepare_tile];
        float tile_target[prepare_tile];
        float tile_gradient[with_gradient ? prepare_tile : 1];
        float tile_losses[with_losses ? prepare_tile : 1];
        ElementwiseArgs<float> widened{};
        widened.gradient_scale = args.gradient_scale;
        widened.prediction = tile_prediction;
        widened.target = tile_target;
        widened.element_losses = with_losses ? tile_losses : nullptr;
        for (std::int64_t tile = first; tile < end; tile += prepare_tile) {
            const std::int64_t count = end - tile < prepare_tile ? end - tile : prepare_tile;
            widen_values(args.prediction + tile, tile_prediction, count);
            widen_values(args.target + tile, tile_target, count);
            sum += elementwise_loop<Loss, float, with_gradient, with_losses, per_element, with_gradient>(
                loss, widened, 0, count, weight, per_element ? weights + (tile - first) : nullptr,
                NoElementOperands<float>{nullptr, nullptr}, nullptr, tile_gradient);
            if (with_gradient) store_tile(tile_gradient, 1.0f, args.gradient + tile, count);
            if (with_losses) store_tile(tile_losses, 1.0f, args.element_losses + tile, count);
        }
        return per_element ? sum : weight * sum;
    }
    // The gradient goes through a compute_type tile in L1 where the hardware rounds it (16-bit:
    // the integer rounding was most of a 16-bit MSE element's work in cache); a loss that
    // prepares computes the tile's prepared values first.
    constexpr bool may_tile_gradient = with_gradient && may_store_tiles_in_hardware<Storage>;
    bool gradient_tiles = false;
    if constexpr (may_tile_gradient) gradient_tiles = stores_tiles_in_hardware<Storage>();
    Real prepared[Loss::prepares ? prepare_tile : 1];
    Real tile_gradient[may_tile_gradient ? prepare_tile : 1];
    for (std::int64_t tile = first; tile < end; tile += prepare_tile) {
        const std::int64_t next = end - tile < prepare_tile ? end : tile + prepare_tile;
        if constexpr (Loss::prepares) prepare_values(loss, args.prediction, tile, next, prepared);
        const double* tile_weights = per_element ? weights + (tile - first) : nullptr;
        if constexpr (may_tile_gradient) {
            if (gradient_tiles) {
                sum += elementwise_loop<Loss, Storage, with_gradient, with_losses, per_element, true>(
                    loss, args, tile, next, weight, tile_weights, operands.advanced(tile - first), prepared,
                    tile_gradient);
                store_tile(tile_gradient, Real(1), args.gradient + tile, next - tile);
                continue;
            }
        }
        sum += elementwise_loop<Loss, Storage, with_gradient, with_losses, per_element>(
            loss, args, tile, next, weight, tile_weights, operands.advanced(tile - first), prepared);
    }
    return per_element ? sum : weight * sum;
}

// The Hessian of [first, end): a loop of its own, run only when it is asked for and before the
// loss loop of the same elements (still in cache), which may overwrite the prediction with the
// gradient (out=pred). The loss loop itself is the same code with or without a Hessian, so the
// loss and gradient are the same bits either way. Out of line: one copy per loss, dtype and
// operands, not one per variant of the loss loop that calls it.
template <class Loss, class Storage, class Operands>
FUSEDLOSS_NEVER_INLINE void elementwise_hessian(const Loss& loss, const ElementwiseArgs<Storage>& args,
                                                 std::int64_t first, std::int64_t end,
                                                 const double* weights, double weight,
                                                 const Operands& operands) {
    using Real = compute_type<Storage>;
    const Storage* prediction = args.prediction;
    const Storage* target = args.target;
    Storage* hessian = args.hessian;
    const double scale = args.gradient_scale * Loss::hessian_unit;
    if (weights != nullptr) {  // weights[k - first] for element k
        FUSEDLOSS_SIMD_LOOP
        for (std::int64_t k = first; k < end; ++k) {
            hessian[k] = store_value<Storage>(
                static_cast<Real>(scale * weights[k - first]) *
                element_hessian(loss, load_value(prediction[k]), load_value(target[k]), operands, k - first));
        }
        return;
    }
    const Real factor = static_cast<Real>(weight * scale);
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t k = first; k < end; ++k) {
        hessian[k] = store_value<Storage>(
            factor * element_hessian(loss, load_value(prediction[k]), load_value(target[k]), operands, k - first));
    }
}

// True when every target of [first, end) lies in the loss's domain (one OR-reduced SIMD pass;
// the block's targets are then in cache for the loss loop). Out of line, as the Hessian loop.
template <class Loss, class Storage>
FUSEDLOSS_NEVER_INLINE bool targets_in_domain(const Loss& loss, const Storage* target,
                                               std::int64_t first, std::int64_t end) {
    int outside = 0;
    FUSEDLOSS_SIMD_OR(outside)
    for (std::int64_t k = first; k < end; ++k) outside |= loss.target_in_domain(load_value(target[k])) ? 0 : 1;
    return outside == 0;
}

// Samples shorter than this many elements are weighted per element (see elementwise_span), in
// chunks of short_sample_chunk elements (their weights on the stack).
constexpr std::int64_t short_sample_limit = 64;
constexpr std::int64_t short_sample_chunk = 1024;

// The sample weights of elements [first, first + count) into `tile` (count <= the chunk).
// Each sample's run is written eight entries at a time (one or two vector stores): the up to
// seven entries past a run are overwritten by the next run, the last run's by nobody (the tile
// has room for them), so a sample of 10 is two groups of stores instead of ten element
// iterations with a test each (BCE at 65536 x 10 with sample weights: -17 %).
FUSEDLOSS_ALWAYS_INLINE void expand_sample_weights(const double* sample_weight,
                                                   std::int64_t sample_size, std::int64_t first,
                                                   std::int64_t count, double* tile) {
    std::int64_t sample = first / sample_size;
    std::int64_t run = sample_size - (first - sample * sample_size);
    std::int64_t position = 0;
    while (position < count) {
        if (run > count - position) run = count - position;
        const double value = sample_weight[sample];
        double* destination = tile + position;
        for (std::int64_t j = 0; j < run; j += 8) {
            destination[j] = value;
            destination[j + 1] = value;
            destination[j + 2] = value;
            destination[j + 3] = value;
            destination[j + 4] = value;
            destination[j + 5] = value;
            destination[j + 6] = value;
            destination[j + 7] = value;
        }
        position += run;
        ++sample;
        run = sample_size;
    }
}

// The elements [first, end) of a block, split into the runs that share one sample weight;
// element k's operands are at operands' pointers + (k - first).
template <class Loss, class Storage, bool with_gradient, bool with_losses, class Operands>
FUSEDLOSS_ALWAYS_INLINE double elementwise_span(const Loss& loss, const ElementwiseArgs<Storage>& args,
                                                std::int64_t first, std::int64_t end,
                                                const Operands& operands) {
    const bool with_hessian = with_gradient && args.hessian != nullptr;
    if (args.sample_weight == nullptr) {
        if (with_hessian) elementwise_hessian(loss, args, first, end, nullptr, 1.0, operands);
        return elementwise_run<Loss, Storage, with_gradient, with_losses, false>(
            loss, args, first, end, 1.0, nullptr, operands);
    }
    if (args.sample_size == 1) {
        const double* weights = args.sample_weight + first;
        if (with_hessian) elementwise_hessian(loss, args, first, end, weights, 0.0, operands);
        return elementwise_run<Loss, Storage, with_gradient, with_losses, true>(
            loss, args, first, end, 0.0, weights, operands);
    }
    if (args.sample_size < short_sample_limit) {
        // Short samples ((N, 10) with sample_weight): runs of sample_size elements would run
        // as vector remainders, scalar (1e6 x 10 Huber: 9 -> 100 ms). The weights of a chunk
        // are expanded to one per element and the chunk runs as one SIMD loop. The gradient
        // is the same bits as the runs' (the factor w * scale * unit rounds alike: the units
        // are 1 and 2); the loss sums w_k l_k instead of w sum_k l_k.
        // (+7: the overhang of the last sample's eight-entry stores, see expand_sample_weights)
        double weights[short_sample_chunk + 7];
        double block_sum = 0.0;
        for (std::int64_t chunk = first; chunk < end; chunk += short_sample_chunk) {
            const std::int64_t chunk_end = end - chunk < short_sample_chunk ? end : chunk + short_sample_chunk;
            expand_sample_weights(args.sample_weight, args.sample_size, chunk, chunk_end - chunk, weights);
            const Operands chunk_operands = operands.advanced(chunk - first);
            if (with_hessian) elementwise_hessian(loss, args, chunk, chunk_end, weights, 0.0, chunk_operands);
            block_sum += elementwise_run<Loss, Storage, with_gradient, with_losses, true>(
                loss, args, chunk, chunk_end, 0.0, weights, chunk_operands);
        }
        return block_sum;
    }
    double block_sum = 0.0;
    std::int64_t position = first;
    while (position < end) {
        const std::int64_t sample = position / args.sample_size;
        const std::int64_t sample_end = (sample + 1) * args.sample_size;
        const std::int64_t run_end = sample_end < end ? sample_end : end;
        const double weight = args.sample_weight[sample];
        const Operands run_operands = operands.advanced(position - first);
        if (with_hessian) elementwise_hessian(loss, args, position, run_end, nullptr, weight, run_operands);
        block_sum += elementwise_run<Loss, Storage, with_gradient, with_losses, false>(
            loss, args, position, run_end, weight, nullptr, run_operands);
        position = run_end;
    }
    return block_sum;
}

// A block of a loss with element operands: each is periodic (element k reads
// operand[k % length], as a per-class weight: one short pattern that stays in cache), so the
// block is walked in spans that end where a pattern does.
template <class Loss, class Storage, bool with_gradient, bool with_losses, bool has_weight,
          bool has_parameter>
double elementwise_periodic_spans(const Loss& loss, const ElementwiseArgs<Storage>& args,
                                  std::int64_t first, std::int64_t end) {
    using Operands = ElementOperands<Storage, has_weight, has_parameter>;
    double block_sum = 0.0;
    std::int64_t position = first;
    while (position < end) {
        std::int64_t span_end = end;
        Operands operands{nullptr, nullptr};
        if constexpr (has_weight) {
            const std::int64_t phase = position % args.element_weight_length;
            const std::int64_t pattern_end = position + (args.element_weight_length - phase);
            if (pattern_end < span_end) span_end = pattern_end;
            operands.weight = args.element_weight + phase;
        }
        if constexpr (has_parameter) {
            const std::int64_t phase = position % args.element_parameter_length;
            const std::int64_t pattern_end = position + (args.element_parameter_length - phase);
            if (pattern_end < span_end) span_end = pattern_end;
            operands.parameter = args.element_parameter + phase;
        }
        block_sum += elementwise_span<Loss, Storage, with_gradient, with_losses>(loss, args, position,
                                                                                 span_end, operands);
        position = span_end;
    }
    return block_sum;
}

// Out of line: only the losses that declare an operand instantiate it, and only the operand
// sets they declare (the binding refuses an operand a loss does not take).
template <class Loss, class Storage, bool with_gradient, bool with_losses>
FUSEDLOSS_NEVER_INLINE double elementwise_periodic_block(const Loss& loss,
                                                         const ElementwiseArgs<Storage>& args,
                                                         std::int64_t first, std::int64_t end) {
    const bool weighted = args.element_weight != nullptr;
    const bool parameterised = args.element_parameter != nullptr;
    if constexpr (Loss::has_element_weight) {
        if (weighted && !parameterised) {
            return elementwise_periodic_spans<Loss, Storage, with_gradient, with_losses, true, false>(
                loss, args, first, end);
        }
    }
    if constexpr (Loss::has_element_parameter) {
        if (parameterised && !weighted) {
            return elementwise_periodic_spans<Loss, Storage, with_gradient, with_losses, false, true>(
                loss, args, first, end);
        }
    }
    if constexpr (Loss::has_element_weight && Loss::has_element_parameter) {
        return elementwise_periodic_spans<Loss, Storage, with_gradient, with_losses, true, true>(
            loss, args, first, end);
    }
    (void)weighted;
    return 0.0;  // (not reached: see above)
}

template <class Loss, class Storage, bool with_gradient, bool with_losses>
double elementwise_block(const Loss& loss, const ElementwiseArgs<Storage>& args, std::int64_t first,
                         std::int64_t end) {
    if constexpr (Loss::has_target_domain) {
        if (!targets_in_domain(loss, args.target, first, end)) {
            publish_flag(args.target_out_of_domain);
            return 0.0;
        }
    }
    if constexpr (Loss::has_element_weight || Loss::has_element_parameter) {
        if (args.element_weight != nullptr || args.element_parameter != nullptr) {
            return elementwise_periodic_block<Loss, Storage, with_gradient, with_losses>(loss, args,
                                                                                       first, end);
        }
    }
    return elementwise_span<Loss, Storage, with_gradient, with_losses>(
        loss, args, first, end, NoElementOperands<Storage>{nullptr, nullptr});
}

// The kernel of one loss: the float64 sum of its weighted losses, in the plan's fixed order.
template <template <class> class LossPolicy, class Storage>
double elementwise_loss(const ElementwiseArgs<Storage>& args, const ReductionPlan& plan) {
    using Real = compute_type<Storage>;  // float for the 16-bit storage types
    const LossPolicy<Real> loss(args.parameters);
    const std::int64_t elements = args.samples * args.sample_size;
    const bool losses = args.element_losses != nullptr;
    using Loss = LossPolicy<Real>;
    if (args.gradient != nullptr) {
        return sum_over_blocks(elements, plan, [&](std::int64_t first, std::int64_t end) {
            return losses ? elementwise_block<Loss, Storage, true, true>(loss, args, first, end)
                          : elementwise_block<Loss, Storage, true, false>(loss, args, first, end);
        });
    }
    return sum_over_blocks(elements, plan, [&](std::int64_t first, std::int64_t end) {
        return losses ? elementwise_block<Loss, Storage, false, true>(loss, args, first, end)
                      : elementwise_block<Loss, Storage, false, false>(loss, args, first, end);
    });
}

template <template <class> class LossPolicy>
int elementwise_target_in_domain(double target, const double* parameters) {
    if constexpr (LossPolicy<double>::has_target_domain) {
        return LossPolicy<double>(parameters).target_in_domain(target) ? 1 : 0;
    } else {
        (void)target;
        (void)parameters;
        return 1;
    }
}

template <template <class> class LossPolicy>
const char* elementwise_target_domain(const double* parameters) {
    if constexpr (LossPolicy<double>::has_target_domain) {
        return LossPolicy<double>::target_domain(parameters);
    } else {
        (void)parameters;
        return "any target";
    }
}

// float16 of a memory-bound loss, natively. A loss without prepared values runs on tiles of
// 512 elements widened by F16C into float32 in L1 (elementwise_run), faster than the staged
// tiles at every size (MSE, one thread: 1e5 elements 0.034 -> 0.029 ms, 1e6 0.374 -> 0.261,
// 1e7 4.89 -> 2.79). One that prepares (sigmoid BCE) widens in its loops by integer code: that
// pays only where its arrays come from memory and the loop overlaps their reads with its
// arithmetic; in cache (below float16_native_elements) the staged tiles' bulk widening is
// cheaper (measured on MSE when it widened so, stop 30: 1e7 elements 4.8 ms native against 7.2
// staged, 1e6 0.46 against 0.32).
constexpr std::int64_t float16_native_elements = 2 * 1024 * 1024;

template <template <class> class LossPolicy>
double elementwise_float16(const ElementwiseArgs<float16_bits>& args, const ReductionPlan& plan) {
    if (LossPolicy<float>::prepares && args.samples * args.sample_size < float16_native_elements) {
        return staged_kernel<ElementwiseArgs, float16_bits, &elementwise_loss<LossPolicy, float>>(args, plan);
    }
    return elementwise_loss<LossPolicy, float16_bits>(args, plan);
}

// The table entry of one loss (regression_losses.inl lists them).
template <template <class> class LossPolicy>
constexpr ElementwiseLossEntry elementwise_entry(const char* name) {
    // bfloat16 runs the driver natively (memory-bound losses): loads widened (a shift) and
    // the gradient rounded in registers or from float32 tiles in hardware (low_precision.inl's
    // load_value / store_value / store_tile). A compute-bound loss runs the float32 kernel on
    // staged tiles.
    constexpr ElementwiseKernel<bfloat16_bits> bfloat16_kernel =
        LossPolicy<float>::compute_bound
            ? &staged_kernel<ElementwiseArgs, bfloat16_bits, &elementwise_loss<LossPolicy, float>>
            : &elementwise_loss<LossPolicy, bfloat16_bits>;
    // float16 natively from memory where the ISA has F16C for the gradient's tiles (the
    // baseline's per-element rounding was twice as slow as the staged tiles).
    constexpr ElementwiseKernel<float16_bits> float16_kernel =
        LossPolicy<float>::compute_bound || !IsaTraits::has_f16c
            ? &staged_kernel<ElementwiseArgs, float16_bits, &elementwise_loss<LossPolicy, float>>
            : &elementwise_float16<LossPolicy>;
    return ElementwiseLossEntry{name,
                                KernelsByType<ElementwiseKernel>{
                                    &elementwise_loss<LossPolicy, float>,
                                    &elementwise_loss<LossPolicy, double>,
                                    bfloat16_kernel, float16_kernel},
                                &elementwise_target_domain<LossPolicy>,
                                &elementwise_target_in_domain<LossPolicy>,
                                LossPolicy<double>::has_element_weight ? 1 : 0,
                                LossPolicy<double>::has_element_parameter ? 1 : 0};
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
