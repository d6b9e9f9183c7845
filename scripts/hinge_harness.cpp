// Kernel-only driver for scripts/hinge_instructions.sh: times multiclass_hinge (one thread,
// no Python, no allocation in the timed call) and is the program that callgrind counts.
//   hinge_harness ROWS CLASSES REPEATS DOUBLE SQUARED FORWARD_ONLY
// Built like the avx2 unit (csrc/dispatch/isa_avx2.cpp) but including only the hinge kernel.
#define FUSEDLOSS_ISA_NAMESPACE avx2
#define FUSEDLOSS_ISA_NAME "avx2"
#include <math.h>
#include <cstdint>
#include <algorithm>
#include <type_traits>
#include "fusedloss/kernel_table.hpp"
#include "kernels/portable.inl"
#include "kernels/row_blocks.inl"
#include "kernels/multiclass_hinge.inl"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <random>
using namespace fusedloss;
template <class Real>
__attribute__((noinline)) double run_kernel(const ClassificationArgs<Real>& a, const ReductionPlan& p) {
    return avx2::multiclass_hinge<Real>(a, p);
}
template <class Real>
int go(long rows, long classes, int reps, int squared, int fwd) {
    std::vector<Real> x(rows * classes), g(rows * classes);
    std::vector<std::int64_t> y(rows);
    std::mt19937 rng(1);
    std::normal_distribution<double> nd;
    for (auto& v : x) v = (Real)nd(rng);
    for (auto& v : y) v = rng() % classes;
    ClassificationArgs<Real> a{};
    a.logits = x.data(); a.rows = rows; a.classes = classes; a.logits_row_stride = classes;
    a.labels = y.data(); a.margin = 1.0; a.squared = squared; a.gradient_scale = 1.0 / rows;
    a.gradient = fwd ? nullptr : g.data();
    ReductionPlan p{};
    p.rows_per_block = std::max<long>(1, 16384 / classes);
    p.blocks = (rows + p.rows_per_block - 1) / p.rows_per_block;
    std::vector<double> bs(p.blocks);
    p.block_sums = bs.data(); p.threads = 1;
    double best = 1e9, r = 0;
    for (int i = 0; i < reps; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        r = run_kernel<Real>(a, p);
        auto t1 = std::chrono::steady_clock::now();
        best = std::min(best, std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    double gs = 0; for (auto v : g) gs += v * v;
    std::printf("C=%ld %s loss=%.9g gsum=%.9g best=%.3f ms\n", classes, sizeof(Real)==4?"f32":"f64", r / rows, gs, best);
    return 0;
}
int main(int argc, char** argv) {
    long rows = argc > 1 ? atol(argv[1]) : 65536, classes = argc > 2 ? atol(argv[2]) : 10;
    int reps = argc > 3 ? atoi(argv[3]) : 20, dbl = argc > 4 ? atoi(argv[4]) : 0;
    int sq = argc > 5 ? atoi(argv[5]) : 0, fwd = argc > 6 ? atoi(argv[6]) : 0;
    return dbl ? go<double>(rows, classes, reps, sq, fwd) : go<float>(rows, classes, reps, sq, fwd);
}
