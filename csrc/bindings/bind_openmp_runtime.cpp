// Which OpenMP runtime library the kernels run on, found at run time (the one the dynamic
// loader bound, not the one the build saw): show_config() reports it and matches it with
// threadpoolctl's view, so that a user can tell which runtime threadpool_limits must reach.
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/register.hpp"

#if defined(FUSEDLOSS_HAVE_OPENMP)
#include <omp.h>
#endif
#if defined(FUSEDLOSS_HAVE_OPENMP) && (defined(__unix__) || defined(__APPLE__))
#include <dlfcn.h>
#define FUSEDLOSS_HAVE_DLADDR 1
#endif

namespace fusedloss {
namespace bindings {
namespace {

std::string openmp_library_path() {
#if defined(FUSEDLOSS_HAVE_DLADDR)
    Dl_info info{};
    // The address of an OpenMP entry point lies inside the runtime library that provides it.
    if (dladdr(reinterpret_cast<void*>(&omp_get_max_threads), &info) != 0 && info.dli_fname) {
        return info.dli_fname;
    }
#endif
    return "";
}

}  // namespace

void register_openmp_runtime(pybind11::module_& module) {
    module.def("openmp_library", &openmp_library_path,
               "Path of the OpenMP runtime library the kernels use ('' if unknown or none).");
}

}  // namespace bindings
}  // namespace fusedloss
