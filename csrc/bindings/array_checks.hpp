// Checks the bindings make before handing raw pointers to a kernel. The Python layer already
// validates with friendlier messages; these make _core itself safe to call (no out-of-bounds
// access, no write to a read-only or overlapping buffer, whatever it is given).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/storage_types.hpp"
#include "fusedloss/kernel_table.hpp"

namespace fusedloss {
namespace bindings {

namespace py = pybind11;

enum class Reduction : int { none = 0, sum = 1, mean = 2 };

Reduction reduction_from_code(int code);

// A 2-d array whose last axis is contiguous (any row stride, any sign).
struct RowsView {
    std::int64_t rows;
    std::int64_t columns;
    std::int64_t row_stride;  // elements
};
RowsView check_rows(const py::array& array, const char* name);

void check_c_contiguous(const py::array& array, const char* name);

// A C-contiguous array of `count` elements of type T, or null when `array` is None.
template <class T>
const T* optional_vector(const py::object& array, std::int64_t count, const char* name) {
    if (array.is_none()) return nullptr;
    if (!py::isinstance<py::array_t<T>>(array)) {
        throw py::type_error(std::string(name) + ": expected an array of " +
                             std::string(py::str(py::dtype::of<T>())));
    }
    const auto vector = py::reinterpret_borrow<py::array>(array);
    if (vector.ndim() != 1 || vector.shape(0) != count) {
        throw py::value_error(std::string(name) + ": expected shape (" + std::to_string(count) +
                              ",)");
    }
    check_c_contiguous(vector, name);
    return static_cast<const T*>(vector.data());
}

// An operand (not None) checked to be an array of prediction's dtype, C-contiguous;
// `prediction_name` names prediction in the error ("logits").
py::array checked_operand(const py::object& object, const py::array& prediction, const char* name,
                          const char* prediction_name);

// A C-contiguous, non-empty array of prediction's dtype (any size: a periodic weight, element
// k reads entry k % size), or null when None. Sets `length` to its size. (Sigmoid BCE's
// weight and pos_weight, sigmoid_focal_loss's weight.)
template <class Real>
const Real* periodic_operand(const py::object& object, const py::array& prediction,
                             const char* name, const char* prediction_name, std::int64_t& length) {
    length = 0;
    if (object.is_none()) return nullptr;
    const py::array array = checked_operand(object, prediction, name, prediction_name);
    if (array.size() < 1) throw py::value_error(std::string(name) + ": expected at least one entry");
    length = static_cast<std::int64_t>(array.size());
    return static_cast<const Real*>(array.data());
}

// True when the byte ranges spanned by the two arrays intersect.
bool memory_overlaps(const py::array& first, const py::array& second);

// The gradient buffer: `out` checked (dtype, shape, C order, writeable, and overlapping none of
// `inputs` except by being exactly `replaceable`, the input it may overwrite), or a new array.
void check_gradient_out(const py::array& out, const std::vector<py::ssize_t>& shape,
                        const py::array& replaceable, const std::vector<py::object>& inputs);

template <class Real>
py::array_t<Real> gradient_buffer(const py::object& out, const std::vector<py::ssize_t>& shape,
                                  const py::array& replaceable,
                                  const std::vector<py::object>& inputs) {
    if (out.is_none()) return py::array_t<Real>(shape);
    if (!py::isinstance<py::array>(out)) {
        throw py::value_error("out: expected a numpy.ndarray of " +
                              std::string(py::str(py::dtype::of<Real>())));
    }
    if (!py::reinterpret_borrow<py::array>(out).dtype().equal(py::dtype::of<Real>())) {
        throw py::value_error("out: expected dtype " + std::string(py::str(py::dtype::of<Real>())) +
                              ", got " + std::string(py::str(py::reinterpret_borrow<py::array>(out).dtype())));
    }
    auto buffer = py::reinterpret_borrow<py::array_t<Real>>(out);
    check_gradient_out(buffer, shape, replaceable, inputs);
    return buffer;
}

// The error of an out-of-range label, worded as the Python checks word it: its value, its flat
// row and, for more than one batch axis (`batch_shape` a tuple of them, or None), its batch
// index, and the valid range. The kernels' one protocol for a bad label: raised here, in C++.
[[noreturn]] void raise_label_error(const std::int64_t* labels, std::int64_t row,
                                    std::int64_t classes, const py::object& batch_shape);

// The labels of a row-wise loss, read once before any gradient is written (so that a bad label
// never leaves a half-written `out`, which may be the caller's logits): the first row whose
// label lies outside [0, classes) (ignore_index aside), and the "mean" denominator, the sum of
// the row weights sample_weight[i] * class_weight[y_i] over non-ignored rows (class_weight
// null where the loss's mean does not divide by class weights: the hinge, as torch).
struct LabelSummary {
    std::int64_t invalid_row;  // or -1
    double denominator;
};
LabelSummary summarize_labels(const std::int64_t* labels, std::int64_t rows, std::int64_t classes,
                              bool has_ignore_index, std::int64_t ignore_index,
                              const double* sample_weight, const double* class_weight);

// The "mean" denominator of a loss that divides by rows: N, or the summed sample weights
// (added left to right in float64, as fusedloss.dask repeats them).
double row_mean_denominator(const double* sample_weight, std::int64_t rows);

// Splits `units` work items (rows, or elements) into blocks for the deterministic reduction
// and picks the thread count (0 requested: the OpenMP default).
// What a plan points to, owned by the binding for the call: the block sums and the flag a
// kernel sets when its scratch could not be allocated.
struct ReductionStorage {
    std::vector<double> block_sums;
    int allocation_failed = 0;
};
ReductionPlan make_reduction_plan(std::int64_t units, std::int64_t elements_per_unit,
                                  int threads_requested, ReductionStorage& storage);

// After a kernel ran: MemoryError (std::bad_alloc) when it could not allocate its scratch.
void check_allocation(const ReductionPlan& plan);

// The value of a reduced loss, or the per-row array under reduction "none".
template <class Real>
py::object reduced_value(Reduction reduction, double total, double denominator,
                         const py::array_t<Real>& row_losses) {
    if (reduction == Reduction::none) return row_losses;
    if (reduction == Reduction::sum) return py::float_(total);
    return py::float_(denominator != 0.0 ? total / denominator : 0.0);
}

// 1 / denominator under "mean" (0 when there is nothing to average), else 1.
double gradient_scale(Reduction reduction, double denominator);

// Elementwise losses (MSE, sigmoid BCE): `sample_size` consecutive elements share one sample
// weight, so it must be >= 1 and divide the element count.
void check_sample_size(std::int64_t elements, std::int64_t sample_size);

// Their "mean" denominator: the element count, or sum(sample_weight) * sample_size.
double elementwise_mean_denominator(const double* sample_weight, std::int64_t samples,
                                    std::int64_t sample_size, std::int64_t elements);

}  // namespace bindings
}  // namespace fusedloss
