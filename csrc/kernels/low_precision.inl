// The 16-bit kernels (bfloat16, float16): every kernel of the table, for 16-bit storage,
// without a float32 copy of the input. Each computes in float32 and rounds every stored result
// once, to nearest even: its results are the float32 kernel's on the widened inputs, rounded
// (the tests compare exactly that), and the loss is summed in float64 in a fixed order.
//
// Two ways, both here:
// - In the kernel's own loops (load_value / store_value below): a loop written as a template on
//   its storage type widens each 16-bit load in the register and rounds each store (or its
//   stores in bulk from a float32 tile in L1, in hardware: store_tile). The elementwise driver,
//   softmax-CE's plain rows and the hinge's rows do so for bfloat16, the elementwise driver for
//   float16 too where the ISA has F16C.
// - Staged tiles (staged_kernel below), for every other kernel: each block of
//   the plan is cut into tiles of about 16K elements (whole rows: at least one); a tile's 16-bit
//   inputs are widened into a per-thread float32 buffer (it stays in the core's L2), the float32
//   kernel runs on it as on a small batch, and its gradient / Hessian / per-row losses are
//   rounded into the 16-bit outputs. Memory sees 16-bit reads and writes only; the widening and
//   rounding are extra passes over the tile in cache. What differs per argument struct (which
//   fields are 16-bit rows, which are per-row vectors) is said once, in TileStaging<Args>.

