// Bindings of the elementwise regression losses (mean squared error).
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

template <class Real>
py::tuple run_mean_squared_error(const py::array& prediction, const py::array& target,
                                 const py::object& sample_weight, std::int64_t sample_size,
                                 int reduction_code, bool with_gradient, const py::object& out,
                                 int threads) {
    const Reduction reduction = reduction_from_code(reduction_code);
    check_c_contiguous(prediction, "prediction");
    if (!target.dtype().equal(prediction.dtype())) {
        throw py::type_error("target: expected the dtype of prediction");
    }
    check_c_contiguous(target, "target");
    const std::int64_t elements = prediction.size();
    if (target.size() != elements) throw py::value_error("target: size differs from prediction");
    check_sample_size(elements, sample_size);
    ElementwiseArgs<Real> args{};
    args.prediction = static_cast<const Real*>(prediction.data());
    args.target = static_cast<const Real*>(target.data());
    args.sample_size = sample_size;
    args.samples = elements / sample_size;
    args.sample_weight = optional_vector<double>(sample_weight, args.samples, "sample_weight");

    const double denominator =
        elementwise_mean_denominator(args.sample_weight, args.samples, sample_size, elements);
    args.gradient_scale = gradient_scale(reduction, denominator);

    std::vector<py::ssize_t> shape(prediction.shape(), prediction.shape() + prediction.ndim());
    py::array_t<Real> element_losses(reduction == Reduction::none ? shape
                                                                  : std::vector<py::ssize_t>{0});
    if (reduction == Reduction::none) args.element_losses = element_losses.mutable_data();
    py::object gradient = py::none();
    if (with_gradient) {
        auto buffer = gradient_buffer<Real>(out, shape, prediction, {target, sample_weight});
        args.gradient = buffer.mutable_data();
        gradient = buffer;
    } else if (!out.is_none()) {
        throw py::value_error("out receives the gradient: pass with_gradient=True");
    }

    std::vector<double> block_sums;
    const ReductionPlan plan = make_reduction_plan(elements, 1, threads, block_sums);
    const KernelTable& kernels = active_kernels();
    const ElementwiseKernel<Real> kernel =
        select_by_type<Real>(kernels.mean_squared_error_f32, kernels.mean_squared_error_f64);
    double total;
    {
        py::gil_scoped_release release;
        total = kernel(args, plan);
    }
    return py::make_tuple(reduced_value<Real>(reduction, total, denominator, element_losses),
                          gradient);
}

}  // namespace

void register_regression(py::module_& module) {
    module.def(
        "mean_squared_error",
        [](const py::array& prediction, const py::array& target, const py::object& sample_weight,
           std::int64_t sample_size, int reduction, bool with_gradient, const py::object& out,
           int threads) {
            if (prediction.dtype().equal(py::dtype::of<float>())) {
                return run_mean_squared_error<float>(prediction, target, sample_weight,
                                                     sample_size, reduction, with_gradient, out,
                                                     threads);
            }
            if (prediction.dtype().equal(py::dtype::of<double>())) {
                return run_mean_squared_error<double>(prediction, target, sample_weight,
                                                      sample_size, reduction, with_gradient, out,
                                                      threads);
            }
            throw py::type_error("prediction: expected float32 or float64");
        },
        py::arg("prediction"), py::arg("target"), py::arg("sample_weight"),
        py::arg("sample_size"), py::arg("reduction"), py::arg("with_gradient"), py::arg("out"),
        py::arg("threads"),
        "Mean squared error of two C-contiguous arrays of one shape and dtype. Returns (value, "
        "gradient or None).");
}

}  // namespace bindings
}  // namespace fusedloss
