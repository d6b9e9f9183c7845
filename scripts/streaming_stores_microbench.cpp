// Micro-benchmark of ordinary against streaming (non-temporal) stores, one thread, AVX-512
// (docs/performance-notes.md, "Streaming stores"): memcpy, a copy loop of 64-byte ordinary
// stores, the same loop with streaming stores, and an MSE-shaped bfloat16 loop (two reads,
// one rounded write) with either store. Best of 5 rounds.
//   g++ -O2 -mavx512f -mavx512bw -mavx512bf16 -mfma -o /tmp/streaming_stores \
//       scripts/streaming_stores_microbench.cpp && /tmp/streaming_stores [elements]
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
using clk = std::chrono::steady_clock;
int main(int argc, char** argv) {
    const std::int64_t n = argc > 1 ? atoll(argv[1]) : 262144000;
    auto* a = (std::uint16_t*)aligned_alloc(64, n * 2);
    auto* b = (std::uint16_t*)aligned_alloc(64, n * 2);
    auto* g = (std::uint16_t*)aligned_alloc(64, n * 2);
    memset(a, 1, n * 2); memset(b, 2, n * 2); memset(g, 0, n * 2);
    auto run = [&](int mode) {
        auto s = clk::now();
        double acc = 0;
        if (mode == 0) memcpy(g, a, n * 2);
        else if (mode == 1 || mode == 2) {
            for (std::int64_t i = 0; i < n; i += 32) {
                __m512i v = _mm512_load_si512(a + i);
                if (mode == 1) _mm512_store_si512(g + i, v); else _mm512_stream_si512((__m512i*)(g + i), v);
            }
        } else {
            __m512 sum = _mm512_setzero_ps();
            for (std::int64_t i = 0; i < n; i += 32) {
                __m512i va = _mm512_load_si512(a + i), vb = _mm512_load_si512(b + i);
                __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(va)), 16));
                __m512 lo2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(vb)), 16));
                __m512 hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(va, 1)), 16));
                __m512 hi2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(vb, 1)), 16));
                __m512 d1 = _mm512_sub_ps(lo, lo2), d2 = _mm512_sub_ps(hi, hi2);
                sum = _mm512_fmadd_ps(d1, d1, sum); sum = _mm512_fmadd_ps(d2, d2, sum);
                __m512i r = (__m512i)_mm512_cvtne2ps_pbh(d2, d1);
                if (mode == 3) _mm512_store_si512(g + i, r); else _mm512_stream_si512((__m512i*)(g + i), r);
            }
            acc = _mm512_reduce_add_ps(sum);
            _mm_sfence();
        }
        double ms = std::chrono::duration<double, std::milli>(clk::now() - s).count();
        return ms + acc * 0;
    };
    const char* names[] = {"memcpy", "copy store", "copy stream", "mse store", "mse stream"};
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
    for (int r = 0; r < 5; ++r) for (int m = 0; m < 5; ++m) { double t = run(m); if (t < best[m]) best[m] = t; }
    for (int m = 0; m < 5; ++m) printf("%-12s %8.2f ms  %.3f ns/el\n", names[m], best[m], best[m] * 1e6 / n);
}