namespace fusedloss {
namespace FUSEDLOSS_ISA_NAMESPACE {
namespace {

// --- conversions -------------------------------------------------------------------------

FUSEDLOSS_ALWAYS_INLINE float widen_bfloat16_value(std::uint16_t bits) {
    return bit_cast_value<float>(static_cast<std::uint32_t>(bits) << 16);
}

// Round to nearest even; a NaN stays a NaN (quieted, sign and leading payload bits kept), a
// finite value beyond the largest bfloat16 rounds to infinity, as IEEE rounding does.
FUSEDLOSS_ALWAYS_INLINE std::uint16_t narrow_bfloat16_value(float value) {
    const std::uint32_t bits = bit_cast_value<std::uint32_t>(value);
    const std::uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    const std::uint32_t quiet_nan = (bits >> 16) | 0x0040u;
    const bool is_nan = (bits & 0x7fffffffu) > 0x7f800000u;
    return static_cast<std::uint16_t>(is_nan ? quiet_nan : rounded);
}

// IEEE half -> float32, exact: the magnitude's bits moved into float32 position and scaled by
// 2^112 (re-biases normals, normalises subnormals); infinities and NaNs get the float32
// all-ones exponent, NaNs quieted with their payload kept -- the bits VCVTPH2PS gives.
FUSEDLOSS_ALWAYS_INLINE float widen_float16_value(std::uint16_t half) {
    const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
    const std::uint32_t magnitude = static_cast<std::uint32_t>(half & 0x7fffu) << 13;
    const float scaled = bit_cast_value<float>(magnitude) * 0x1p112f;
    const bool special = (half & 0x7c00u) == 0x7c00u;
    const bool is_nan = (half & 0x7fffu) > 0x7c00u;
    const std::uint32_t special_bits = magnitude | 0x7f800000u | (is_nan ? 0x00400000u : 0u);
    const std::uint32_t bits = special ? special_bits : bit_cast_value<std::uint32_t>(scaled);
    return bit_cast_value<float>(bits | sign);
}

// float32 -> IEEE half, round to nearest even, the bits VCVTPS2PH gives: normals re-biased and
// rounded on the integer bits; results in the half-subnormal range rounded by a float32 add
// of 0.5 (whose ulp, 2^-24, is the half-subnormal step); >= 65520 rounds to infinity; a NaN
// is quieted with its leading payload bits kept.
FUSEDLOSS_ALWAYS_INLINE std::uint16_t narrow_float16_value(float value) {
    const std::uint32_t bits = bit_cast_value<std::uint32_t>(value);
    const std::uint32_t sign = (bits >> 16) & 0x8000u;
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    const std::uint32_t normal =
        (magnitude - (112u << 23) + 0x0fffu + ((magnitude >> 13) & 1u)) >> 13;
    const float aligned = bit_cast_value<float>(magnitude) + 0.5f;
    const std::uint32_t subnormal = bit_cast_value<std::uint32_t>(aligned) - 0x3f000000u;
    const std::uint32_t nan = 0x7e00u | ((magnitude >> 13) & 0x03ffu);
    std::uint32_t half = magnitude >= 0x38800000u ? normal : subnormal;  // 2^-14: smallest normal
    half = magnitude >= 0x477ff000u ? 0x7c00u : half;                  // 65520: rounds to inf
    half = magnitude > 0x7f800000u ? nan : half;
    return static_cast<std::uint16_t>(half | sign);
}

// The storage types' values in the registers of a kernel that runs natively on them: 16-bit
// loads widened to float32, stores rounded from the float32 result (a double result is first
// rounded to float32, as the float32 kernel stores it: the same bits as that kernel's output
// rounded once more). float and double are their own compute types.
template <class Storage>
struct ComputeType {
    using type = Storage;
};
template <>
struct ComputeType<bfloat16_bits> {
    using type = float;
};
template <>
struct ComputeType<float16_bits> {
    using type = float;
};
template <class Storage>
using compute_type = typename ComputeType<Storage>::type;

FUSEDLOSS_ALWAYS_INLINE float load_value(float value) { return value; }
FUSEDLOSS_ALWAYS_INLINE double load_value(double value) { return value; }
FUSEDLOSS_ALWAYS_INLINE float load_value(bfloat16_bits value) { return widen_bfloat16_value(value.bits); }
FUSEDLOSS_ALWAYS_INLINE float load_value(float16_bits value) { return widen_float16_value(value.bits); }

template <class Storage, class Value>
FUSEDLOSS_ALWAYS_INLINE Storage store_value(Value value) {
    if constexpr (std::is_same<Storage, bfloat16_bits>::value) {
        return bfloat16_bits{narrow_bfloat16_value(static_cast<float>(value))};
    } else if constexpr (std::is_same<Storage, float16_bits>::value) {
        return float16_bits{narrow_float16_value(static_cast<float>(value))};
    } else {
        return static_cast<Storage>(value);
    }
}

// Bulk conversions (the tiles' loads and stores). bfloat16 uses integer work on every ISA
// (AVX-512 BF16's VCVTNEPS2BF16 flushes subnormals, which these must keep); float16 uses F16C
// where IsaTraits has it, the same bits as the scalar code above. They and the row/periodic
// helpers below are out of line: called once per tile or tile row, and inlined they were
// copied into each of the ~70 staged kernels (4.05 -> 3.47 MB of code in the baseline unit).
FUSEDLOSS_ALWAYS_INLINE const std::uint16_t* storage_bits(const bfloat16_bits* values) {
    return reinterpret_cast<const std::uint16_t*>(values);
}
FUSEDLOSS_ALWAYS_INLINE const std::uint16_t* storage_bits(const float16_bits* values) {
    return reinterpret_cast<const std::uint16_t*>(values);
}
FUSEDLOSS_ALWAYS_INLINE std::uint16_t* storage_bits(bfloat16_bits* values) {
    return reinterpret_cast<std::uint16_t*>(values);
}
FUSEDLOSS_ALWAYS_INLINE std::uint16_t* storage_bits(float16_bits* values) {
    return reinterpret_cast<std::uint16_t*>(values);
}

FUSEDLOSS_NEVER_INLINE void widen_values(const bfloat16_bits* input, float* output, std::int64_t count) {
    const std::uint16_t* bits = storage_bits(input);
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) output[i] = widen_bfloat16_value(bits[i]);
}
FUSEDLOSS_NEVER_INLINE void narrow_values(const float* input, bfloat16_bits* output, std::int64_t count) {
    std::uint16_t* bits = storage_bits(output);
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = 0; i < count; ++i) bits[i] = narrow_bfloat16_value(input[i]);
}
FUSEDLOSS_NEVER_INLINE void widen_values(const float16_bits* input, float* output, std::int64_t count) {
    const std::uint16_t* bits = storage_bits(input);
    const std::int64_t done = IsaTraits::widen_float16(bits, output, count);
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = done; i < count; ++i) output[i] = widen_float16_value(bits[i]);
}
FUSEDLOSS_NEVER_INLINE void narrow_values(const float* input, float16_bits* output, std::int64_t count) {
    std::uint16_t* bits = storage_bits(output);
    const std::int64_t done = IsaTraits::narrow_scaled_float16(input, 1.0f, bits, count);
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t i = done; i < count; ++i) bits[i] = narrow_float16_value(input[i]);
}

// A 16-bit kernel's gradient (or other output) rounded in bulk from a float32 tile in L1,
// in hardware: bfloat16 by AVX-512 BF16 where the CPU has it, float16 by F16C. The in-loop
// rounding by the integer rule was most of a memory-bound 16-bit element's work. Whether this
// ISA can (compile time: the kernel keeps its other path only there) and this CPU does:
template <class Storage>
constexpr bool may_store_tiles_in_hardware =
    std::is_same<Storage, bfloat16_bits>::value ? IsaTraits::may_round_bfloat16_in_hardware
    : std::is_same<Storage, float16_bits>::value ? IsaTraits::has_f16c
                                                 : false;

