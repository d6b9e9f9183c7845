// Foreign and 16-bit arrays: the import of a DLPack capsule as a NumPy array without a copy
// (every dtype, bfloat16 included, which numpy.from_dlpack does not know), and the kernels'
// 16-bit conversions exposed for their tests.
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

// The DLPack ABI (dlpack.h, v1.0), the part a consumer reads.
struct DLDevice {
    std::int32_t device_type;
    std::int32_t device_id;
};
struct DLDataType {
    std::uint8_t code;
    std::uint8_t bits;
    std::uint16_t lanes;
};
struct DLTensor {
    void* data;
    DLDevice device;
    std::int32_t ndim;
    DLDataType dtype;
    std::int64_t* shape;
    std::int64_t* strides;  // elements; null: compact row-major
    std::uint64_t byte_offset;
};
struct DLManagedTensor {
    DLTensor dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensor*);
};
struct DLPackVersion {
    std::uint32_t major;
    std::uint32_t minor;
};
struct DLManagedTensorVersioned {
    DLPackVersion version;
    void* manager_ctx;
    void (*deleter)(DLManagedTensorVersioned*);
    std::uint64_t flags;
    DLTensor dl_tensor;
};
constexpr std::int32_t dl_cpu = 1;
constexpr std::uint64_t dl_flag_read_only = 1;
enum DLTypeCode : std::uint8_t { dl_int = 0, dl_uint = 1, dl_float = 2, dl_bfloat = 4, dl_bool = 6 };

py::dtype numpy_dtype(const DLDataType& type, const std::string& name) {
    const std::string bits = std::to_string(type.bits);
    if (type.lanes != 1) {
        throw py::type_error(name + ": a DLPack tensor of " + std::to_string(type.lanes) +
                             "-lane vectors is not an array of numbers");
    }
    switch (type.code) {
        case dl_float:
            if (type.bits == 16 || type.bits == 32 || type.bits == 64) return py::dtype("float" + bits);
            break;
        case dl_bfloat:
            if (type.bits == 16) {
                try {
                    return py::dtype::of<bfloat16_bits>();
                } catch (py::error_already_set&) {
                    throw py::type_error(name + ": a bfloat16 tensor needs the ml_dtypes package "
                                         "(pip install ml_dtypes) for its NumPy dtype");
                }
            }
            break;
        case dl_int:
            if (type.bits == 8 || type.bits == 16 || type.bits == 32 || type.bits == 64) return py::dtype("int" + bits);
            break;
        case dl_uint:
            if (type.bits == 8 || type.bits == 16 || type.bits == 32 || type.bits == 64) return py::dtype("uint" + bits);
            break;
        case dl_bool:
            if (type.bits == 8) return py::dtype("bool");
            break;
        default:
            break;
    }
    throw py::type_error(name + ": a DLPack tensor of type code " + std::to_string(type.code) +
                         " with " + bits + " bits has no NumPy dtype fusedloss takes");
}

// A NumPy array over the tensor's memory; `owner` keeps the tensor alive (its deleter runs when
// the array and every view of it are gone).
py::array view_of(const DLTensor& tensor, bool read_only, py::capsule owner, const std::string& name) {
    if (tensor.device.device_type != dl_cpu) {
        throw py::type_error(name + ": a tensor on DLPack device type " +
                             std::to_string(tensor.device.device_type) +
                             "; fusedloss computes on the CPU (move it to host memory first)");
    }
    const py::dtype dtype = numpy_dtype(tensor.dtype, name);
    const auto itemsize = static_cast<std::int64_t>(dtype.itemsize());
    std::vector<py::ssize_t> shape(static_cast<std::size_t>(tensor.ndim));
    std::vector<py::ssize_t> strides(static_cast<std::size_t>(tensor.ndim));
    std::int64_t compact = itemsize;
    for (std::int32_t axis = tensor.ndim - 1; axis >= 0; --axis) {
        const auto index = static_cast<std::size_t>(axis);
        shape[index] = static_cast<py::ssize_t>(tensor.shape[axis]);
        strides[index] = static_cast<py::ssize_t>(tensor.strides != nullptr ? tensor.strides[axis] * itemsize : compact);
        compact *= tensor.shape[axis];
    }
    char* data = static_cast<char*>(tensor.data);
    if (data != nullptr) data += tensor.byte_offset;
    // A size-0 tensor may have a null data pointer; NumPy wants one that is not.
    static char empty_data[8];
    if (data == nullptr) data = empty_data;
    py::array array(dtype, shape, strides, data, owner);
    if (read_only) {
        py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
    }
    return array;
}

