// The binding of every row-wise loss of the registry (csrc/kernels/classification_losses.inl):
// one function, `row_loss(name, ...)`, that finds the loss's kernel by name in the active kernel
// table (softmax cross-entropy, whose options kernel takes its own arguments, through
// bind_classification.cpp). A new row-wise loss needs no binding of its own.
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

// Softmax cross-entropy's kernel has its own arguments and options (bind_classification.cpp).
constexpr const char* softmax_cross_entropy_name = "softmax_cross_entropy";

const RowLossEntry& find_row_loss(const std::string& name) {
    const KernelTable& kernels = active_kernels();
    for (int i = 0; i < kernels.row_loss_count; ++i) {
        if (name == kernels.row_losses[i].name) return kernels.row_losses[i];
    }
    throw py::value_error("no row-wise kernel named '" + name + "'");
}

struct RowLossCall {
    py::tuple parameters;
    py::object class_weight;
    py::object sample_weight;
    py::object ignore_index;  // None or int
    bool class_weight_in_mean;
    int reduction;
    bool with_gradient;
    bool with_hessian;
    py::object out;
    py::object hessian_out;
    int threads;
    py::object batch_shape;  // the labels' batch shape, named in a bad label's error; None: 1-d
};

template <class Real>
py::tuple run_row_loss(const RowLossEntry& entry, const py::array& input, const py::object& second,
                       const RowLossCall& call) {
    const Reduction reduction = reduction_from_code(call.reduction);
    const RowsView view = check_rows(input, "input");
    if (view.columns < 1) throw py::value_error("input: expected at least one class");
    if (static_cast<int>(call.parameters.size()) > row_loss_parameter_count) {
        throw py::value_error("parameters: at most " + std::to_string(row_loss_parameter_count));
    }
    if (call.with_hessian && !call.with_gradient) {
        throw py::value_error("with_hessian needs with_gradient");
    }
    RowLossArgs<Real> args{};
    args.input = static_cast<const Real*>(input.data());
    args.rows = view.rows;
    args.classes = view.columns;
    args.input_row_stride = view.row_stride;
    args.sample_weight = optional_vector<double>(call.sample_weight, view.rows, "sample_weight");
    for (std::size_t i = 0; i < call.parameters.size(); ++i) {
        args.parameters[i] = call.parameters[i].cast<double>();
    }
    if (entry.takes_labels) {
        if (second.is_none()) throw py::type_error("labels: expected an array of int64");
        args.labels = optional_vector<std::int64_t>(second, view.rows, "labels");
        args.has_ignore_index = call.ignore_index.is_none() ? 0 : 1;
        args.ignore_index = args.has_ignore_index ? call.ignore_index.cast<std::int64_t>() : 0;
        args.class_weight = optional_vector<double>(call.class_weight, view.columns, "weight");
    } else {
        if (!py::isinstance<py::array_t<Real>>(second)) {
            throw py::type_error("targets: expected the input's dtype");
        }
        const auto second_array = py::reinterpret_borrow<py::array>(second);
        const RowsView target_view = check_rows(second_array, "targets");
        if (target_view.rows != view.rows || target_view.columns != view.columns) {
            throw py::value_error("targets: expected the input's shape");
        }
        args.targets = static_cast<const Real*>(second_array.data());
        args.targets_row_stride = target_view.row_stride;
        if (!call.class_weight.is_none()) throw py::value_error("weight: this loss takes none");
    }

    // Only the arrays that are returned are allocated (call overhead of small batches).
    py::array_t<Real> row_losses(reduction == Reduction::none ? view.rows : 0);
    if (reduction == Reduction::none) args.row_losses = row_losses.mutable_data();
    const std::vector<py::ssize_t> shape{view.rows, view.columns};
    py::object gradient = py::none();
    py::object hessian = py::none();
    if (call.with_gradient) {
        auto buffer = gradient_buffer<Real>(call.out, shape, input,
                                            {second, call.class_weight, call.sample_weight});
        args.gradient = buffer.mutable_data();
        gradient = buffer;
    } else if (!call.out.is_none()) {
        throw py::value_error("out receives the gradient: pass return_grad=True to use it");
    }
    if (call.with_hessian) {
        // The Hessian may overwrite nothing that the kernel reads, nor the gradient.
        auto buffer = gradient_buffer<Real>(call.hessian_out, shape, py::array_t<Real>(0),
                                            {input, second, call.class_weight, call.sample_weight,
                                             gradient});
        args.hessian = buffer.mutable_data();
        hessian = buffer;
    } else if (!call.hessian_out.is_none()) {
        throw py::value_error("out: a Hessian buffer needs return_hessian=True");
    }

    // After the out checks (a bad out is reported before a bad label), before anything is
    // written. The registry entry says which "mean" denominator the loss has.
    double denominator;
    if (entry.takes_labels) {
        const LabelSummary summary = summarize_labels(
            args.labels, view.rows, view.columns, args.has_ignore_index != 0, args.ignore_index,
            args.sample_weight, call.class_weight_in_mean ? args.class_weight : nullptr);
        if (summary.invalid_row >= 0) {
            raise_label_error(args.labels, summary.invalid_row, view.columns, call.batch_shape);
        }
        denominator = summary.denominator;
    } else {
        denominator = row_mean_denominator(args.sample_weight, view.rows);
    }
    args.gradient_scale = gradient_scale(reduction, denominator);

    ReductionStorage block_sums;
    const ReductionPlan plan = make_reduction_plan(view.rows, view.columns, call.threads, block_sums);
    const RowLossKernel<Real> kernel = select_by_type<Real>(entry.kernels);
    double total;
    {
        py::gil_scoped_release release;
        total = kernel(args, plan);
    }
    check_allocation(plan);
    return py::make_tuple(reduced_value<Real>(reduction, total, denominator, row_losses), gradient,
                          hessian, py::none());
}

}  // namespace