template <class Storage>
FUSEDLOSS_ALWAYS_INLINE bool stores_tiles_in_hardware() {
    if constexpr (std::is_same<Storage, bfloat16_bits>::value) return IsaTraits::rounds_bfloat16_in_hardware();
    return may_store_tiles_in_hardware<Storage>;
}

// Whether a kernel reading 16-bit rows itself widens them in bulk (a row or tile at a time,
// into float32 in cache) rather than in its loops: float16 where the ISA has F16C. GCC 12 does
// not vectorise F16C written per element (nor has Zen 4 AVX512-FP16), and the integer widening
// in the loop cost more than a float32 element's whole work; bfloat16's widening is one shift.
template <class Storage>
constexpr bool widens_in_bulk = std::is_same<Storage, float16_bits>::value && IsaTraits::has_f16c;

// --- streaming stores ----------------------------------------------------------------------

// An output of at least streaming_threshold() bytes (32 MiB unless _core.set_streaming_threshold
// said otherwise; fusedloss/kernel_table.hpp) is written with non-temporal stores where the ISA
// has them (IsaTraits::has_streaming_stores), by the kernels that store it from a tile or row
// in cache (store_tile): softmax-CE's rows (16-bit, float32 plain, options, long 16-bit rows),
// the label-softmax rows (focal), the hinge and every staged 16-bit output. An ordinary store
// that misses the cache first reads the line it fills: a third of the memory traffic of a
// kernel that reads x once and writes its gradient once; and a gradient this much larger than
// a core's cache has left it before anyone reads it again. glibc's memcpy switches to
// non-temporal stores likewise for large copies, so the copy the benchmarks compare against
// has them too. Below about 32 MiB the output and its input may still be in the last-level
// cache, and ordinary stores won (docs/performance-notes.md, "Streaming stores").

// Whether a kernel writes `elements` elements at `output` with streaming stores. (An output not
// aligned to its element size, which the bindings refuse anyway, is written as any other.)
template <class Storage>
FUSEDLOSS_ALWAYS_INLINE bool streams_output(const Storage* output, std::int64_t elements) {
    return IsaTraits::has_streaming_stores && output != nullptr &&
           elements * static_cast<std::int64_t>(sizeof(Storage)) >= streaming_threshold() &&
           reinterpret_cast<std::uintptr_t>(output) % sizeof(Storage) == 0;
}

// The elements from `output` to the next 64-byte boundary: streaming stores write whole,
// aligned cache lines; the partial lines at either end of a range are stored as usual.
template <class Storage>
FUSEDLOSS_ALWAYS_INLINE std::int64_t elements_before_line(const Storage* output) {
    return static_cast<std::int64_t>((64 - reinterpret_cast<std::uintptr_t>(output) % 64) % 64 /
                                     sizeof(Storage));
}

// output[j] = Storage(values[j] * factor) (a compute_type product) for j < count, the same bits
// as store_value: the hardware's leading part where it has it (AVX-512 BF16, F16C), the integer
// rule for the rest. `streaming` (see streams_output): the whole cache lines of the range with
// non-temporal stores -- the same values.
template <class Storage>
FUSEDLOSS_ALWAYS_INLINE void store_tile(const compute_type<Storage>* values, compute_type<Storage> factor,
                                        Storage* output, std::int64_t count, bool streaming = false) {
    std::int64_t done = 0;
    if (streaming && IsaTraits::has_streaming_stores) {
        const std::int64_t head = count < elements_before_line(output) ? count : elements_before_line(output);
        store_tile(values, factor, output, head);
        values += head;
        output += head;
        count -= head;
        if constexpr (std::is_same<Storage, bfloat16_bits>::value) {
            done = IsaTraits::narrow_scaled_bfloat16<true>(values, factor, storage_bits(output), count);
        } else if constexpr (std::is_same<Storage, float16_bits>::value) {
            done = IsaTraits::narrow_scaled_float16<true>(values, factor, storage_bits(output), count);
        } else {
            done = IsaTraits::stream_scaled(values, factor, output, count);
        }
    } else if constexpr (std::is_same<Storage, bfloat16_bits>::value) {
        done = IsaTraits::narrow_scaled_bfloat16(values, factor, storage_bits(output), count);
    } else if constexpr (std::is_same<Storage, float16_bits>::value) {
        done = IsaTraits::narrow_scaled_float16(values, factor, storage_bits(output), count);
    }
    FUSEDLOSS_SIMD_LOOP
    for (std::int64_t j = done; j < count; ++j) output[j] = store_value<Storage>(values[j] * factor);
}

