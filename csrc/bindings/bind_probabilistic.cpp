// Binding of sigmoid binary cross-entropy (elementwise, with its periodic weight and pos_weight).
// The cross-entropy of given probabilities runs on the row driver (bind_row_losses.cpp).
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

    ReductionStorage block_sums;
    const ReductionPlan plan = make_reduction_plan(elements, 1, threads, block_sums);
    const KernelTable& kernels = active_kernels();
    const SigmoidBinaryKernel<Real> kernel = select_by_type<Real>(kernels.sigmoid_binary_cross_entropy);
    double total;
    {
        py::gil_scoped_release release;
        if (with_hessian) {
            select_by_type<Real>(kernels.sigmoid_binary_cross_entropy_hessian)(args, plan);
        }
        total = kernel(args, plan);
    }
    check_allocation(plan);
    if (with_hessian) {
        return py::make_tuple(reduced_value<Real>(reduction, total, denominator, element_losses),
                              gradient, hessian);
    }
    return py::make_tuple(reduced_value<Real>(reduction, total, denominator, element_losses),
                          gradient);
}

}  // namespace

void register_probabilistic(py::module_& module) {
    module.def(
        "sigmoid_binary_cross_entropy",
        [](const py::array& logits, const py::object& targets, const py::object& weight,
           const py::object& pos_weight, const py::object& sample_weight,
           std::int64_t sample_size, int reduction, bool with_gradient, const py::object& out,
           int threads, bool with_hessian, const py::object& hessian_out) {
            return dispatch_storage(logits, "logits", [&](auto storage) {
                return run_sigmoid_bce<decltype(storage)>(
                    logits, targets, weight, pos_weight, sample_weight, sample_size, reduction,
                    with_gradient, out, threads, with_hessian, hessian_out);
            });
        },
        py::arg("logits"), py::arg("targets"), py::arg("weight"), py::arg("pos_weight"),
        py::arg("sample_weight"), py::arg("sample_size"), py::arg("reduction"),
        py::arg("with_gradient"), py::arg("out"), py::arg("threads"),
        py::arg("with_hessian") = false, py::arg("hessian_out") = py::none(),
        "Sigmoid binary cross-entropy of C-contiguous arrays of one dtype: logits and targets "
        "of one size; weight and pos_weight periodic (element k reads entry k % size). Returns "
        "(value, gradient or None), and the diagonal Hessian third with with_hessian=True.");
}

}  // namespace bindings
}  // namespace fusedloss
