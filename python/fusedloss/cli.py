"""The ``fusedloss`` command: ``fusedloss bench`` and ``fusedloss info``."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _parser() -> argparse.ArgumentParser:
    from ._benchmark import LOSSES

    parser = argparse.ArgumentParser(prog="fusedloss", description="fused loss-and-gradient kernels for NumPy")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    bench = sub.add_parser("bench", help="time fused loss+gradient against the NumPy reference")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="input dtype (default: float32)")
    bench.add_argument("--repeats", type=int, default=5, metavar="N", help="timed runs per case; the best counts (default: 5)")
    bench.add_argument(
        "--loss", action="append", choices=list(LOSSES), metavar="NAME", dest="losses",
        help=f"loss to time (repeatable; default: all of {', '.join(LOSSES)})",
    )
    bench.add_argument("--threads", type=int, default=None, metavar="N", help="threads for the kernels (default: all)")

    sub.add_parser("info", help="show the configuration (backend, SIMD, OpenMP, compiler)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "info":
        from ._config import show_config

        show_config()
        return 0

    from ._backend import get_backend
    from ._benchmark import format_table, run_benchmarks

    if args.repeats < 1:
        print("fusedloss bench: --repeats must be >= 1", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print("fusedloss bench: --threads must be >= 1", file=sys.stderr)
        return 2
    if get_backend() != "native":
        print("fusedloss bench: warning: the compiled extension is not in use; timing the NumPy fallback", file=sys.stderr)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        rows = run_benchmarks(args.losses, dtype=args.dtype, repeats=args.repeats, threads=args.threads, progress=progress)
    except AssertionError as error:
        print(f"fusedloss bench: WRONG RESULT: {error}", file=sys.stderr)
        return 1
    print(format_table(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
