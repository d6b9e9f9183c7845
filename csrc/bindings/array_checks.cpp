#include "bindings/array_checks.hpp"

#include <algorithm>
#include <new>

#include "fusedloss/dispatch.hpp"
#include "fusedloss/work_pool.hpp"

namespace fusedloss {
namespace bindings {

Reduction reduction_from_code(int code) {
    if (code < 0 || code > 2) throw py::value_error("reduction code must be 0, 1 or 2");
    return static_cast<Reduction>(code);
}

RowsView check_rows(const py::array& array, const char* name) {
    if (array.ndim() != 2) throw py::value_error(std::string(name) + ": expected a 2-d array");
    const py::ssize_t itemsize = array.itemsize();
    const std::int64_t columns = array.shape(1);
    // NumPy gives empty arrays arbitrary strides, (0, 0) included; nothing will be read.
    if (array.size() == 0) return RowsView{array.shape(0), columns, columns};
    if (columns > 1 && array.strides(1) != itemsize) {
        throw py::value_error(std::string(name) + ": the last axis must be contiguous");
    }
    if (array.strides(0) % itemsize != 0) {
        throw py::value_error(std::string(name) + ": row stride is not a multiple of the item size");
    }
    if (reinterpret_cast<std::uintptr_t>(array.data()) % static_cast<std::uintptr_t>(itemsize) != 0) {
        throw py::value_error(std::string(name) + ": the data must be aligned to its item size");
    }
    return RowsView{array.shape(0), columns, array.strides(0) / itemsize};
}

void check_c_contiguous(const py::array& array, const char* name) {
    if (!(array.flags() & py::array::c_style)) {
        throw py::value_error(std::string(name) + ": expected a C-contiguous array");
    }
}

py::array checked_operand(const py::object& object, const py::array& prediction, const char* name,
                          const char* prediction_name) {
    if (!py::isinstance<py::array>(object)) throw py::type_error(std::string(name) + ": expected an array");
    auto array = py::reinterpret_borrow<py::array>(object);
    if (!array.dtype().equal(prediction.dtype())) {
        throw py::type_error(std::string(name) + ": expected the dtype of " + prediction_name);
    }
    check_c_contiguous(array, name);
    return array;
}

namespace {
// [lowest byte, one past the highest byte] spanned by an array; empty arrays span nothing.
std::pair<std::uintptr_t, std::uintptr_t> byte_extent(const py::array& array) {
    const auto start = reinterpret_cast<std::uintptr_t>(array.data());
    if (array.size() == 0) return {start, start};
    std::intptr_t low = 0, high = 0;
    for (py::ssize_t axis = 0; axis < array.ndim(); ++axis) {
        const std::intptr_t span = (array.shape(axis) - 1) * array.strides(axis);
        (span < 0 ? low : high) += span;
    }
    return {start + low, start + high + array.itemsize()};
}
}  // namespace

bool memory_overlaps(const py::array& first, const py::array& second) {
    const auto a = byte_extent(first), b = byte_extent(second);
    return a.first < b.second && b.first < a.second;
}

void check_gradient_out(const py::array& out, const std::vector<py::ssize_t>& shape,
                        const py::array& replaceable, const std::vector<py::object>& inputs) {
    if (out.ndim() != static_cast<py::ssize_t>(shape.size()) ||
        !std::equal(shape.begin(), shape.end(), out.shape())) {
        // Worded as the Python checks word it: "out: expected shape (20,), got (21,)".
        py::tuple expected(shape.size()), given(out.ndim());
        for (std::size_t i = 0; i < shape.size(); ++i) expected[i] = py::int_(shape[i]);
        for (py::ssize_t i = 0; i < out.ndim(); ++i) given[static_cast<std::size_t>(i)] = py::int_(out.shape(i));
        throw py::value_error("out: expected shape " + std::string(py::repr(expected)) + ", got " +
                              std::string(py::repr(given)));
    }
    check_c_contiguous(out, "out");
    if (!out.writeable()) throw py::value_error("out: expected a writeable array, got a read-only one");
    // The kernels store whole vectors of the item type: a misaligned store is undefined
    // behaviour (UBSan flagged every kernel family), so an unaligned out is refused here too.
    if (reinterpret_cast<std::uintptr_t>(out.data()) % static_cast<std::uintptr_t>(out.itemsize()) != 0) {
        throw py::value_error("out: expected an array aligned to its item size (" +
                              std::to_string(out.itemsize()) + " bytes)");
    }
    const bool is_replaceable = out.data() == replaceable.data() &&
                                std::equal(out.strides(), out.strides() + out.ndim(),
                                           replaceable.strides());
    if (!is_replaceable && memory_overlaps(out, replaceable)) {
        throw py::value_error(
            "out: overlaps the first argument without being the same array (expected the first "
            "argument itself, same dtype, shape and strides, or a separate buffer)");
    }
    for (const py::object& input : inputs) {
        if (input.is_none()) continue;
        if (memory_overlaps(out, py::reinterpret_borrow<py::array>(input))) {
            throw py::value_error("out: overlaps another input array; expected a separate buffer");
        }
    }
}

ReductionPlan make_reduction_plan(std::int64_t units, std::int64_t elements_per_unit,
                                  int threads_requested, ReductionStorage& storage) {
    // Blocks of about 16K elements: big enough that scheduling costs nothing, small enough to
    // balance two threads over a 32-row batch of 128000 classes or 16 threads over 10^6 MSE
    // elements. The partition depends on the shape alone (never on the thread count).
    const std::int64_t elements_per_block = 16384;
    // Below this much work a parallel region costs more than it saves.
    const std::int64_t elements_per_thread_minimum = 32768;
    const std::int64_t per_unit = std::max<std::int64_t>(elements_per_unit, 1);
    ReductionPlan plan{};
    plan.rows_per_block = std::max<std::int64_t>(1, elements_per_block / per_unit);
    plan.blocks = units == 0 ? 0 : (units + plan.rows_per_block - 1) / plan.rows_per_block;
    storage.block_sums.assign(static_cast<std::size_t>(plan.blocks), 0.0);
    plan.block_sums = storage.block_sums.data();
    storage.allocation_failed = 0;
    plan.allocation_failed = &storage.allocation_failed;
    const std::int64_t work = units * per_unit;
    const std::int64_t useful = std::max<std::int64_t>(1, work / elements_per_thread_minimum);
    // The default (a syscall for the affinity mask) is looked up only when threads would help.
    std::int64_t threads = threads_requested > 0 ? threads_requested
                         : useful > 1           ? default_thread_count()
                                                : 1;
    threads = std::min(threads, useful);
    threads = std::min(threads, std::max<std::int64_t>(1, plan.blocks));
    plan.threads = static_cast<int>(std::max<std::int64_t>(1, threads));
    return plan;
}

double stored_value(bfloat16_bits value) {
    float widened = 0.0f;
    active_kernels().widen_bfloat16(&value, &widened, 1);
    return widened;
}
double stored_value(float16_bits value) {
    float widened = 0.0f;
    active_kernels().widen_float16(&value, &widened, 1);
    return widened;
}

void check_allocation(const ReductionPlan& plan) {
    if (plan.allocation_failed != nullptr && *plan.allocation_failed != 0) throw std::bad_alloc();
}

void raise_label_error(const std::int64_t* labels, std::int64_t row, std::int64_t classes,
                       const py::object& batch_shape) {
    std::string where = "row " + std::to_string(row);
    if (!batch_shape.is_none() && py::len(batch_shape) > 1) {
        const auto shape = py::reinterpret_borrow<py::tuple>(batch_shape);
        py::tuple index(shape.size());
        std::int64_t rest = row;
        for (std::size_t axis = shape.size(); axis-- > 0;) {
            const std::int64_t extent = shape[axis].cast<std::int64_t>();
            index[axis] = py::int_(extent ? rest % extent : 0);
            rest = extent ? rest / extent : 0;
        }
        where += " (batch index " + std::string(py::repr(index)) + ")";
    }
    throw py::value_error("labels: label " + std::to_string(labels[row]) + " at " + where +
                          " is out of range: expected a class index in [0, " +
                          std::to_string(classes) + ")");
}

double gradient_scale(Reduction reduction, double denominator) {
    if (reduction != Reduction::mean) return 1.0;
    return denominator != 0.0 ? 1.0 / denominator : 0.0;
}

void check_sample_size(std::int64_t elements, std::int64_t sample_size) {
    if (sample_size < 1 || (elements > 0 && elements % sample_size != 0)) {
        throw py::value_error("sample_size must be >= 1 and divide the number of elements");
    }
}

double elementwise_mean_denominator(const double* sample_weight, std::int64_t samples,
                                    std::int64_t sample_size, std::int64_t elements) {
    if (sample_weight == nullptr) return static_cast<double>(elements);
    double weight_sum = 0.0;
    for (std::int64_t sample = 0; sample < samples; ++sample) weight_sum += sample_weight[sample];
    return weight_sum * static_cast<double>(sample_size);
}

// Not inlined: inside a large binding function GCC kept the running float64 sum below in a
// stack slot (a store and a reload per row, ~11 cycles: 0.15 ms at 65536 weighted rows); on its
// own it stays in a register.
#if defined(__GNUC__)
__attribute__((noinline))
#endif
LabelSummary summarize_labels(const std::int64_t* labels, std::int64_t rows, std::int64_t classes,
                              bool has_ignore_index, std::int64_t ignore_index,
                              const double* sample_weight, const double* class_weight) {
    const bool weighted = sample_weight != nullptr || class_weight != nullptr;
    // First the common case, every label in [0, C): label | (C - 1 - label) has its top bit
    // clear exactly then (unsigned arithmetic: no overflow), a subtract and two ORs per row
    // that vectorise even on the baseline build (which has no 64-bit compare). Then, only if
    // some label is outside, the exact pass with ignore_index. Without weights the
    // denominator is a count: no float add per row.
    const std::uint64_t last_class = static_cast<std::uint64_t>(classes - 1);
    std::uint64_t outside_bits = 0;
    for (std::int64_t row = 0; row < rows; ++row) {
        const std::uint64_t label = static_cast<std::uint64_t>(labels[row]);
        outside_bits |= label | (last_class - label);
    }
    std::int64_t ignored = 0;
    if ((outside_bits >> 63) == 0) {
        // All in range: only an ignore_index inside [0, C) can match a row.
        if (has_ignore_index && ignore_index >= 0 && ignore_index < classes) {
            for (std::int64_t row = 0; row < rows; ++row) ignored += labels[row] == ignore_index;
        }
    } else {
        for (std::int64_t row = 0; row < rows; ++row) {
            const std::int64_t label = labels[row];
            if (has_ignore_index && label == ignore_index) {
                ++ignored;
                continue;
            }
            if (label < 0 || label >= classes) return {row, 0.0};
        }
    }
    if (!weighted) return {-1, static_cast<double>(rows - ignored)};
    // Row weights added left to right in float64: fusedloss.dask repeats these additions
    // chunk by chunk to get the same denominator bits (dask.py, _denominator).
    double denominator = 0.0;
    for (std::int64_t row = 0; row < rows; ++row) {
        const std::int64_t label = labels[row];
        if (has_ignore_index && label == ignore_index) continue;
        double weight = 1.0;
        if (sample_weight != nullptr) weight *= sample_weight[row];
        if (class_weight != nullptr) weight *= class_weight[label];
        denominator += weight;
    }
    return {-1, denominator};
}

double row_mean_denominator(const double* sample_weight, std::int64_t rows) {
    if (sample_weight == nullptr) return static_cast<double>(rows);
    double denominator = 0.0;
    for (std::int64_t row = 0; row < rows; ++row) denominator += sample_weight[row];
    return denominator;
}

}  // namespace bindings
}  // namespace fusedloss
