// The binding of every elementwise loss (csrc/kernels/regression_losses.inl): one function,
// `elementwise_loss(name, ...)`, that finds the loss's kernel by name in the active kernel
// table. A new loss needs no binding of its own.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bindings/array_checks.hpp"
#include "bindings/register.hpp"
#include "fusedloss/dispatch.hpp"

namespace fusedloss {
namespace bindings {
namespace {

const ElementwiseLossEntry& find_elementwise_loss(const std::string& name) {
    const KernelTable& kernels = active_kernels();
    for (int i = 0; i < kernels.elementwise_loss_count; ++i) {
        if (name == kernels.elementwise_losses[i].name) return kernels.elementwise_losses[i];
    }
    throw py::value_error("no elementwise kernel named '" + name + "'");
}

// The error for the first target outside the loss's domain, with its index in pred's shape.
template <class Real>
[[noreturn]] void raise_target_out_of_domain(const ElementwiseLossEntry& entry,
                                             const py::array& prediction, const Real* target,
                                             std::int64_t elements, const double* parameters) {
    std::int64_t first = 0;
    while (first < elements &&
           entry.target_in_domain(stored_value(target[first]), parameters)) {
        ++first;
    }
    py::tuple index(prediction.ndim());
    std::int64_t rest = first;
    for (py::ssize_t axis = prediction.ndim() - 1; axis >= 0; --axis) {
        const std::int64_t extent = prediction.shape(axis);
        index[static_cast<std::size_t>(axis)] = py::int_(extent ? rest % extent : 0);
        rest = extent ? rest / extent : 0;
    }
    const double value = first < elements ? stored_value(target[first]) : 0.0;
    throw py::value_error("target: expected " + std::string(entry.target_domain(parameters)) +
                          ", got " + std::string(py::repr(py::float_(value))) + " at index " +
                          std::string(py::repr(index)));
}

template <class Real>
py::tuple run_elementwise_loss(const ElementwiseLossEntry& entry, const py::array& prediction,
                               const py::array& target, const py::object& element_weight,
                               const py::object& element_parameter, const py::tuple& parameters,
                               const py::object& sample_weight, std::int64_t sample_size,
                               int reduction_code, bool with_gradient, bool with_hessian,
                               const py::object& out, const py::object& hessian_out,
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
    if (!element_weight.is_none() && !entry.takes_element_weight) {
        throw py::value_error("weight: the loss '" + std::string(entry.name) +
                              "' takes no element weight");
    }
    if (!element_parameter.is_none() && !entry.takes_element_parameter) {
        throw py::value_error("element_parameter: the loss '" + std::string(entry.name) +
                              "' takes none");
    }
    if (static_cast<int>(parameters.size()) > elementwise_parameter_count) {
        throw py::value_error("parameters: at most " + std::to_string(elementwise_parameter_count));
    }
    if (with_hessian && !with_gradient) {
        throw py::value_error("with_hessian needs with_gradient");
    }
    ElementwiseArgs<Real> args{};
    args.prediction = static_cast<const Real*>(prediction.data());
    args.target = static_cast<const Real*>(target.data());
    args.element_weight = periodic_operand<Real>(element_weight, prediction, "weight", "prediction",
                                                 args.element_weight_length);
    args.element_parameter = periodic_operand<Real>(element_parameter, prediction, "element_parameter",
                                                    "prediction", args.element_parameter_length);
    args.sample_size = sample_size;
    args.samples = elements / sample_size;
    args.sample_weight = optional_vector<double>(sample_weight, args.samples, "sample_weight");
    for (std::size_t i = 0; i < parameters.size(); ++i) args.parameters[i] = parameters[i].cast<double>();
    int target_out_of_domain = 0;
    args.target_out_of_domain = &target_out_of_domain;

    // Only "mean" divides: the in-order float64 sum of one weight per element is ~1 ms at 1e6
    // elements (more than the kernel), paid for nothing under "sum" / "none" before.
    const double denominator =
        reduction == Reduction::mean
            ? elementwise_mean_denominator(args.sample_weight, args.samples, sample_size, elements)
            : 0.0;
    args.gradient_scale = gradient_scale(reduction, denominator);

    std::vector<py::ssize_t> shape(prediction.shape(), prediction.shape() + prediction.ndim());
    py::array_t<Real> element_losses(reduction == Reduction::none ? shape
                                                                  : std::vector<py::ssize_t>{0});
    if (reduction == Reduction::none) args.element_losses = element_losses.mutable_data();
    py::object gradient = py::none();
    py::object hessian = py::none();
    if (with_gradient) {
        auto buffer = gradient_buffer<Real>(out, shape, prediction,
                                            {target, element_weight, element_parameter, sample_weight});
        args.gradient = buffer.mutable_data();
        gradient = buffer;
    } else if (!out.is_none()) {
        throw py::value_error("out receives the gradient: pass return_grad=True to use it");
    }
    if (with_hessian) {
        // The Hessian may overwrite nothing that the kernel reads, nor the gradient.
        auto buffer = gradient_buffer<Real>(hessian_out, shape, py::array_t<Real>(0),
                                            {prediction, target, element_weight, element_parameter,
                                             sample_weight, gradient});
        args.hessian = buffer.mutable_data();
        hessian = buffer;
    } else if (!hessian_out.is_none()) {
        throw py::value_error("out: a Hessian buffer needs return_hessian=True");
    }

    ReductionStorage block_sums;
    const ReductionPlan plan = make_reduction_plan(elements, 1, threads, block_sums);
    const ElementwiseKernel<Real> kernel = select_by_type<Real>(entry.kernels);
    double total;
    {
        py::gil_scoped_release release;
        total = kernel(args, plan);
    }
    check_allocation(plan);
    if (target_out_of_domain) {
        raise_target_out_of_domain(entry, prediction, args.target, elements, args.parameters);
    }
    return py::make_tuple(reduced_value<Real>(reduction, total, denominator, element_losses),
                          gradient, hessian);
}

}  // namespace

void register_regression(py::module_& module) {
    module.def(
        "elementwise_loss",
        [](const std::string& name, const py::array& prediction, const py::array& target,
           const py::object& weight, const py::object& element_parameter,
           const py::tuple& parameters, const py::object& sample_weight,
           std::int64_t sample_size, int reduction, bool with_gradient, bool with_hessian,
           const py::object& out, const py::object& hessian_out, int threads) {
            const ElementwiseLossEntry& entry = find_elementwise_loss(name);
            return dispatch_storage(prediction, "prediction", [&](auto storage) {
                return run_elementwise_loss<decltype(storage)>(
                    entry, prediction, target, weight, element_parameter, parameters, sample_weight, sample_size,
                    reduction, with_gradient, with_hessian, out, hessian_out, threads);
            });
        },
        py::arg("name"), py::arg("prediction"), py::arg("target"), py::arg("weight"),
        py::arg("element_parameter"), py::arg("parameters"),
        py::arg("sample_weight"), py::arg("sample_size"), py::arg("reduction"),
        py::arg("with_gradient"), py::arg("with_hessian"), py::arg("out"), py::arg("hessian_out"),
        py::arg("threads"),
        "The elementwise loss `name` of two C-contiguous arrays of one shape and dtype. `weight` "
        "and `element_parameter` (BCE's pos_weight; each None, or only for a loss that takes it): "
        "C-contiguous arrays of their dtype, periodic (element k reads entry k % size). Returns (value, gradient or None, hessian or None); a "
        "target outside the loss's domain raises ValueError naming the first one.");
    module.def(
        "elementwise_loss_names",
        []() {
            const KernelTable& kernels = active_kernels();
            py::list names;
            for (int i = 0; i < kernels.elementwise_loss_count; ++i) {
                names.append(kernels.elementwise_losses[i].name);
            }
            return names;
        },
        "The names of the elementwise kernels.");
}

}  // namespace bindings
}  // namespace fusedloss
