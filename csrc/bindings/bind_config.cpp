// Build and runtime configuration: instruction sets, OpenMP, compiler; and the exp kernels
// exposed for their accuracy tests.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "bindings/array_checks.hpp"
#include "bindings/register.hpp"
#include "fusedloss/dispatch.hpp"
#include "fusedloss/work_pool.hpp"

namespace fusedloss {
namespace bindings {
namespace {

std::string compiler_description() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
    return "msvc " + std::to_string(_MSC_VER);
#else
    return "unknown";
#endif
}

py::dict build_config() {
    py::dict config;
    config["version"] = FUSEDLOSS_VERSION;
    config["compiler"] = compiler_description();
    config["cxx_flags"] = FUSEDLOSS_CXX_FLAGS;
#if defined(FUSEDLOSS_HAVE_OPENMP)
    config["openmp"] = true;
    config["openmp_version"] = _OPENMP;
#else
    config["openmp"] = false;
    config["openmp_version"] = 0;
#endif
    config["isa_built"] = built_isas();
    return config;
}

// Applies one of the kernels' elementwise math functions (exp, log, tanh) to a 1-d copy of x;
// the functions are exposed only so that tests can measure their accuracy.
using MathF32 = void (*)(const float*, float*, std::int64_t);
using MathF64 = void (*)(const double*, double*, std::int64_t);

template <class Real>
py::array_t<Real> apply_math(void (*kernel)(const Real*, Real*, std::int64_t),
                             const py::array_t<Real, py::array::c_style | py::array::forcecast>& input) {
    py::array_t<Real> output(input.size());
    {
        py::gil_scoped_release release;
        kernel(input.data(), output.mutable_data(), input.size());
    }
    return output;
}

template <class Real, MathF32 KernelTable::*function_f32, MathF64 KernelTable::*function_f64>
py::array_t<Real> vector_math(const py::array_t<Real, py::array::c_style | py::array::forcecast>& input) {
    const KernelTable& kernels = active_kernels();
    return apply_math<Real>(select_float_or_double<Real>(kernels.*function_f32, kernels.*function_f64), input);
}

// A function the kernels have in float64 only.
template <MathF64 KernelTable::*function>
py::array_t<double> vector_math_f64(const py::array_t<double, py::array::c_style | py::array::forcecast>& input) {
    return apply_math<double>(active_kernels().*function, input);
}

}  // namespace

void register_config(py::module_& module) {
    // Select now, so that a bad FUSEDLOSS_ISA fails the import with its message.
    active_kernels();
    module.def("build_config", &build_config, "Compile-time configuration (dict).");
    module.def("built_isas", &built_isas, "Instruction sets compiled into this module.");
    module.def("supported_isas", &supported_isas, "Built instruction sets this CPU can run.");
    module.def(
        "selected_isa", [] { return std::string(active_kernels().isa_name); },
        "The instruction set whose kernels run.");
    module.def(
        "select_isa",
        [](const std::string& name) {
            try {
                select_isa(name);
            } catch (const std::invalid_argument& error) {
                throw py::value_error(error.what());
            }
        },
        py::arg("name"), "Forces the kernels of one instruction set (for tests and benchmarks).");
    module.def("max_threads", &default_thread_count,
               "Threads a call with threads=None uses: OpenMP's default (OMP_NUM_THREADS, "
               "threadpoolctl), capped by the affinity mask and the cgroup CPU quota unless "
               "OMP_NUM_THREADS or omp_set_num_threads chose it.");
    module.def("openmp_max_threads", &openmp_thread_count,
               "OpenMP's own default, omp_get_max_threads() (without OpenMP: the CPU count).");
    module.def("set_cpu_limit", &set_cpu_limit, py::arg("cpus"),
               "Sets the CPU quota that caps the default thread count (0: none).");
    module.def("cpu_limit", &cpu_limit, "The CPU quota set with set_cpu_limit (0: none).");
    module.def("affinity_cpu_count", &affinity_cpu_count,
               "CPUs in the calling thread's affinity mask (0 if unknown).");
    module.def("set_wake_when_busy", &set_wake_when_busy, py::arg("wake"),
               "Wake pool workers even when no CPU is idle (tests, measurements).");
    module.def("wake_when_busy", &wake_when_busy,
               "Whether pool workers are woken when no CPU is idle.");
    module.def(
        "set_streaming_threshold",
        [](std::int64_t bytes) {
            if (bytes < 0) throw py::value_error("set_streaming_threshold: bytes must be >= 0, got " + std::to_string(bytes));
            set_streaming_threshold(bytes);
        },
        py::arg("bytes"),
        "Outputs of at least this many bytes are written with streaming (non-temporal) stores "
        "(default 32 MiB; 0: every output, for tests).");
    module.def(
        "streaming_threshold", &streaming_threshold,
        "The output size from which the kernels use streaming stores (bytes).");
    module.def(
        "isa_has_streaming_stores", [] { return active_kernels().has_streaming_stores != 0; },
        "Whether the selected instruction set's kernels have streaming stores (the baseline's do not).");
    module.def("pool_workers", &pool_worker_count,
               "Worker threads the kernels' pool has started in this process.");
    using K = KernelTable;
    module.def("exp_f32", &vector_math<float, &K::exp_f32, &K::exp_f64>, py::arg("x"),
               "The kernels' vectorised exp, float32.");
    module.def("exp_f64", &vector_math<double, &K::exp_f32, &K::exp_f64>, py::arg("x"),
               "The kernels' vectorised exp, float64.");
    module.def("log_f32", &vector_math<float, &K::log_f32, &K::log_f64>, py::arg("x"),
               "The kernels' vectorised log, float32.");
    module.def("log_f64", &vector_math<double, &K::log_f32, &K::log_f64>, py::arg("x"),
               "The kernels' vectorised log, float64.");
    module.def("tanh_f32", &vector_math<float, &K::tanh_f32, &K::tanh_f64>, py::arg("x"),
               "The kernels' vectorised tanh (softcap), float32.");
    module.def("tanh_f64", &vector_math<double, &K::tanh_f32, &K::tanh_f64>, py::arg("x"),
               "The kernels' vectorised tanh (softcap), float64.");
    module.def("exp_nonpositive_f32",
               &vector_math<float, &K::exp_nonpositive_f32, &K::exp_nonpositive_f64>, py::arg("x"),
               "The softmax rows' exp of x <= 0, float32 (0 below exp(-86)).");
    module.def("exp_nonpositive_f64",
               &vector_math<double, &K::exp_nonpositive_f32, &K::exp_nonpositive_f64>, py::arg("x"),
               "The softmax rows' exp of x <= 0, float64 (0 below exp(-708)).");
    module.def("log1p_unit_interval_f32",
               &vector_math<float, &K::log1p_unit_interval_f32, &K::log1p_unit_interval_f64>,
               py::arg("x"), "The sigmoid losses' log(1 + x) for x in [0, 1], float32.");
    module.def("log1p_unit_interval_f64",
               &vector_math<double, &K::log1p_unit_interval_f32, &K::log1p_unit_interval_f64>,
               py::arg("x"), "The sigmoid losses' log(1 + x) for x in [0, 1], float64.");
    module.def("expm1_small_f64", &vector_math_f64<&K::expm1_small_f64>, py::arg("x"),
               "The focal loss's expm1(x) for x in [-ln 2, 0], float64.");
}

}  // namespace bindings
}  // namespace fusedloss
