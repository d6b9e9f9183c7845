// Softmax cross-entropy and its options, as the binding of the row-wise losses runs it
// (row_loss("softmax_cross_entropy", ...), bind_row_losses.cpp): its options kernel takes its own
// arguments (ClassificationArgs), the other row-wise losses run on the row driver.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "bindings/array_checks.hpp"
#include "bindings/register.hpp"
#include "fusedloss/dispatch.hpp"

namespace fusedloss {
namespace bindings {
namespace {

struct ClassificationOptions {
    py::object class_weight;
    py::object sample_weight;
    py::object ignore_index;  // None or int
    int reduction;
    bool with_gradient;
    py::object out;
    int threads;
    py::object soft_targets = py::none();  // None or a (rows, classes) array of the logits' dtype
    double label_smoothing = 0.0;
    double z_loss = 0.0;
    double softcap = 0.0;
    bool with_argmax = false;
    // return_hessian: the diagonal Hessian in `hessian_out` (None: allocated)
    bool with_hessian = false;
    py::object hessian_out = py::none();
    // The batch shape of the labels (a tuple), named in a bad label's error; None: 1-d.
    py::object batch_shape = py::none();
};

// The Hessian buffer of return_hessian=True: `hessian_out` checked as `out` is (dtype, shape,
// C order, writeable, aligned) and overlapping no input -- not even the logits, which the
// gradient may replace -- nor the gradient buffer; or a new array. Sets args.hessian.
template <class Real>
py::array_t<Real> hessian_buffer(ClassificationArgs<Real>& args,
                                 const ClassificationOptions& options, const RowsView& view,
                                 const py::array& logits, const py::array& labels,
                                 const py::object& gradient) {
    auto buffer = gradient_buffer<Real>(options.hessian_out, {view.rows, view.columns}, logits,
                                        {logits, labels, options.class_weight,
                                         options.sample_weight, options.soft_targets, gradient});
    args.hessian = buffer.mutable_data();
    return buffer;
}

// The Hessian pass, before the loss kernel: it reads the logits, which the gradient (out=logits)
// may then overwrite.
template <class Real>
void run_hessian(const KernelTable& kernels, const ClassificationArgs<Real>& args,
                 const ReductionPlan& plan) {
    const ClassificationKernel<Real> kernel = select_by_type<Real>(kernels.softmax_cross_entropy_hessian);
    {
        py::gil_scoped_release release;
        kernel(args, plan);
    }
    check_allocation(plan);
}

template <class Real>
py::tuple run_classification(const py::array& logits, const py::array& labels,
                             const ClassificationOptions& options) {
    const RowsView view = check_rows(logits, "logits");
    const Reduction reduction = reduction_from_code(options.reduction);
    const bool soft = !options.soft_targets.is_none();
    const std::int64_t* label_data =
        soft ? nullptr : optional_vector<std::int64_t>(labels, view.rows, "labels");
    ClassificationArgs<Real> args{};
    py::array soft_array;
    if (soft) {
        soft_array = py::reinterpret_borrow<py::array>(options.soft_targets);
        if (!soft_array.dtype().equal(py::dtype::of<Real>())) {
            throw py::type_error("labels: soft targets must have the logits' dtype");
        }
        const RowsView target_view = check_rows(soft_array, "labels");
        if (target_view.rows != view.rows || target_view.columns != view.columns) {
            throw py::value_error("labels: soft targets must have the logits' shape");
        }
        args.soft_targets = static_cast<const Real*>(soft_array.data());
        args.soft_targets_row_stride = target_view.row_stride;
    }
    args.label_smoothing = options.label_smoothing;
    args.z_loss = options.z_loss;
    args.softcap = options.softcap;
    args.logits = static_cast<const Real*>(logits.data());
    args.rows = view.rows;
    args.classes = view.columns;
    args.logits_row_stride = view.row_stride;
    args.labels = label_data;
    args.has_ignore_index = options.ignore_index.is_none() ? 0 : 1;
    args.ignore_index = args.has_ignore_index ? options.ignore_index.cast<std::int64_t>() : 0;
    args.class_weight = optional_vector<double>(options.class_weight, view.columns, "weight");
    args.sample_weight =
        optional_vector<double>(options.sample_weight, view.rows, "sample_weight");


    // Only the arrays that are returned are allocated (call overhead of small batches).
    py::object row_losses = py::none();
    if (reduction == Reduction::none) {
        py::array_t<Real> losses(view.rows);
        args.row_losses = losses.mutable_data();
        row_losses = losses;
    }
    py::object argmax_result = py::none();
    if (options.with_argmax) {
        py::array_t<std::int64_t> argmax(view.rows);
        args.argmax = argmax.mutable_data();
        argmax_result = argmax;
    }
    py::object gradient = py::none();
    if (options.with_gradient) {
        auto buffer = gradient_buffer<Real>(options.out, {view.rows, view.columns}, logits,
                                            {labels, options.class_weight, options.sample_weight,
                                             options.soft_targets});
        args.gradient = buffer.mutable_data();
        gradient = buffer;
    } else if (!options.out.is_none()) {
        throw py::value_error("out receives the gradient: pass return_grad=True to use it");
    }

    py::object hessian = py::none();
    if (options.with_hessian) {
        hessian = hessian_buffer<Real>(args, options, view, logits, labels, gradient);
    }

    // After the out checks (a bad out is reported before a bad label, as the Python checks
    // order them), before anything is written. torch's rule: the weighted mean of integer
    // labels divides by the summed class weights of the rows not ignored.
    LabelSummary summary{-1, 0.0};
    if (soft) {
        // Soft targets (torch's rule): "mean" divides by N, or the summed sample weights.
        summary.denominator = row_mean_denominator(args.sample_weight, view.rows);
    } else {
        summary = summarize_labels(label_data, view.rows, view.columns, args.has_ignore_index != 0,
                                   args.ignore_index, args.sample_weight, args.class_weight);
    }
    if (args.class_weight != nullptr) {
        for (std::int64_t j = 0; j < view.columns; ++j) args.class_weight_total += args.class_weight[j];
    } else {
        args.class_weight_total = static_cast<double>(view.columns);
    }
    if (summary.invalid_row >= 0) {
        raise_label_error(label_data, summary.invalid_row, view.columns, options.batch_shape);
    }
    args.gradient_scale = gradient_scale(reduction, summary.denominator);

    ReductionStorage block_sums;
    const ReductionPlan plan =
        make_reduction_plan(view.rows, view.columns, options.threads, block_sums);
    const KernelTable& kernels = active_kernels();
    if (options.with_hessian) run_hessian(kernels, args, plan);
    const ClassificationKernel<Real> kernel =
        select_by_type<Real>(kernels.softmax_cross_entropy);
    double total;
    {
        py::gil_scoped_release release;
        total = kernel(args, plan);
    }
    check_allocation(plan);
    py::object value = row_losses;
    if (reduction == Reduction::sum) value = py::float_(total);
    if (reduction == Reduction::mean) {
        value = py::float_(summary.denominator != 0.0 ? total / summary.denominator : 0.0);
    }
    return py::make_tuple(value, gradient, hessian, argmax_result);
}

}  // namespace

py::tuple softmax_cross_entropy_call(const py::array& logits, const py::array& second,
                                     const py::tuple& parameters, const py::object& class_weight,
                                     const py::object& sample_weight, const py::object& ignore_index,
                                     int reduction, bool with_gradient, bool with_hessian,
                                     const py::object& out, const py::object& hessian_out,
                                     int threads, const py::object& batch_shape, bool with_argmax) {
    if (parameters.size() > 3) {
        throw py::value_error("parameters: softmax_cross_entropy takes (label_smoothing, z_loss, softcap)");
    }
    double values[3] = {0.0, 0.0, 0.0};  // a parameter not given is off
    for (std::size_t i = 0; i < parameters.size(); ++i) values[i] = parameters[i].cast<double>();
    ClassificationOptions options{class_weight, sample_weight, ignore_index, reduction,
                                  with_gradient, out, threads};
    if (!second.dtype().equal(py::dtype::of<std::int64_t>())) options.soft_targets = second;
    options.label_smoothing = values[0];
    options.z_loss = values[1];
    options.softcap = values[2];
    options.with_argmax = with_argmax;
    options.with_hessian = with_hessian;
    options.hessian_out = hessian_out;
    options.batch_shape = batch_shape;
    return dispatch_storage(logits, "logits", [&](auto storage) {
        return run_classification<decltype(storage)>(logits, second, options);
    });
}

}  // namespace bindings
}  // namespace fusedloss