// `legacy_read_only`: how to mark a tensor of a pre-1.0 capsule, which cannot say whether it
// may be written (JAX arrays, immutable, come as such capsules): read-only for an `out=`.
py::array array_from_dlpack(const py::capsule& capsule, const std::string& name, bool legacy_read_only) {
    const char* capsule_name = capsule.name();
    const std::string kind = capsule_name == nullptr ? "" : capsule_name;
    if (kind == "dltensor_versioned") {
        auto* managed = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor_versioned"));
        if (managed == nullptr) throw py::error_already_set();
        if (managed->version.major > 1) {
            throw py::type_error(name + ": DLPack version " + std::to_string(managed->version.major) +
                                 " is newer than the 1.x this module reads");
        }
        // Consumed: the capsule no longer owns the tensor, the array does.
        PyCapsule_SetName(capsule.ptr(), "used_dltensor_versioned");
        py::capsule owner(managed, [](void* pointer) {
            auto* tensor = static_cast<DLManagedTensorVersioned*>(pointer);
            if (tensor->deleter != nullptr) tensor->deleter(tensor);
        });
        return view_of(managed->dl_tensor, (managed->flags & dl_flag_read_only) != 0, owner, name);
    }
    if (kind == "dltensor") {
        auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
        if (managed == nullptr) throw py::error_already_set();
        PyCapsule_SetName(capsule.ptr(), "used_dltensor");
        py::capsule owner(managed, [](void* pointer) {
            auto* tensor = static_cast<DLManagedTensor*>(pointer);
            if (tensor->deleter != nullptr) tensor->deleter(tensor);
        });
        return view_of(managed->dl_tensor, legacy_read_only, owner, name);
    }
    throw py::type_error(name + ": __dlpack__ returned a capsule named '" + kind +
                         "' (expected an unused 'dltensor' or 'dltensor_versioned')");
}

// The kernels' 16-bit conversions, of the ISA in use.
py::array_t<float> widen(const py::array& values) {
    check_c_contiguous(values, "values");
    py::array_t<float> result(values.size());
    const KernelTable& kernels = active_kernels();
    dispatch_storage(values, "values", [&](auto storage) {
        using Storage = decltype(storage);
        if constexpr (std::is_same<Storage, bfloat16_bits>::value) {
            kernels.widen_bfloat16(static_cast<const bfloat16_bits*>(values.data()), result.mutable_data(), values.size());
        } else if constexpr (std::is_same<Storage, float16_bits>::value) {
            kernels.widen_float16(static_cast<const float16_bits*>(values.data()), result.mutable_data(), values.size());
        } else {
            throw py::type_error("values: expected bfloat16 or float16");
        }
        return 0;
    });
    return result;
}

py::array narrow(const py::array_t<float, py::array::c_style | py::array::forcecast>& values, const std::string& dtype) {
    const KernelTable& kernels = active_kernels();
    if (dtype == "bfloat16") {
        py::array_t<bfloat16_bits> result(values.size());
        kernels.narrow_bfloat16(values.data(), result.mutable_data(), values.size());
        return result;
    }
    if (dtype == "float16") {
        py::array_t<float16_bits> result(values.size());
        kernels.narrow_float16(values.data(), result.mutable_data(), values.size());
        return result;
    }
    throw py::value_error("dtype: expected 'bfloat16' or 'float16', got '" + dtype + "'");
}

}  // namespace

void register_low_precision(py::module_& module) {
    module.def("array_from_dlpack", &array_from_dlpack, py::arg("capsule"), py::arg("name"),
               py::arg("legacy_read_only"),
               "A NumPy array over the memory of an unused DLPack capsule (no copy); read-only "
               "where the producer flagged the tensor so, and for a pre-1.0 capsule when "
               "legacy_read_only. TypeError for a tensor off the CPU or of a dtype with no NumPy "
               "equivalent.");
    module.def("widen_16bit", &widen, py::arg("values"),
               "The kernels' bfloat16/float16 -> float32 conversion (tests).");
    module.def("narrow_16bit", &narrow, py::arg("values"), py::arg("dtype"),
               "The kernels' float32 -> bfloat16/float16 rounding, to nearest even (tests).");
}

}  // namespace bindings
}  // namespace fusedloss