// store_tile, then output[index] = value (a softmax gradient's label entry, which is not
// values[index] * factor). Streaming, the cache line holding `index` is stored as usual: a
// line streamed and then stored to again would be read back from memory.
template <class Storage>
FUSEDLOSS_ALWAYS_INLINE void store_tile_with_entry(const compute_type<Storage>* values,
                                                   compute_type<Storage> factor, Storage* output,
                                                   std::int64_t count, bool streaming,
                                                   std::int64_t index, Storage value) {
    if (streaming) {
        constexpr std::int64_t line = 64 / static_cast<std::int64_t>(sizeof(Storage));
        const std::int64_t offset = (line - elements_before_line(output + index)) % line;
        const std::int64_t line_first = index - offset < 0 ? 0 : index - offset;
        const std::int64_t line_end = line_first + line < count ? line_first + line : count;
        store_tile(values, factor, output, line_first, true);
        store_tile(values + line_first, factor, output + line_first, line_end - line_first);
        store_tile(values + line_end, factor, output + line_end, count - line_end, true);
    } else {
        store_tile(values, factor, output, count);
    }
    output[index] = value;
}

// --- tiles -------------------------------------------------------------------------------

// Elements per tile (the float32 tile of the input is 64 KB; a row longer than that is a
// tile of its own).
constexpr std::int64_t staged_tile_elements = 16384;

// The float32 scratch of a thread: kept from call to call (a fresh 128 KB malloc per block was
// an mmap, 32 page faults and an munmap per row of 32000 classes: the 16-bit kernel ran at half
// the float32 one's speed), grown when a call needs more, freed when the thread ends; one
// beyond scratch_cache_limit is freed after its block.
constexpr std::size_t scratch_cache_limit = std::size_t(4) << 20;

struct ThreadScratch {
    void* memory = nullptr;
    std::size_t bytes = 0;
    ~ThreadScratch() { std::free(memory); }
};

thread_local ThreadScratch thread_scratch;
// A second one: the row in which a row policy keeps its values while its gradient streams
// (row_loss_driver.inl, stages_streamed_rows), apart from the first, which may hold the
// staged tiles that very kernel runs on.
thread_local ThreadScratch streamed_row_scratch;

// The float32 arrays of one block's tiles, carved from the thread's scratch: TileStaging's
// allocate() is run twice, first to measure (`base` null), then to hand out.
struct TileScratch {
    float* values = nullptr;       // the input tile; the gradient is written over it
    float* second = nullptr;       // a second float operand (targets), or the old gradient
    float* hessian = nullptr;
    float* losses = nullptr;       // per-row (per-element) losses, or logsumexp
    float* weight = nullptr;       // a periodic weight, materialised for the tile
    float* element_parameter = nullptr;  // a periodic per-element parameter (pos_weight)
    double* sample_weight = nullptr;  // per element, for the elementwise kernels
    char* base = nullptr;
    std::size_t used = 0;

    void* take(std::size_t bytes) {
        void* result = base == nullptr ? nullptr : base + used;
        used += (bytes + 63) / 64 * 64;  // each array on its own cache lines
        return result;
    }
    float* allocate_floats(std::int64_t count) {
        return static_cast<float*>(take(static_cast<std::size_t>(count) * sizeof(float)));
    }
    double* allocate_doubles(std::int64_t count) {
        return static_cast<double*>(take(static_cast<std::size_t>(count) * sizeof(double)));
    }
};

// Memory of at least `bytes` for this thread's tiles, or null when it cannot be allocated.
// (malloc/free: extern "C" functions, no inline std code in a unit compiled per ISA.)
char* thread_scratch_memory(std::size_t bytes, ThreadScratch& cache = thread_scratch) {
    if (cache.bytes < bytes) {
        std::free(cache.memory);
        cache.memory = std::malloc(bytes);
        cache.bytes = cache.memory == nullptr ? 0 : bytes;
    }
    return static_cast<char*>(cache.memory);
}

void release_large_thread_scratch(ThreadScratch& cache = thread_scratch) {
    if (cache.bytes > scratch_cache_limit) {
        std::free(cache.memory);
        cache.memory = nullptr;
        cache.bytes = 0;
    }
}

