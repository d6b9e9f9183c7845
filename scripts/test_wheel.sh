#!/usr/bin/env bash
# Build the wheel, repair it into a manylinux wheel with the OpenMP runtime bundled
# (scripts/repair_wheel.sh, on Linux), install THAT wheel into a fresh venv, check that the
# extension loads libgomp from the wheel's fusedloss.libs/, and run the test suite against the
# installed wheel (not the source tree): tests/ and examples/ are copied to a temporary directory and
# pytest runs there, with rootdir there, so `import fusedloss` can only find site-packages.
#
#   scripts/test_wheel.sh [PYTHON]        (default: python3; WORK=dir keeps the files)
#
# WHEEL=path tests that wheel instead of building one (a linux_* wheel is repaired first);
# WHEEL_NO_REPAIR=1 tests the plain linux_* wheel as built; WHEEL_TESTS="tests/test_x.py ..."
# runs those test files only (default: all of tests/).
#
# Also checks that the wheel, built for the baseline CPU of its platform (no -march=native),
# selects the widest instruction set this CPU runs (AVX2 on an AVX2 x86-64 machine) at run time.
set -euo pipefail

PYTHON=${1:-python3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z "${WORK:-}" ]]; then
  WORK=$(mktemp -d -t fusedloss-wheel.XXXXXX)
  trap 'rm -rf "$WORK"' EXIT  # (WORK=dir given: kept)
fi
START=$(date +%s)
echo "== work dir: $WORK"

WHEEL=${WHEEL:-}
if [[ -z "$WHEEL" ]]; then
  echo "== building the wheel (pip wheel . --no-deps)"
  T0=$(date +%s)
  "$PYTHON" -m pip wheel "$ROOT" --no-deps -w "$WORK/dist" -q
  WHEEL=$(ls "$WORK"/dist/fusedloss-*.whl)
  echo "   $WHEEL (built in $(( $(date +%s) - T0 )) s)"
fi
REPAIRED=0
if [[ "$WHEEL" == *manylinux_2_* ]]; then
  REPAIRED=1   # given an already repaired wheel
elif [[ "$(uname -s)" == Linux && "${WHEEL_NO_REPAIR:-0}" != 1 ]]; then
  T0=$(date +%s)
  WHEEL=$(PYTHON="$PYTHON" "$ROOT/scripts/repair_wheel.sh" "$WHEEL" "$WORK/repaired")
  echo "   $WHEEL (repaired in $(( $(date +%s) - T0 )) s)"
  case "$(basename "$WHEEL")" in
    *manylinux_2_*) REPAIRED=1 ;;
    *) echo "ERROR: the repaired wheel has no manylinux tag: $WHEEL" >&2; exit 1 ;;
  esac
fi

echo "== fresh venv, installing the wheel with its test extra"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q "${WHEEL}[test,examples]"
# The PyTorch parity tests compare against torch when it is importable; install the CPU build
# pinned in the `peers` extra only when asked (it is large): WHEEL_WITH_PEERS=1.
if [[ "${WHEEL_WITH_PEERS:-0}" == 1 ]]; then "$VPY" -m pip install -q "${WHEEL}[peers]"; fi

echo "== running from $WORK/run (not the source tree)"
mkdir -p "$WORK/run"
cp -r "$ROOT/tests" "$ROOT/examples" "$WORK/run/"
cp "$ROOT/pyproject.toml" "$WORK/run/"   # the pytest settings (filterwarnings=error, markers)
cd "$WORK/run"
LOCATION=$("$VPY" -c "import fusedloss; print(fusedloss.__file__)")
echo "   fusedloss imported from: $LOCATION"
case "$LOCATION" in
  "$WORK/venv/"*site-packages*) ;;
  *) echo "ERROR: fusedloss was not imported from the venv's site-packages" >&2; exit 1 ;;
esac

if [[ "$REPAIRED" == 1 ]]; then
  echo "== the OpenMP runtime comes from the wheel (fusedloss.libs/)"
  CORE=$("$VPY" -c "import fusedloss._core as c; print(c.__file__)")
  LIBS=$(cd "$(dirname "$CORE")/../fusedloss.libs" && pwd)
  ldd "$CORE" | grep -i 'gomp\|omp' | sed 's/^/   ldd: /'
  GOMP=$(ldd "$CORE" | awk '/libgomp/ {print $3}')
  [[ -n "$GOMP" && "$(cd "$(dirname "$GOMP")" && pwd -P)" == "$(cd "$LIBS" && pwd -P)" ]] \
    || { echo "ERROR: _core does not resolve libgomp from $LIBS" >&2; ldd "$CORE" >&2; exit 1; }
  "$VPY" - "$LIBS" <<'PY'
import os, sys
import fusedloss
library = fusedloss.config().get("openmp_library", "")
print(f"   openmp_library: {library}")
assert os.path.dirname(os.path.realpath(library)) == os.path.realpath(sys.argv[1]), library
assert os.path.basename(library).startswith("libgomp"), library
PY
fi

echo "== instruction sets (built for the baseline, selected at run time)"
"$WORK/venv/bin/fusedloss" info
"$VPY" - <<'PY'
import fusedloss
c = fusedloss.config()
flags = open("/proc/cpuinfo").read().split() if __import__("os").path.exists("/proc/cpuinfo") else []
print(f"   selected {c['isa_selected']} of built {c['isa_built']} (CPU runs {c['isa_supported']})")
assert c["backend"] == "native", c
assert "-march=native" not in c["cxx_flags"], c["cxx_flags"]
assert "baseline" in c["isa_built"], c["isa_built"]
# The selector picks the widest supported path: on an AVX2 machine that is avx2 (or wider).
assert c["isa_selected"] == c["isa_supported"][-1], c
if "avx2" in flags and "fma" in flags:
    assert c["isa_selected"] in ("avx2", "avx512"), c["isa_selected"]
PY
# ...and the baseline path is there for CPUs without AVX2 (forced here).
FUSEDLOSS_ISA=baseline "$VPY" -c "import fusedloss, numpy as np; c = fusedloss.config(); \
assert c['isa_selected'] == 'baseline', c['isa_selected']; \
assert abs(float(fusedloss.softmax_cross_entropy(np.zeros((4, 10)), [1, 2, 3, 4])) - np.log(10)) < 1e-12; \
print('   FUSEDLOSS_ISA=baseline runs the baseline kernels')"

echo "== the main job against the installed wheel (a short fusedloss bench: every loss, small shapes)"
"$WORK/venv/bin/fusedloss" bench --quiet --no-peers --threads 1 --repeats 3 \
  --shape 100000 --shape 256x100

echo "== pytest against the installed wheel"
# WHEEL_TESTS="tests/test_config.py ..." runs only those (CI: the installed-wheel checks).
# shellcheck disable=SC2086
"$VPY" -m pytest -q -p no:cacheprovider --rootdir "$WORK/run" ${WHEEL_TESTS:-tests}
echo "== done in $(( $(date +%s) - START )) s"
