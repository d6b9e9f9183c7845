// The private extension module fusedloss._core. Each area registers its own bindings.
#include <pybind11/pybind11.h>

#include "bindings/register.hpp"

PYBIND11_MODULE(_core, module) {
    module.doc() = "fusedloss compiled kernels (private: use the fusedloss package)";
    fusedloss::bindings::register_config(module);
    fusedloss::bindings::register_regression(module);
    fusedloss::bindings::register_row_losses(module);
    fusedloss::bindings::register_building_blocks(module);
    fusedloss::bindings::register_benchmark(module);
    fusedloss::bindings::register_openmp_runtime(module);
    fusedloss::bindings::register_low_precision(module);
}