// Rows [first, end) of a (rows x columns) array with any row stride, widened into a
// contiguous tile; and a contiguous tile narrowed into rows of a C-contiguous output.
template <class Storage>
FUSEDLOSS_NEVER_INLINE void widen_rows(const Storage* input, std::int64_t row_stride, std::int64_t columns,
                std::int64_t first, std::int64_t end, float* tile) {
    if (row_stride == columns) {  // contiguous rows: one loop (rows of 10 were all remainder)
        widen_values(input + first * columns, tile, (end - first) * columns);
        return;
    }
    for (std::int64_t row = first; row < end; ++row) {
        widen_values(input + row * row_stride, tile + (row - first) * columns, columns);
    }
}
// A staged tile's values rounded into [first, first + count) of a 16-bit output of `total`
// elements (streamed where that is large, see streams_output).
template <class Storage>
FUSEDLOSS_NEVER_INLINE void store_staged(const float* tile, Storage* output, std::int64_t total,
                                         std::int64_t first, std::int64_t count) {
    store_tile(tile, 1.0f, output + first, count, streams_output(output, total));
}

// A periodic operand (element k reads pattern[k % length]) for elements [first, end),
// widened into a tile the float32 kernel reads with period end - first.
template <class Storage>
FUSEDLOSS_NEVER_INLINE void widen_periodic(const Storage* pattern, std::int64_t length, std::int64_t first,
                    std::int64_t end, float* tile) {
    std::int64_t position = first % length;
    std::int64_t done = 0;
    while (done < end - first) {
        const std::int64_t run = end - first - done < length - position ? end - first - done
                                                                        : length - position;
        widen_values(pattern + position, tile + done, run);
        done += run;
        position = 0;
    }
}

// Per-sample weights of elements [first, end) (sample_size elements share one), one per
// element: the float32 kernel runs the tile with sample_size 1.
FUSEDLOSS_ALWAYS_INLINE void sample_weight_per_element(const double* sample_weight,
                                                   std::int64_t sample_size, std::int64_t first,
                                                   std::int64_t end, double* tile) {
    for (std::int64_t k = first; k < end; ++k) tile[k - first] = sample_weight[k / sample_size];
}

// The samples of an elementwise tile [first, end): one sample of all its elements when there
// are no sample weights (the driver's loops then run over the whole tile at once); else one
// weight per element (the driver expands short samples into per-element weights anyway).
FUSEDLOSS_ALWAYS_INLINE void set_tile_samples(const double* sample_weight, std::int64_t sample_size,
                                              std::int64_t first, std::int64_t end, double* scratch,
                                              std::int64_t& samples, std::int64_t& tile_sample_size,
                                              const double*& tile_sample_weight) {
    if (sample_weight == nullptr) {
        samples = 1;
        tile_sample_size = end - first;
        tile_sample_weight = nullptr;
        return;
    }
    sample_weight_per_element(sample_weight, sample_size, first, end, scratch);
    samples = end - first;
    tile_sample_size = 1;
    tile_sample_weight = scratch;
}

// What differs per argument struct: the units the plan blocks over, the units per tile, the
// scratch a block needs, a tile's float32 arguments (load) and its outputs (store). `hessian_only`
// is the *_hessian kernels' call: only args.hessian is written.
template <template <class> class Args>
struct TileStaging;

template <>
struct TileStaging<ClassificationArgs> {
    template <class Storage>
    static std::int64_t units(const ClassificationArgs<Storage>& args) { return args.rows; }
    template <class Storage>
    static std::int64_t unit_elements(const ClassificationArgs<Storage>& args) { return args.classes; }
    template <class Storage>
    static void allocate(const ClassificationArgs<Storage>& args, std::int64_t tile, TileScratch& scratch) {
        scratch.values = scratch.allocate_floats(tile * args.classes);
        if (args.soft_targets != nullptr) scratch.second = scratch.allocate_floats(tile * args.classes);
        if (args.hessian != nullptr) scratch.hessian = scratch.allocate_floats(tile * args.classes);
        if (args.row_losses != nullptr) scratch.losses = scratch.allocate_floats(tile);
    }
    template <bool hessian_only, class Storage>
    static ClassificationArgs<float> load(const ClassificationArgs<Storage>& args, std::int64_t first,
                                          std::int64_t end, TileScratch& scratch) {
        const std::int64_t classes = args.classes;
        ClassificationArgs<float> tile{};
        widen_rows(args.logits, args.logits_row_stride, classes, first, end, scratch.values);
        tile.logits = scratch.values;
        tile.rows = end - first;
        tile.classes = classes;
        tile.logits_row_stride = classes;
        tile.labels = args.labels == nullptr ? nullptr : args.labels + first;
        tile.has_ignore_index = args.has_ignore_index;
        tile.ignore_index = args.ignore_index;
        tile.class_weight = args.class_weight;
        tile.sample_weight = args.sample_weight == nullptr ? nullptr : args.sample_weight + first;
        tile.gradient_scale = args.gradient_scale;
        if (args.soft_targets != nullptr) {
            widen_rows(args.soft_targets, args.soft_targets_row_stride, classes, first, end,
                       scratch.second);
            tile.soft_targets = scratch.second;
            tile.soft_targets_row_stride = classes;
        }
        tile.label_smoothing = args.label_smoothing;
        tile.z_loss = args.z_loss;
        tile.softcap = args.softcap;
        tile.class_weight_total = args.class_weight_total;
        if (hessian_only) {
            tile.hessian = scratch.hessian;
        } else {
            tile.row_losses = args.row_losses == nullptr ? nullptr : scratch.losses;
            tile.gradient = args.gradient == nullptr ? nullptr : scratch.values;
            tile.argmax = args.argmax == nullptr ? nullptr : args.argmax + first;
        }
        return tile;
    }
    template <bool hessian_only, class Storage>
    static void store(const ClassificationArgs<Storage>& args, const ClassificationArgs<float>& tile,
                      std::int64_t first, std::int64_t end) {
        if (hessian_only) {
            store_staged(tile.hessian, args.hessian, args.rows * args.classes, first * args.classes,
                         (end - first) * args.classes);
            return;
        }
        if (tile.row_losses != nullptr) narrow_values(tile.row_losses, args.row_losses + first, end - first);
        if (tile.gradient != nullptr) {
            store_staged(tile.gradient, args.gradient, args.rows * args.classes, first * args.classes,
                         (end - first) * args.classes);
        }
    }
};

