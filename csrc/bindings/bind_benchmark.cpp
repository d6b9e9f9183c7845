// Benchmark helpers: the bandwidth floor a one-pass kernel is measured against.
//
// A one-pass loss+gradient kernel reads its inputs once and writes its gradient once, so it can
// never beat a copy of the same bytes run on the same threads. np.copyto is single-threaded and
// understates that floor on many cores; parallel_copy splits the buffer into one contiguous
// chunk per thread and memcpy's each chunk, on the kernels' work pool.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "bindings/register.hpp"
#include "fusedloss/work_pool.hpp"

namespace py = pybind11;

namespace fusedloss {
namespace bindings {
namespace {

struct CopyJob {
    const unsigned char* source;
    unsigned char* destination;
    std::int64_t bytes;
    std::int64_t chunk_bytes;
};

void copy_chunk(void* context, std::int64_t chunk) {
    const auto& job = *static_cast<const CopyJob*>(context);
    const std::int64_t begin = std::min(job.bytes, chunk * job.chunk_bytes);
    const std::int64_t end = std::min(job.bytes, begin + job.chunk_bytes);
    if (end > begin) {
        std::memcpy(job.destination + begin, job.source + begin, static_cast<std::size_t>(end - begin));
    }
}

void copy_chunks(const unsigned char* source, unsigned char* destination, std::int64_t bytes,
                 int threads) {
    // Chunks are multiples of 64 bytes so that no two threads write the same cache line.
    const std::int64_t line = 64;
    const std::int64_t lines = (bytes + line - 1) / line;
    const std::int64_t lines_per_thread = (lines + threads - 1) / threads;
    CopyJob job{source, destination, bytes, lines_per_thread * line};
    run_tasks(threads, threads, &copy_chunk, &job);
}

void parallel_copy(const py::array& source, py::array& destination, int threads) {
    if (!(source.flags() & py::array::c_style)) {
        throw py::value_error("parallel_copy: source must be C-contiguous");
    }
    if (!(destination.flags() & py::array::c_style) || !destination.writeable()) {
        throw py::value_error("parallel_copy: destination must be a writable C-contiguous array");
    }
    if (source.nbytes() != destination.nbytes()) {
        throw py::value_error("parallel_copy: source has " + std::to_string(source.nbytes()) +
                              " bytes, destination " + std::to_string(destination.nbytes()));
    }
    if (threads < 0) {
        throw py::value_error("parallel_copy: threads must be >= 0 (0: the kernels' default), got " +
                              std::to_string(threads));
    }
    if (threads == 0) threads = default_thread_count();
    // Like the kernels, do not start threads for less than a thread's worth of work (the kernels
    // ask for 32768 elements, 128 KiB of float32, per thread): waking a sleeping thread costs
    // more than copying a small buffer, and a floor that pays for it would be no floor.
    const std::int64_t bytes_per_thread_minimum = 128 * 1024;
    threads = static_cast<int>(std::max<std::int64_t>(
        1, std::min<std::int64_t>(threads, static_cast<std::int64_t>(source.nbytes()) / bytes_per_thread_minimum)));
    const auto* from = static_cast<const unsigned char*>(source.data());
    auto* to = static_cast<unsigned char*>(destination.mutable_data());
    const std::int64_t bytes = static_cast<std::int64_t>(source.nbytes());
    {
        py::gil_scoped_release release;
        copy_chunks(from, to, bytes, threads);
    }
}

}  // namespace

void register_benchmark(py::module_& module) {
    module.def("parallel_copy", &parallel_copy, py::arg("source"), py::arg("destination"),
               py::arg("threads") = 0,
               "Copies source's bytes into destination (same byte count, both C-contiguous) on "
               "`threads` threads of the kernels' pool (0: the default of threads=None), one contiguous "
               "chunk per thread, "
               "GIL released. The bandwidth floor of a one-pass kernel run on the same threads.");
}

}  // namespace bindings
}  // namespace fusedloss
