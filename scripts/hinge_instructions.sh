#!/usr/bin/env bash
# Instructions per row (valgrind callgrind, repeatable on a busy machine) and best-of-N time of
# the multiclass hinge kernel alone, compiled with the avx2 unit's flags.
#
#   scripts/hinge_instructions.sh            # the working tree's csrc/
#   scripts/hinge_instructions.sh main       # csrc/ of a git revision, for a before/after
#
# Env: SHAPES (default "65536x10 65536x2 65536x16"), CXX (default g++).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d -t fusedloss-hinge.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
SOURCE="$ROOT/csrc"
if [ $# -ge 1 ]; then
  git -C "$ROOT" archive "$1" csrc | tar -x -C "$WORK"
  SOURCE="$WORK/csrc"
fi
${CXX:-g++} -O3 -DNDEBUG -fopenmp -std=c++17 -mavx2 -mfma -mf16c -fno-trapping-math \
  -I"$SOURCE/include" -I"$SOURCE" -o "$WORK/harness" "$ROOT/scripts/hinge_harness.cpp"
for shape in ${SHAPES:-65536x10 65536x2 65536x16}; do
  rows=${shape%x*}; classes=${shape#*x}
  for dtype in 0 1; do
    for mode in "0 0" "1 0" "0 1"; do  # plain, squared, forward only
      set -- $mode
      time_line=$("$WORK/harness" "$rows" "$classes" 20 "$dtype" "$1" "$2")
      valgrind --tool=callgrind --callgrind-out-file="$WORK/cg" \
        "$WORK/harness" "$rows" "$classes" 1 "$dtype" "$1" "$2" > /dev/null 2>&1
      count=$(callgrind_annotate --inclusive=yes "$WORK/cg" | grep run_kernel | head -1 |
              awk '{gsub(",", "", $1); print $1}')
      printf '%-9s %s squared=%s forward_only=%s  %6.1f instructions/row  %s\n' "$shape" \
        "$([ "$dtype" = 1 ] && echo f64 || echo f32)" "$1" "$2" \
        "$(python3 -c "print($count / $rows)")" "${time_line##* best=}"
    done
  done
done