template <>
struct TileStaging<RowLossArgs> {
    template <class Storage>
    static std::int64_t units(const RowLossArgs<Storage>& args) { return args.rows; }
    template <class Storage>
    static std::int64_t unit_elements(const RowLossArgs<Storage>& args) { return args.classes; }
    template <class Storage>
    static void allocate(const RowLossArgs<Storage>& args, std::int64_t tile, TileScratch& scratch) {
        scratch.values = scratch.allocate_floats(tile * args.classes);
        if (args.targets != nullptr) scratch.second = scratch.allocate_floats(tile * args.classes);
        if (args.hessian != nullptr) scratch.hessian = scratch.allocate_floats(tile * args.classes);
        if (args.row_losses != nullptr) scratch.losses = scratch.allocate_floats(tile);
    }
    template <bool hessian_only, class Storage>
    static RowLossArgs<float> load(const RowLossArgs<Storage>& args, std::int64_t first,
                                   std::int64_t end, TileScratch& scratch) {
        const std::int64_t classes = args.classes;
        RowLossArgs<float> tile{};
        widen_rows(args.input, args.input_row_stride, classes, first, end, scratch.values);
        tile.input = scratch.values;
        tile.rows = end - first;
        tile.classes = classes;
        tile.input_row_stride = classes;
        tile.labels = args.labels == nullptr ? nullptr : args.labels + first;
        tile.has_ignore_index = args.has_ignore_index;
        tile.ignore_index = args.ignore_index;
        tile.class_weight = args.class_weight;
        if (args.targets != nullptr) {
            widen_rows(args.targets, args.targets_row_stride, classes, first, end, scratch.second);
            tile.targets = scratch.second;
            tile.targets_row_stride = classes;
        }
        tile.sample_weight = args.sample_weight == nullptr ? nullptr : args.sample_weight + first;
        tile.gradient_scale = args.gradient_scale;
        for (int i = 0; i < row_loss_parameter_count; ++i) tile.parameters[i] = args.parameters[i];
        tile.row_losses = args.row_losses == nullptr ? nullptr : scratch.losses;
        tile.gradient = args.gradient == nullptr ? nullptr : scratch.values;
        tile.hessian = args.hessian == nullptr ? nullptr : scratch.hessian;
        return tile;
    }
    template <bool hessian_only, class Storage>
    static void store(const RowLossArgs<Storage>& args, const RowLossArgs<float>& tile,
                      std::int64_t first, std::int64_t end) {
        const std::int64_t total = args.rows * args.classes;
        const std::int64_t count = (end - first) * args.classes;
        if (tile.row_losses != nullptr) narrow_values(tile.row_losses, args.row_losses + first, end - first);
        if (tile.gradient != nullptr) store_staged(tile.gradient, args.gradient, total, first * args.classes, count);
        if (tile.hessian != nullptr) store_staged(tile.hessian, args.hessian, total, first * args.classes, count);
    }
};

