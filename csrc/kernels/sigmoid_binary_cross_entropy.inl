// Sigmoid binary cross-entropy over contiguous arrays, PyTorch's stable form:
//   loss = w * ((1 - t) x + L (log1p(exp(-|x|)) + max(-x, 0))),  L = 1 + (p - 1) t,
// with w the element weight and p the positive-class weight (1 when absent). Its derivative:
//   d loss / dx = w * ((1 - t) - L sigmoid(-x)) = w * (L sigmoid(x) - p t),
// sigmoid(-|x|) = e / (1 + e), e = exp(-|x|), so nothing overflows for any finite x. exp and log are the vectorised
// exp_value / log_value (vector_math.inl). The linear part (1 - t) x + L max(-x, 0) is
// evaluated as (1 - t) x for x >= 0 and -p t x for x < 0 (the same value, no cancellation).
// As in mean_squared_error.inl the plan's "rows" are blocks of elements; sums are float64.
//
// weight and pos_weight are periodic (element k reads weight[k % weight_length]): a per-class
// weight is one short pattern that stays in L1 instead of an N x C stream. Sample weights of
// short samples are expanded per element into a stack tile, so that a sample of 10 elements
// does not cost a SIMD loop of its own (its prologue and remainder were most of the time at
// C = 10); a long sample is one run with its weight as a constant.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// multiply_add (portable.inl) where both addends are products (L s - p t): spelled out, the
// SIMD body and the scalar remainder round alike (an element's last bit once depended on its
// position in a chunk, so a Dask chunk gave other gradients than the in-memory call).

// From this many elements per sample on, a sample is one run of the SIMD loop with its weight
// as a constant (the loop's setup and remainder are then a small share, and the tile's float64
// stream and multiplies cost more than they save: +20 % instructions at C = 1000).
constexpr std::int64_t sigmoid_bce_long_sample = 256;

// Elements per chunk of the weighted paths: 8 KiB of float64 sample weights on the stack,
// long enough that the per-chunk setup is noise, small enough to stay in L1 with the patterns.
constexpr std::int64_t sigmoid_bce_tile = 1024;

template <class Real, bool with_gradient, bool has_weight, bool has_pos_weight,
          bool has_sample_weight>
FUSEDLOSS_ALWAYS_INLINE double sigmoid_bce_span(const Real* logits, const Real* targets,
                                                const Real* weight, const Real* pos_weight,
                                                const double* sample_weight, double run_weight,
                                                double gradient_scale, Real* gradient,
                                                Real* element_losses, std::int64_t count) {
    // Without per-element sample weights the span shares one: run_weight (1 for none).
    const Real gradient_factor = static_cast<Real>(run_weight * gradient_scale);
    const Real loss_weight = static_cast<Real>(run_weight);
    double sum = 0.0;
    FUSEDLOSS_SIMD_SUM(sum)
    for (std::int64_t k = 0; k < count; ++k) {
        const Real x = logits[k];
        const Real t = targets[k];
        const Real absolute = x < Real(0) ? -x : x;
        const Real e = exp_value(-absolute);
        const Real u = Real(1) + e;
        const Real positive_weight = has_pos_weight ? pos_weight[k] : Real(1);
        const Real log_weight = has_pos_weight ? Real(1) + (positive_weight - Real(1)) * t : Real(1);
        const Real positive_target = positive_weight * t;
        // (1 - t) x + L max(-x, 0) without the cancellation of its two terms for x < 0.
        const Real linear = x >= Real(0) ? (Real(1) - t) * x : -positive_target * x;
        const Real softplus = log1p_unit_interval(e);  // log(1 + exp(-|x|))
        Real loss = has_pos_weight ? multiply_add(log_weight, softplus, linear) : linear + softplus;
        if (has_weight) loss = weight[k] * loss;
        if (has_sample_weight) {
            sum += sample_weight[k] * static_cast<double>(loss);
        } else {
            sum += static_cast<double>(loss);
        }
        if (with_gradient) {
            // sigmoid(-|x|) = e / (1 + e); the derivative (1 - t) - L sigmoid(-x) equals
            // L sigmoid(x) - p t, used for x < 0 so that neither form cancels needlessly.
            const Real sigmoid_small = e / u;
            Real derivative;
            if (has_pos_weight) {
                derivative = x >= Real(0)
                                 ? multiply_add(-log_weight, sigmoid_small, Real(1) - t)
                                 : multiply_add(log_weight, sigmoid_small, -positive_target);
            } else {
                derivative = x >= Real(0) ? (Real(1) - t) - sigmoid_small : sigmoid_small - t;
            }
            if (has_weight) derivative = weight[k] * derivative;
            const Real factor = has_sample_weight
                                    ? static_cast<Real>(sample_weight[k] * gradient_scale)
                                    : gradient_factor;
            gradient[k] = factor * derivative;
        }
        if (element_losses != nullptr) {
            element_losses[k] =
                has_sample_weight ? static_cast<Real>(sample_weight[k]) * loss : loss_weight * loss;
        }
    }
    return has_sample_weight ? sum : run_weight * sum;
}

