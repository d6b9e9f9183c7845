#!/usr/bin/env python3
"""Worst float32 error per function/option and ISA over the offset sweep (issue 16 item 1).

Runs the cases of tests/test_offset_accuracy.py (logits u + offset, u ~ N(0, 3^2), offsets
±{0, 1e2, 1e4, 1e6, 1e8}, float32, reduction "none") on every ISA this CPU supports and prints,
per function/option, the worst loss (or value) and gradient error in float32 units
(``max(ulp(|expected|), 2^-23 * scale)``, see the test module) and where it occurred, against
the float64 computation of the same float32 inputs. Use it for the before/after figures:

    python scripts/offset_ulp_report.py                 # every case, every ISA
    python scripts/offset_ulp_report.py --isa avx512 --case softmax_cross_entropy
    python scripts/offset_ulp_report.py --markdown      # a table for a note
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

import test_offset_accuracy as sweep  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", action="append", help="ISA(s) to run (default: every supported)")
    parser.add_argument("--case", action="append", help="case name(s) (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    isas = args.isa or list(sweep.SUPPORTED_ISAS)
    names = args.case or list(sweep.CASES)

    results = {}
    for name in names:
        for isa in isas:
            loss, grad, loss_units, grad_units = sweep.measure(name, isa)
            results[name, isa] = (loss_units, grad_units, loss.error, grad and grad.error)

    def cell(worst, ratio):
        if worst is None:
            return "-"
        mark = "" if ratio <= 1.0 else " FAIL"
        return f"{worst.error:.3g}{mark}"

    if args.markdown:
        header = "| function / option | " + " | ".join(
            f"{isa} loss | {isa} grad" for isa in isas) + " |"
        print(header)
        print("|" + "---|" * (1 + 2 * len(isas)))
        for name in names:
            cells = []
            for isa in isas:
                loss_units, grad_units, loss_ratio, grad_ratio = results[name, isa]
                cells += [cell(loss_units, loss_ratio), cell(grad_units, grad_ratio)]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print("\nUnits: float32 ulps of the expected result, 2^-23 absolute below 1 "
              "(gradients: times the row's gradient scale). FAIL: over the test's bound.")
        return 0
    for name in names:
        for isa in isas:
            loss_units, grad_units, loss_ratio, grad_ratio = results[name, isa]
            line = (f"{name:48s} {isa:9s} loss {cell(loss_units, loss_ratio):>12s} "
                    f"at {loss_units.where:24s}")
            if grad_units is not None:
                line += f" grad {cell(grad_units, grad_ratio):>12s} at {grad_units.where}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
