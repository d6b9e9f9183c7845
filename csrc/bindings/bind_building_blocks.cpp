// Bindings of the building blocks: logsumexp / softmax / log_softmax along the last axis, and
// the L2 / L1 / elastic-net weight penalties.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "bindings/array_checks.hpp"
#include "bindings/register.hpp"
#include "fusedloss/dispatch.hpp"

namespace fusedloss {
namespace bindings {
namespace {

template <class Real>
py::array run_row_softmax(const py::array& input, int mode, const py::object& out, int threads) {
    if (mode != row_logsumexp && mode != row_softmax && mode != row_log_softmax) {
        throw py::value_error("mode must be 0 (logsumexp), 1 (softmax) or 2 (log_softmax)");
    }
    const RowsView view = check_rows(input, "x");
    if (view.columns < 1) throw py::value_error("x: expected at least one column");
    RowSoftmaxArgs<Real> args{};
    args.input = static_cast<const Real*>(input.data());
    args.rows = view.rows;
    args.classes = view.columns;
    args.input_row_stride = view.row_stride;
    args.mode = mode;
    const std::vector<py::ssize_t> shape =
        mode == row_logsumexp ? std::vector<py::ssize_t>{view.rows}
                              : std::vector<py::ssize_t>{view.rows, view.columns};
    auto buffer = gradient_buffer<Real>(out, shape, input, {});
    args.output = buffer.mutable_data();

    ReductionStorage block_sums;
    const ReductionPlan plan = make_reduction_plan(view.rows, view.columns, threads, block_sums);
    const KernelTable& kernels = active_kernels();
    const RowSoftmaxKernel<Real> kernel =
        select_by_type<Real>(kernels.row_softmax);
    {
        py::gil_scoped_release release;
        kernel(args, plan);
    }
    check_allocation(plan);
    return buffer;
}

template <class Real>
py::tuple run_penalty(const py::array& weights, int kind, double lam, double beta,
                      bool with_gradient, bool accumulate, const py::object& out, int threads) {
    if (kind != penalty_l2 && kind != penalty_l1 && kind != penalty_elastic_net) {
        throw py::value_error("kind must be 0 (l2), 1 (l1) or 2 (elastic net)");
    }
    if (!std::isfinite(lam) || lam < 0.0) {
        throw py::value_error("lam: expected a finite number >= 0");
    }
    if (!std::isfinite(beta) || beta < 0.0) {
        throw py::value_error("beta: expected a finite number >= 0");
    }
    check_c_contiguous(weights, "w");
    PenaltyArgs<Real> args{};
    args.weights = static_cast<const Real*>(weights.data());
    args.count = weights.size();
    args.kind = kind;
    args.lam = lam;
    args.beta = beta;
    args.accumulate = accumulate ? 1 : 0;
    py::object gradient = py::none();
    if (with_gradient) {
        if (accumulate && out.is_none()) {
            throw py::value_error("accumulate=True adds the gradient into out: pass out");
        }
        std::vector<py::ssize_t> shape(weights.shape(), weights.shape() + weights.ndim());
        auto buffer = gradient_buffer<Real>(out, shape, weights, {});
        args.gradient = buffer.mutable_data();
        gradient = buffer;
    } else if (!out.is_none() || accumulate) {
        throw py::value_error("out receives the gradient: pass return_grad=True to use it");
    }

    ReductionStorage block_sums;
    const ReductionPlan plan = make_reduction_plan(args.count, 1, threads, block_sums);
    const KernelTable& kernels = active_kernels();
    const PenaltyKernel<Real> kernel =
        select_by_type<Real>(kernels.penalty);
    double total;
    {
        py::gil_scoped_release release;
        total = kernel(args, plan);
    }
    check_allocation(plan);
    return py::make_tuple(py::float_(total), gradient);
}

}  // namespace

void register_building_blocks(py::module_& module) {
    module.def(
        "row_softmax",
        [](const py::array& x, int mode, const py::object& out, int threads) -> py::array {
            return dispatch_storage(x, "x", [&](auto storage) -> py::array {
                return run_row_softmax<decltype(storage)>(x, mode, out, threads);
            });
        },
        py::arg("x"), py::arg("mode"), py::arg("out"), py::arg("threads"),
        "logsumexp (mode 0, shape (rows,)), softmax (1) or log_softmax (2, shape (rows, C)) of "
        "each row of a 2-d array whose last axis is contiguous.");
    module.def(
        "penalty",
        [](const py::array& w, int kind, double lam, double beta, bool with_gradient,
           bool accumulate, const py::object& out, int threads) {
            return dispatch_storage(w, "w", [&](auto storage) {
                return run_penalty<decltype(storage)>(w, kind, lam, beta, with_gradient,
                                                      accumulate, out, threads);
            });
        },
        py::arg("w"), py::arg("kind"), py::arg("lam"), py::arg("beta"), py::arg("with_gradient"),
        py::arg("accumulate"), py::arg("out"), py::arg("threads"),
        "Weight penalty of a C-contiguous array: kind 0 l2, 1 l1, 2 elastic net. Returns "
        "(value, gradient or None).");
}

}  // namespace bindings
}  // namespace fusedloss