template <>
struct TileStaging<RowSoftmaxArgs> {
    template <class Storage>
    static std::int64_t units(const RowSoftmaxArgs<Storage>& args) { return args.rows; }
    template <class Storage>
    static std::int64_t unit_elements(const RowSoftmaxArgs<Storage>& args) { return args.classes; }
    template <class Storage>
    static void allocate(const RowSoftmaxArgs<Storage>& args, std::int64_t tile, TileScratch& scratch) {
        scratch.values = scratch.allocate_floats(tile * args.classes);
        if (args.mode == row_logsumexp) scratch.losses = scratch.allocate_floats(tile);
    }
    template <bool hessian_only, class Storage>
    static RowSoftmaxArgs<float> load(const RowSoftmaxArgs<Storage>& args, std::int64_t first,
                                      std::int64_t end, TileScratch& scratch) {
        RowSoftmaxArgs<float> tile{};
        widen_rows(args.input, args.input_row_stride, args.classes, first, end, scratch.values);
        tile.input = scratch.values;
        tile.rows = end - first;
        tile.classes = args.classes;
        tile.input_row_stride = args.classes;
        tile.mode = args.mode;
        tile.output = args.mode == row_logsumexp ? scratch.losses : scratch.values;
        return tile;
    }
    template <bool hessian_only, class Storage>
    static void store(const RowSoftmaxArgs<Storage>& args, const RowSoftmaxArgs<float>& tile,
                      std::int64_t first, std::int64_t end) {
        if (args.mode == row_logsumexp) {
            narrow_values(tile.output, args.output + first, end - first);
        } else {
            store_staged(tile.output, args.output, args.rows * args.classes, first * args.classes,
                         (end - first) * args.classes);
        }
    }
};

template <>
struct TileStaging<ElementwiseArgs> {
    template <class Storage>
    static std::int64_t units(const ElementwiseArgs<Storage>& args) { return args.samples * args.sample_size; }
    template <class Storage>
    static std::int64_t unit_elements(const ElementwiseArgs<Storage>&) { return 1; }
    template <class Storage>
    static void allocate(const ElementwiseArgs<Storage>& args, std::int64_t tile, TileScratch& scratch) {
        scratch.values = scratch.allocate_floats(tile);
        scratch.second = scratch.allocate_floats(tile);
        if (args.hessian != nullptr) scratch.hessian = scratch.allocate_floats(tile);
        if (args.element_losses != nullptr) scratch.losses = scratch.allocate_floats(tile);
        if (args.element_weight != nullptr) scratch.weight = scratch.allocate_floats(tile);
        if (args.element_parameter != nullptr) scratch.element_parameter = scratch.allocate_floats(tile);
        if (args.sample_weight != nullptr) scratch.sample_weight = scratch.allocate_doubles(tile);
    }
    template <bool hessian_only, class Storage>
    static ElementwiseArgs<float> load(const ElementwiseArgs<Storage>& args, std::int64_t first,
                                       std::int64_t end, TileScratch& scratch) {
        const std::int64_t count = end - first;
        ElementwiseArgs<float> tile{};
        widen_values(args.prediction + first, scratch.values, count);
        widen_values(args.target + first, scratch.second, count);
        tile.prediction = scratch.values;
        tile.target = scratch.second;
        set_tile_samples(args.sample_weight, args.sample_size, first, end, scratch.sample_weight,
                         tile.samples, tile.sample_size, tile.sample_weight);
        tile.gradient_scale = args.gradient_scale;
        for (int i = 0; i < elementwise_parameter_count; ++i) tile.parameters[i] = args.parameters[i];
        tile.element_losses = args.element_losses == nullptr ? nullptr : scratch.losses;
        tile.gradient = args.gradient == nullptr ? nullptr : scratch.values;
        tile.hessian = args.hessian == nullptr ? nullptr : scratch.hessian;
        tile.target_out_of_domain = args.target_out_of_domain;
        if (args.element_weight != nullptr) {
            widen_periodic(args.element_weight, args.element_weight_length, first, end, scratch.weight);
            tile.element_weight = scratch.weight;
            tile.element_weight_length = count;
        }
        if (args.element_parameter != nullptr) {
            widen_periodic(args.element_parameter, args.element_parameter_length, first, end,
                           scratch.element_parameter);
            tile.element_parameter = scratch.element_parameter;
            tile.element_parameter_length = count;
        }
        return tile;
    }
    template <bool hessian_only, class Storage>
    static void store(const ElementwiseArgs<Storage>& args, const ElementwiseArgs<float>& tile,
                      std::int64_t first, std::int64_t end) {
        const std::int64_t count = end - first;
        const std::int64_t total = args.samples * args.sample_size;
        if (tile.element_losses != nullptr) store_staged(tile.element_losses, args.element_losses, total, first, count);
        if (tile.gradient != nullptr) store_staged(tile.gradient, args.gradient, total, first, count);
        if (tile.hessian != nullptr) store_staged(tile.hessian, args.hessian, total, first, count);
    }
};

