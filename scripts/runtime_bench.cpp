// Micro-benchmark of the threading runtimes (scripts/runtime_bench.sh builds and runs it) on
// the kernels' block shape: N blocks of 16384 floats (softmax-CE 4096x1000 has 256), each
// block y = exp(x - 1) summed; 2 threads; medians of 40 interleaved calls, 5 ms apart.
#include <omp.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/blocked_range.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <thread>
#include "fusedloss/work_pool.hpp"

static std::vector<float> x, y;
static std::vector<double> sums;
static const long block = 16384;
static long blocks = 256;

static void run_block(long b) {
    double s = 0;
    const float* in = x.data() + b * block; float* out = y.data() + b * block;
    for (long i = 0; i < block; ++i) { out[i] = std::exp(in[i] - 1.0f); s += out[i]; }
    sums[b] = s;
}
static void task(void*, std::int64_t b) { run_block(b); }

int main(int argc, char** argv) {
    blocks = argc > 1 ? atol(argv[1]) : 256;
    x.assign(blocks * block, 0.5f); y.assign(blocks * block, 0); sums.assign(blocks, 0);
    tbb::task_arena arena(2);
    const char* names[] = {"serial", "openmp", "pool", "pool_wake_busy", "tbb"};
    std::vector<std::vector<double>> t(5);
    for (int round = 0; round < 41; ++round) {
        for (int k = 0; k < 5; ++k) {
            auto start = std::chrono::steady_clock::now();
            switch (k) {
            case 0: for (long b = 0; b < blocks; ++b) run_block(b); break;
            case 1:
#pragma omp parallel for schedule(static) num_threads(2)
                for (long b = 0; b < blocks; ++b) run_block(b);
                break;
            case 2: fusedloss::set_wake_when_busy(false); fusedloss::run_tasks(blocks, 2, &task, nullptr); break;
            case 3: fusedloss::set_wake_when_busy(true); fusedloss::run_tasks(blocks, 2, &task, nullptr); break;
            case 4: arena.execute([&] { tbb::parallel_for(tbb::blocked_range<long>(0, blocks, 1),
                        [&](const tbb::blocked_range<long>& r) { for (long b = r.begin(); b < r.end(); ++b) run_block(b); }); }); break;
            }
            if (round > 0) t[k].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
            // Let every runtime's spinning threads go to sleep (GOMP spins ~ms after a region,
            // TBB too): no contender pays for the one before it.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    for (int k = 0; k < 5; ++k) { std::sort(t[k].begin(), t[k].end()); std::printf("%-15s %7.3f ms\n", names[k], t[k][t[k].size() / 2]); }
}
