// Picks the kernel table once, from the CPU's features. Compiled for the baseline CPU: this
// code must run everywhere, including where the wider tables would fault.
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "fusedloss/dispatch.hpp"

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

namespace fusedloss {
namespace baseline {
const KernelTable& kernel_table();
}
#if defined(FUSEDLOSS_BUILD_X86_ISAS)
namespace avx2 {
const KernelTable& kernel_table();
}
namespace avx512 {
const KernelTable& kernel_table();
}
#endif

namespace {

struct IsaEntry {
    const KernelTable& (*table)();
    bool (*cpu_supports)();
};

bool always_supported() { return true; }

#if defined(FUSEDLOSS_BUILD_X86_ISAS)
#if defined(__GNUC__) || defined(__clang__)
// __builtin_cpu_supports also checks that the OS saves the wider registers (XGETBV).
bool cpu_has_avx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool cpu_has_avx512() {
    __builtin_cpu_init();
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}
#else
bool os_saves_registers(unsigned long long mask) { return (_xgetbv(0) & mask) == mask; }
bool cpu_has_avx2() {
    int info[4];
    __cpuid(info, 1);
    const bool fma = (info[2] >> 12) & 1, osxsave = (info[2] >> 27) & 1;
    if (!fma || !osxsave || !os_saves_registers(0x6)) return false;
    __cpuidex(info, 7, 0);
    return (info[1] >> 5) & 1;
}
bool cpu_has_avx512() {
    if (!cpu_has_avx2() || !os_saves_registers(0xE6)) return false;
    int info[4];
    __cpuidex(info, 7, 0);
    const int ebx = info[1];
    return ((ebx >> 16) & 1) && ((ebx >> 17) & 1) && ((ebx >> 30) & 1) && ((ebx >> 31) & 1);
}
#endif
#endif

// Narrowest first: the last supported entry is the best one.
const std::vector<IsaEntry>& isa_entries() {
    static const std::vector<IsaEntry> entries = {
        {&baseline::kernel_table, &always_supported},
#if defined(FUSEDLOSS_BUILD_X86_ISAS)
        {&avx2::kernel_table, &cpu_has_avx2},
        {&avx512::kernel_table, &cpu_has_avx512},
#endif
    };
    return entries;
}

const KernelTable* find_supported(const std::string& name) {
    for (const IsaEntry& entry : isa_entries()) {
        if (name == entry.table().isa_name) {
            if (!entry.cpu_supports()) {
                throw std::invalid_argument("the '" + name +
                                            "' kernels were built but this CPU cannot run them");
            }
            return &entry.table();
        }
    }
    std::string known;
    for (const std::string& built : built_isas()) known += (known.empty() ? "" : ", ") + built;
    throw std::invalid_argument("unknown instruction set '" + name + "'; built: " + known);
}

const KernelTable* best_supported() {
    const KernelTable* best = nullptr;
    for (const IsaEntry& entry : isa_entries()) {
        if (entry.cpu_supports()) best = &entry.table();
    }
    return best;
}

// Relaxed is enough: every thread that races here computes the same pointer to a static table.
std::atomic<const KernelTable*> active_table{nullptr};

// 32 MiB: see kernels/low_precision.inl, streams_output.
std::atomic<std::int64_t> streaming_output_bytes{std::int64_t(32) << 20};

}  // namespace

std::vector<std::string> built_isas() {
    std::vector<std::string> names;
    for (const IsaEntry& entry : isa_entries()) names.emplace_back(entry.table().isa_name);
    return names;
}

std::vector<std::string> supported_isas() {
    std::vector<std::string> names;
    for (const IsaEntry& entry : isa_entries()) {
        if (entry.cpu_supports()) names.emplace_back(entry.table().isa_name);
    }
    return names;
}

const KernelTable& active_kernels() {
    const KernelTable* table = active_table.load(std::memory_order_relaxed);
    if (table == nullptr) {
        const char* forced = std::getenv("FUSEDLOSS_ISA");
        if (forced != nullptr && forced[0] != '\0') {
            try {
                table = find_supported(forced);
            } catch (const std::invalid_argument& error) {
                throw std::runtime_error(std::string("FUSEDLOSS_ISA: ") + error.what());
            }
        } else {
            table = best_supported();
        }
        active_table.store(table, std::memory_order_relaxed);
    }
    return *table;
}

void select_isa(const std::string& name) {
    active_table.store(find_supported(name), std::memory_order_relaxed);
}

std::int64_t streaming_threshold() { return streaming_output_bytes.load(std::memory_order_relaxed); }

void set_streaming_threshold(std::int64_t bytes) { streaming_output_bytes.store(bytes, std::memory_order_relaxed); }

}  // namespace fusedloss
