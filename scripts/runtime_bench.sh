#!/bin/bash
# The threading-runtime micro-benchmark of docs/performance-notes.md ("Threading runtime"):
# serial, OpenMP parallel for, the fusedloss pool (with and without its idle-CPU check) and a
# oneTBB arena on N blocks of 16384 floats, without and with 2 busy processes.
# TBB: pip download tbb tbb-devel, unzip both wheels into $TBB (its *.data/data/{include,lib}).
set -e
TBB=${TBB:?set TBB to the folder holding the unpacked tbb and tbb-devel wheels}
HERE=$(cd "$(dirname "$0")" && pwd)
INCLUDE=$(ls -d "$TBB"/tbb_devel-*.data/data/include)
LIB=$(ls -d "$TBB"/tbb-*.data/data/lib)
OUT=${OUT:-/tmp/runtime_bench}
g++ -O2 -std=c++17 -fopenmp -DFUSEDLOSS_HAVE_OPENMP=1 -I"$HERE/../csrc/include" -I"$INCLUDE" \
  "$HERE/runtime_bench.cpp" "$HERE/../csrc/runtime/work_pool.cpp" -L"$LIB" -ltbb -Wl,-rpath,"$LIB" -o "$OUT"
for blocks in 256 32 8; do
  echo "== $blocks blocks, no load of ours (load average $(cut -d' ' -f1 /proc/loadavg))"; "$OUT" $blocks
  python3 -c "while True: pass" & first=$!
  python3 -c "while True: pass" & second=$!
  sleep 0.3
  echo "== $blocks blocks, 2 busy processes"; "$OUT" $blocks
  kill $first $second; wait $first $second 2>/dev/null || true
done
