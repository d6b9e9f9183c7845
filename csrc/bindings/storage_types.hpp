// The NumPy dtypes of the kernels' storage types, and the dispatch of a binding on an array's
// dtype. float16 is NumPy's own; bfloat16 is ml_dtypes' (the dtype JAX and TensorFlow use;
// imported only when a bfloat16 array is met, so the module imports without it).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <type_traits>

#include "fusedloss/kernel_table.hpp"

namespace pybind11 {
namespace detail {

template <>
struct npy_format_descriptor<fusedloss::float16_bits> {
    static constexpr auto name = const_name("numpy.float16");
    static pybind11::dtype dtype() { return pybind11::dtype("float16"); }
};

template <>
struct npy_format_descriptor<fusedloss::bfloat16_bits> {
    static constexpr auto name = const_name("ml_dtypes.bfloat16");
    // Looked up once (an import and a dtype construction cost microseconds per call); the
    // reference is kept for the life of the process, as the module keeps the dtype alive.
    static pybind11::dtype dtype() {
        static PyObject* cached = nullptr;
        if (cached == nullptr) {
            cached = pybind11::dtype::from_args(module_::import("ml_dtypes").attr("bfloat16")).release().ptr();
        }
        return reinterpret_borrow<pybind11::dtype>(cached);
    }
};

}  // namespace detail
}  // namespace pybind11

namespace fusedloss {
namespace bindings {

namespace py = pybind11;

// True for ml_dtypes.bfloat16 (tested by name first: no import of ml_dtypes for other dtypes).
inline bool is_bfloat16(const py::dtype& dtype) {
    return dtype.itemsize() == 2 && dtype.kind() == 'V' &&
           std::string(py::str(dtype.attr("name"))) == "bfloat16" &&
           dtype.equal(py::dtype::of<bfloat16_bits>());
}

// function(Storage{}) for the storage type of `array`'s dtype (float, double, bfloat16_bits,
// float16_bits); TypeError naming `name` for any other dtype.
template <class Function>
auto dispatch_storage(const py::array& array, const char* name, Function&& function) {
    const py::dtype dtype = array.dtype();
    if (dtype.equal(py::dtype::of<float>())) return function(float{});
    if (dtype.equal(py::dtype::of<double>())) return function(double{});
    if (dtype.equal(py::dtype::of<float16_bits>())) return function(float16_bits{});
    if (is_bfloat16(dtype)) return function(bfloat16_bits{});
    throw py::type_error(std::string(name) + ": expected float32, float64, bfloat16 or float16, got " +
                         std::string(py::str(dtype)));
}

// One stored value as a double (for error messages): the 16-bit types through the kernel
// table's own conversions.
inline double stored_value(float value) { return value; }
inline double stored_value(double value) { return value; }
double stored_value(bfloat16_bits value);
double stored_value(float16_bits value);

// The kernel of storage type Real from a table entry.
template <class Real, template <class> class Kernel>
Kernel<Real> select_by_type(const KernelsByType<Kernel>& kernels) {
    if constexpr (std::is_same<Real, float>::value) return kernels.f32;
    else if constexpr (std::is_same<Real, double>::value) return kernels.f64;
    else if constexpr (std::is_same<Real, bfloat16_bits>::value) return kernels.bf16;
    else return kernels.f16;
}

}  // namespace bindings
}  // namespace fusedloss