// The sample weights of elements [first, first + count) into `tile`, count <= the tile.
// Each sample's run is written eight entries at a time (one or two vector stores): the up to
// seven entries past a run are overwritten by the next run, the last run's by nobody (the tile
// has room for them), so a run of 10 is two groups instead of a vector loop with a remainder
// (eight-wide: 3 % fewer instructions than four-wide at C = 10 and 17, callgrind).
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

template <class Real, bool with_gradient, bool has_weight, bool has_pos_weight,
          bool has_sample_weight>
double sigmoid_bce_block(const SigmoidBinaryArgs<Real>& args, std::int64_t first,
                         std::int64_t end) {
    if (!has_weight && !has_pos_weight && !has_sample_weight) {
        return sigmoid_bce_span<Real, with_gradient, false, false, false>(
            args.logits + first, args.targets + first, nullptr, nullptr, nullptr, 1.0,
            args.gradient_scale, args.gradient == nullptr ? nullptr : args.gradient + first,
            args.element_losses == nullptr ? nullptr : args.element_losses + first, end - first);
    }
    // +7: the overhang of the last run's eight-entry stores (expand_sample_weights).
    alignas(64) double sample_weight_tile[has_sample_weight ? sigmoid_bce_tile + 7 : 1];
    double block_sum = 0.0;
    std::int64_t position = first;
    while (position < end) {
        std::int64_t count = end - position;
        const Real* weight = nullptr;
        const Real* pos_weight = nullptr;
        const double* sample_weight = nullptr;
        double run_weight = 1.0;
        bool per_element = false;
        if (has_weight) {
            const std::int64_t phase = position % args.weight_length;
            if (args.weight_length - phase < count) count = args.weight_length - phase;
            weight = args.weight + phase;
        }
        if (has_pos_weight) {
            const std::int64_t phase = position % args.pos_weight_length;
            if (args.pos_weight_length - phase < count) count = args.pos_weight_length - phase;
            pos_weight = args.pos_weight + phase;
        }
        if (has_sample_weight) {
            if (args.sample_size == 1) {
                sample_weight = args.sample_weight + position;
                per_element = true;
            } else if (args.sample_size < sigmoid_bce_long_sample) {
                if (count > sigmoid_bce_tile) count = sigmoid_bce_tile;
                expand_sample_weights(args.sample_weight, args.sample_size, position, count,
                                      sample_weight_tile);
                sample_weight = sample_weight_tile;
                per_element = true;
            } else {
                const std::int64_t sample = position / args.sample_size;
                const std::int64_t sample_end = (sample + 1) * args.sample_size;
                if (sample_end - position < count) count = sample_end - position;
                run_weight = args.sample_weight[sample];
            }
        }
        Real* gradient = args.gradient == nullptr ? nullptr : args.gradient + position;
        Real* element_losses =
            args.element_losses == nullptr ? nullptr : args.element_losses + position;
        if (per_element) {
            block_sum += sigmoid_bce_span<Real, with_gradient, has_weight, has_pos_weight,
                                          has_sample_weight>(
                args.logits + position, args.targets + position, weight, pos_weight,
                sample_weight, 1.0, args.gradient_scale, gradient, element_losses, count);
        } else {
            block_sum += sigmoid_bce_span<Real, with_gradient, has_weight, has_pos_weight, false>(
                args.logits + position, args.targets + position, weight, pos_weight, nullptr,
                run_weight, args.gradient_scale, gradient, element_losses, count);
        }
        position += count;
    }
    return block_sum;
}

template <class Real, bool with_gradient, bool has_weight, bool has_pos_weight,
          bool has_sample_weight>
double sigmoid_bce_sum(const SigmoidBinaryArgs<Real>& args, const ReductionPlan& plan) {
    return sum_over_blocks(args.samples * args.sample_size, plan,
                           [&](std::int64_t first, std::int64_t end) {
                               return sigmoid_bce_block<Real, with_gradient, has_weight,
                                                        has_pos_weight, has_sample_weight>(
                                   args, first, end);
                           });
}

template <class Real, bool with_gradient, bool has_sample_weight>
double sigmoid_bce_weights(const SigmoidBinaryArgs<Real>& args, const ReductionPlan& plan) {
    if (args.weight != nullptr) {
        if (args.pos_weight != nullptr) {
            return sigmoid_bce_sum<Real, with_gradient, true, true, has_sample_weight>(args, plan);
        }
        return sigmoid_bce_sum<Real, with_gradient, true, false, has_sample_weight>(args, plan);
    }
    if (args.pos_weight != nullptr) {
        return sigmoid_bce_sum<Real, with_gradient, false, true, has_sample_weight>(args, plan);
    }
    return sigmoid_bce_sum<Real, with_gradient, false, false, has_sample_weight>(args, plan);
}

template <class Real, bool with_gradient>
double sigmoid_bce_sample_weights(const SigmoidBinaryArgs<Real>& args, const ReductionPlan& plan) {
    if (args.sample_weight != nullptr) return sigmoid_bce_weights<Real, with_gradient, true>(args, plan);
    return sigmoid_bce_weights<Real, with_gradient, false>(args, plan);
}

template <class Real>
double sigmoid_binary_cross_entropy(const SigmoidBinaryArgs<Real>& args,
                                    const ReductionPlan& plan) {
    if (args.gradient != nullptr) return sigmoid_bce_sample_weights<Real, true>(args, plan);
    return sigmoid_bce_sample_weights<Real, false>(args, plan);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
