// Runtime instruction-set selection: which kernel tables were built, which this CPU can run,
// and which one is in use. Compiled for the baseline CPU only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fusedloss/kernel_table.hpp"

namespace fusedloss {

// Names of the tables compiled into this module, narrowest first.
std::vector<std::string> built_isas();
// The subset of built_isas() that this CPU (and OS) can run.
std::vector<std::string> supported_isas();
// The table in use. The first call selects the widest supported table, or the one named by the
// environment variable FUSEDLOSS_ISA (std::runtime_error when it is unknown or unsupported).
const KernelTable& active_kernels();
// Forces a table by name (std::invalid_argument when unknown or unsupported).
void select_isa(const std::string& name);
// Sets the kernels' streaming-store threshold in bytes (fusedloss/kernel_table.hpp,
// streaming_threshold), atomically.
void set_streaming_threshold(std::int64_t bytes);

}  // namespace fusedloss
