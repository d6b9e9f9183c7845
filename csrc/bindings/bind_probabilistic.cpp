// Bindings of the probabilistic losses: sigmoid binary cross-entropy (elementwise) and the
// cross-entropy of given probabilities (row-wise).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_checks.hpp"
#include "bindings/register.hpp"
#include "fusedloss/dispatch.hpp"

namespace fusedloss {
namespace bindings {
namespace {

// A C-contiguous array of prediction's dtype and size, or null when None.
template <class Real>
const Real* same_layout(const py::object& object, const py::array& prediction, const char* name) {
    if (object.is_none()) return nullptr;
    const py::array array = checked_operand(object, prediction, name, "logits");
    if (array.size() != prediction.size()) {
        throw py::value_error(std::string(name) + ": size differs from logits");
    }
    return static_cast<const Real*>(array.data());
}

template <class Real>
py::tuple run_sigmoid_bce(const py::array& logits, const py::object& targets,
                          const py::object& weight, const py::object& pos_weight,
                          const py::object& sample_weight, std::int64_t sample_size,
                          int reduction_code, bool with_gradient, const py::object& out,
                          int threads, bool with_hessian, const py::object& hessian_out) {
    const Reduction reduction = reduction_from_code(reduction_code);
    check_c_contiguous(logits, "logits");
    const std::int64_t elements = logits.size();
    check_sample_size(elements, sample_size);
    SigmoidBinaryArgs<Real> args{};
    args.logits = static_cast<const Real*>(logits.data());
    args.targets = same_layout<Real>(targets, logits, "targets");
    if (args.targets == nullptr) throw py::value_error("targets: expected an array");
    args.weight = periodic_operand<Real>(weight, logits, "weight", "logits", args.weight_length);
    args.pos_weight = periodic_operand<Real>(pos_weight, logits, "pos_weight", "logits",
                                             args.pos_weight_length);
    args.sample_size = sample_size;
    args.samples = elements / sample_size;
    args.sample_weight = optional_vector<double>(sample_weight, args.samples, "sample_weight");

    const double denominator =
        elementwise_mean_denominator(args.sample_weight, args.samples, sample_size, elements);
    args.gradient_scale = gradient_scale(reduction, denominator);

    std::vector<py::ssize_t> shape(logits.shape(), logits.shape() + logits.ndim());
    py::array_t<Real> element_losses(reduction == Reduction::none ? shape
                                                                  : std::vector<py::ssize_t>{0});
    if (reduction == Reduction::none) args.element_losses = element_losses.mutable_data();
    py::object gradient = py::none();
    if (with_gradient) {
        auto buffer = gradient_buffer<Real>(out, shape, logits,
                                            {targets, weight, pos_weight, sample_weight});
        args.gradient = buffer.mutable_data();
        gradient = buffer;
    } else if (!out.is_none()) {
        throw py::value_error("out receives the gradient: pass return_grad=True to use it");
    }

    // return_hessian: a separate pass before the loss kernel (which may overwrite the logits).
    py::object hessian = py::none();
    if (with_hessian) {
        auto buffer = gradient_buffer<Real>(hessian_out, shape, logits,
                                            {logits, targets, weight, pos_weight, sample_weight,
                                             gradient});
        args.hessian = buffer.mutable_data();
        hessian = buffer;
    }

    std::vector<double> block_sums;
    const ReductionPlan plan = make_reduction_plan(elements, 1, threads, block_sums);
    const KernelTable& kernels = active_kernels();
    const SigmoidBinaryKernel<Real> kernel = select_by_type<Real>(
        kernels.sigmoid_binary_cross_entropy_f32, kernels.sigmoid_binary_cross_entropy_f64);
    double total;
    {
        py::gil_scoped_release release;
        if (with_hessian) {
            select_by_type<Real>(kernels.sigmoid_binary_cross_entropy_hessian_f32,
                                 kernels.sigmoid_binary_cross_entropy_hessian_f64)(args, plan);
        }
        total = kernel(args, plan);
    }
    if (with_hessian) {
        return py::make_tuple(reduced_value<Real>(reduction, total, denominator, element_losses),
                              gradient, hessian);
    }
    return py::make_tuple(reduced_value<Real>(reduction, total, denominator, element_losses),
                          gradient);
}

// Returns (value, gradient or None, first row with an invalid label or -1).
template <class Real>
py::tuple run_cross_entropy(const py::array& probs, const py::object& labels,
                            const py::object& targets, double eps,
                            const py::object& sample_weight, int reduction_code,
                            bool with_gradient, const py::object& out, int threads,
                            bool with_hessian, const py::object& hessian_out,
                            const py::object& batch_shape) {
    const Reduction reduction = reduction_from_code(reduction_code);
    const RowsView view = check_rows(probs, "probs");
    if (view.columns < 1) throw py::value_error("probs: expected at least one class");
    ProbabilityArgs<Real> args{};
    args.probs = static_cast<const Real*>(probs.data());
    args.rows = view.rows;
    args.classes = view.columns;
    args.probs_row_stride = view.row_stride;
    args.eps = eps;
    if (labels.is_none() == targets.is_none()) {
        throw py::value_error("pass exactly one of labels and targets");
    }
    args.labels = optional_vector<std::int64_t>(labels, view.rows, "labels");
    if (!targets.is_none()) {
        if (!py::isinstance<py::array>(targets)) throw py::type_error("targets: expected an array");
        const auto t = py::reinterpret_borrow<py::array>(targets);
        if (!t.dtype().equal(probs.dtype())) throw py::type_error("targets: expected the dtype of probs");
        check_c_contiguous(t, "targets");
        if (t.ndim() != 2 || t.shape(0) != view.rows || t.shape(1) != view.columns) {
            throw py::value_error("targets: expected the shape of probs");
        }
        args.targets = static_cast<const Real*>(t.data());
    }
    std::int64_t invalid_row = -1;
    if (args.labels != nullptr) {
        for (std::int64_t row = 0; row < view.rows; ++row) {
            if (args.labels[row] < 0 || args.labels[row] >= view.columns) {
                invalid_row = row;
                break;
            }
        }
    }
    args.sample_weight = optional_vector<double>(sample_weight, view.rows, "sample_weight");
    double denominator = static_cast<double>(view.rows);
    if (args.sample_weight != nullptr) {
        denominator = 0.0;
        for (std::int64_t row = 0; row < view.rows; ++row) denominator += args.sample_weight[row];
    }
    args.gradient_scale = gradient_scale(reduction, denominator);

    py::array_t<Real> row_losses(reduction == Reduction::none ? view.rows : 0);
    if (reduction == Reduction::none) args.row_losses = row_losses.mutable_data();
    py::object gradient = py::none();
    if (with_gradient) {
        auto buffer = gradient_buffer<Real>(out, {view.rows, view.columns}, probs,
                                            {labels, targets, sample_weight});
        args.gradient = buffer.mutable_data();
        gradient = buffer;
    } else if (!out.is_none()) {
        throw py::value_error("out receives the gradient: pass return_grad=True to use it");
    }
    // After the out checks, before anything is written (the Python checks' order).
    if (invalid_row >= 0) raise_label_error(args.labels, invalid_row, view.columns, batch_shape);
    // return_hessian: a separate pass before the loss kernel (which may overwrite the probs).
    py::object hessian = py::none();
    if (with_hessian) {
        auto buffer = gradient_buffer<Real>(hessian_out, {view.rows, view.columns}, probs,
                                            {probs, labels, targets, sample_weight, gradient});
        args.hessian = buffer.mutable_data();
        hessian = buffer;
    }

    std::vector<double> block_sums;
    const ReductionPlan plan = make_reduction_plan(view.rows, view.columns, threads, block_sums);
    const KernelTable& kernels = active_kernels();
    const ProbabilityKernel<Real> kernel =
        select_by_type<Real>(kernels.cross_entropy_f32, kernels.cross_entropy_f64);
    double total;
    {
        py::gil_scoped_release release;
        if (with_hessian) {
            select_by_type<Real>(kernels.cross_entropy_hessian_f32,
                                 kernels.cross_entropy_hessian_f64)(args, plan);
        }
        total = kernel(args, plan);
    }
    return py::make_tuple(reduced_value<Real>(reduction, total, denominator, row_losses),
                          gradient, hessian);
}

}  // namespace

void register_probabilistic(py::module_& module) {
    module.def(
        "sigmoid_binary_cross_entropy",
        [](const py::array& logits, const py::object& targets, const py::object& weight,
           const py::object& pos_weight, const py::object& sample_weight,
           std::int64_t sample_size, int reduction, bool with_gradient, const py::object& out,
           int threads, bool with_hessian, const py::object& hessian_out) {
            if (logits.dtype().equal(py::dtype::of<float>())) {
                return run_sigmoid_bce<float>(logits, targets, weight, pos_weight, sample_weight,
                                              sample_size, reduction, with_gradient, out, threads,
                                              with_hessian, hessian_out);
            }
            if (logits.dtype().equal(py::dtype::of<double>())) {
                return run_sigmoid_bce<double>(logits, targets, weight, pos_weight, sample_weight,
                                               sample_size, reduction, with_gradient, out,
                                               threads, with_hessian, hessian_out);
            }
            throw py::type_error("logits: expected float32 or float64");
        },
        py::arg("logits"), py::arg("targets"), py::arg("weight"), py::arg("pos_weight"),
        py::arg("sample_weight"), py::arg("sample_size"), py::arg("reduction"),
        py::arg("with_gradient"), py::arg("out"), py::arg("threads"),
        py::arg("with_hessian") = false, py::arg("hessian_out") = py::none(),
        "Sigmoid binary cross-entropy of C-contiguous arrays of one dtype: logits and targets "
        "of one size; weight and pos_weight periodic (element k reads entry k % size). Returns "
        "(value, gradient or None), and the diagonal Hessian third with with_hessian=True.");
    module.def(
        "cross_entropy",
        [](const py::array& probs, const py::object& labels, const py::object& targets,
           double eps, const py::object& sample_weight, int reduction, bool with_gradient,
           const py::object& out, int threads, bool with_hessian,
           const py::object& hessian_out, const py::object& batch_shape) {
            if (probs.dtype().equal(py::dtype::of<float>())) {
                return run_cross_entropy<float>(probs, labels, targets, eps, sample_weight,
                                                reduction, with_gradient, out, threads,
                                                with_hessian, hessian_out, batch_shape);
            }
            if (probs.dtype().equal(py::dtype::of<double>())) {
                return run_cross_entropy<double>(probs, labels, targets, eps, sample_weight,
                                                 reduction, with_gradient, out, threads,
                                                 with_hessian, hessian_out, batch_shape);
            }
            throw py::type_error("probs: expected float32 or float64");
        },
        py::arg("probs"), py::arg("labels"), py::arg("targets"), py::arg("eps"),
        py::arg("sample_weight"), py::arg("reduction"), py::arg("with_gradient"), py::arg("out"),
        py::arg("threads"), py::arg("with_hessian") = false, py::arg("hessian_out") = py::none(),
        py::arg("batch_shape") = py::none(),
        "Cross-entropy of probabilities (rows, classes) with int64 labels or soft targets. "
        "Returns (value, gradient or None, hessian or None); an out-of-range label raises "
        "ValueError before anything is written.");
}

}  // namespace bindings
}  // namespace fusedloss