template <>
struct TileStaging<PenaltyArgs> {
    template <class Storage>
    static std::int64_t units(const PenaltyArgs<Storage>& args) { return args.count; }
    template <class Storage>
    static std::int64_t unit_elements(const PenaltyArgs<Storage>&) { return 1; }
    template <class Storage>
    static void allocate(const PenaltyArgs<Storage>& args, std::int64_t tile, TileScratch& scratch) {
        scratch.values = scratch.allocate_floats(tile);
        if (args.gradient != nullptr && args.accumulate) scratch.second = scratch.allocate_floats(tile);
    }
    template <bool hessian_only, class Storage>
    static PenaltyArgs<float> load(const PenaltyArgs<Storage>& args, std::int64_t first,
                                   std::int64_t end, TileScratch& scratch) {
        const std::int64_t count = end - first;
        PenaltyArgs<float> tile{};
        widen_values(args.weights + first, scratch.values, count);
        tile.weights = scratch.values;
        tile.count = count;
        tile.kind = args.kind;
        tile.lam = args.lam;
        tile.beta = args.beta;
        tile.accumulate = args.accumulate;
        if (args.gradient != nullptr) {
            // Accumulating: the gradient's old values are read (widened) and the sum rounded once.
            if (args.accumulate) widen_values(args.gradient + first, scratch.second, count);
            tile.gradient = args.accumulate ? scratch.second : scratch.values;
        }
        return tile;
    }
    template <bool hessian_only, class Storage>
    static void store(const PenaltyArgs<Storage>& args, const PenaltyArgs<float>& tile,
                      std::int64_t first, std::int64_t end) {
        if (tile.gradient != nullptr) store_staged(tile.gradient, args.gradient, args.count, first, end - first);
    }
};

// The 16-bit kernel made of the float32 kernel `kernel32`: blocks as the plan says, tiles
// inside each block, the tile sums added in order. The *_hessian kernels pass hessian_only.
template <template <class> class Args, class Storage, double (*kernel32)(const Args<float>&, const ReductionPlan&),
          bool hessian_only = false>
double staged_kernel(const Args<Storage>& args, const ReductionPlan& plan) {
    using Staging = TileStaging<Args>;
    const std::int64_t unit_elements = Staging::unit_elements(args) > 0 ? Staging::unit_elements(args) : 1;
    const std::int64_t tile_units = staged_tile_elements / unit_elements > 0
                                        ? staged_tile_elements / unit_elements
                                        : 1;
    return sum_over_blocks(Staging::units(args), plan, [&](std::int64_t first, std::int64_t end) {
        const std::int64_t block_tile = end - first < tile_units ? end - first : tile_units;
        TileScratch measure;
        Staging::allocate(args, block_tile, measure);
        TileScratch scratch;
        scratch.base = thread_scratch_memory(measure.used);
        if (scratch.base == nullptr) {
            if (plan.allocation_failed != nullptr) *plan.allocation_failed = 1;
            return 0.0;
        }
        Staging::allocate(args, block_tile, scratch);
        double total = 0.0;
        for (std::int64_t tile_first = first; tile_first < end; tile_first += tile_units) {
            const std::int64_t tile_end = end - tile_first < tile_units ? end : tile_first + tile_units;
            const Args<float> tile = Staging::template load<hessian_only>(args, tile_first, tile_end, scratch);
            double tile_sum = 0.0;
            const ReductionPlan one_block{tile_end - tile_first, 1, &tile_sum, 1, nullptr};
            total += kernel32(tile, one_block);
            Staging::template store<hessian_only>(args, tile, tile_first, tile_end);
        }
        release_large_thread_scratch();
        return total;
    });
}

// A KernelsByType entry from the float32 and float64 kernels: the 16-bit ones are staged.
template <template <class> class Args, template <class> class Kernel,
          double (*kernel32)(const Args<float>&, const ReductionPlan&), bool hessian_only = false>
constexpr KernelsByType<Kernel> kernels_by_type(Kernel<double> kernel64) {
    return KernelsByType<Kernel>{kernel32, kernel64,
                                 &staged_kernel<Args, bfloat16_bits, kernel32, hessian_only>,
                                 &staged_kernel<Args, float16_bits, kernel32, hessian_only>};
}

// row_softmax returns nothing: its 16-bit kernels run the adapter on a float32 kernel that
// returns 0 (building_blocks.inl defines it).
template <class Real>
double row_softmax_returning_zero(const RowSoftmaxArgs<Real>& args, const ReductionPlan& plan);

template <class Storage>
void staged_row_softmax(const RowSoftmaxArgs<Storage>& args, const ReductionPlan& plan) {
    staged_kernel<RowSoftmaxArgs, Storage, &row_softmax_returning_zero<float>>(args, plan);
}

}  // namespace
}  // namespace FUSEDLOSS_ISA_NAMESPACE
}  // namespace fusedloss