void register_row_losses(py::module_& module) {
    module.def(
        "row_loss",
        [](const std::string& name, const py::array& input, const py::object& second,
           const py::tuple& parameters, const py::object& class_weight,
           const py::object& sample_weight, const py::object& ignore_index,
           bool class_weight_in_mean, int reduction, bool with_gradient, bool with_hessian,
           const py::object& out, const py::object& hessian_out, int threads,
           const py::object& batch_shape, bool with_argmax) {
            if (name == softmax_cross_entropy_name) {
                return softmax_cross_entropy_call(
                    input, py::reinterpret_borrow<py::array>(second), parameters, class_weight,
                    sample_weight, ignore_index, reduction, with_gradient, with_hessian, out,
                    hessian_out, threads, batch_shape, with_argmax);
            }
            if (with_argmax) throw py::value_error("with_argmax: only softmax_cross_entropy");
            const RowLossEntry& entry = find_row_loss(name);
            const RowLossCall call{parameters, class_weight, sample_weight, ignore_index,
                                   class_weight_in_mean, reduction, with_gradient, with_hessian,
                                   out, hessian_out, threads, batch_shape};
            return dispatch_storage(input, "input", [&](auto storage) {
                return run_row_loss<decltype(storage)>(entry, input, second, call);
            });
        },
        py::arg("name"), py::arg("input"), py::arg("second"), py::arg("parameters"),
        py::arg("class_weight"), py::arg("sample_weight"), py::arg("ignore_index"),
        py::arg("class_weight_in_mean"), py::arg("reduction"), py::arg("with_gradient"),
        py::arg("with_hessian"), py::arg("out"), py::arg("hessian_out"), py::arg("threads"),
        py::arg("batch_shape"), py::arg("with_argmax") = false,
        "The row-wise loss `name` of (rows, classes) input and its second operand: int64 labels "
        "(rows,) or a float array of the input's shape and dtype, as the kernel takes. Returns "
        "(value, gradient or None, hessian or None, argmax or None); value is a float (sum/mean) "
        "or the per-row losses. A bad label raises ValueError before anything is written. "
        "softmax_cross_entropy takes (label_smoothing, z_loss, softcap; softcap 0: off) and "
        "with_argmax.");
    module.def(
        "row_loss_names",
        []() {
            const KernelTable& kernels = active_kernels();
            py::list names;
            names.append(softmax_cross_entropy_name);
            for (int i = 0; i < kernels.row_loss_count; ++i) names.append(kernels.row_losses[i].name);
            return names;
        },
        "The names of the row-wise kernels.");
}

}  // namespace bindings
}  // namespace fusedloss
