"""The ``fusedloss`` command: ``fusedloss bench`` and ``fusedloss info``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, List, Optional, Tuple


def _comma_list(text: str) -> List[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parse_threads(text: str) -> List[int]:
    try:
        values = [int(part) for part in _comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive ints separated by commas (e.g. 1,2), got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive ints separated by commas (e.g. 1,2), got {text!r}")
    return values


def _parse_shape(text: str) -> Tuple[int, ...]:
    # Every part must be a number: "10x" or "x10" is an error, not the 1-D shape (10,).
    try:
        shape = tuple(int(part) for part in text.strip().lower().replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if len(shape) not in (1, 2, 3) or any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(f"expected ROWSxCLASSES (e.g. 4096x1000), ELEMENTS (e.g. 1000000) "
                                         f"or, for linear_cross_entropy, NxDxV (e.g. 2048x512x32000), got {text!r}")
    return shape


def _parser() -> argparse.ArgumentParser:
    from ._bench.cases import LOSSES

    from ._version import __version__

    parser = argparse.ArgumentParser(prog="fusedloss", description="fused loss-and-gradient kernels for NumPy")
    parser.add_argument("--version", action="version", version=f"fusedloss {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    bench = sub.add_parser(
        "bench", help="time fused loss+gradient against NumPy, PyTorch, JAX and a copy of the same bytes",
        description="Times loss+gradient (reduction='mean') per loss, shape, dtype and thread count, "
                    "interleaving the contenders and reporting medians. The copy columns are the "
                    "bandwidth floor of a one-pass kernel: a parallel copy of the first argument on "
                    "the same threads, and np.copyto (single-threaded).",
    )
    bench.add_argument("--version", action="version", version=f"fusedloss {__version__}")
    bench.add_argument(
        "--loss", action="append", metavar="NAME", dest="losses",
        help=f"loss to time, repeatable or comma-separated (default: all of {', '.join(LOSSES)}); "
             "also linear_cross_entropy (a linear head + softmax CE: time and peak memory against "
             "the three-GEMM floor, PyTorch and the NumPy + fusedloss path; not in the default set)",
    )
    bench.add_argument("--shape", action="append", type=_parse_shape, dest="shapes", metavar="SHAPE",
                       help="shape to time instead of the standard ones (repeatable): ROWSxCLASSES for "
                            "softmax_cross_entropy, multiclass_hinge and cross_entropy; ELEMENTS for "
                            "the elementwise losses (mean_squared_error, huber_loss, ...); either for "
                            "sigmoid_binary_cross_entropy; NxDxV for linear_cross_entropy")
    bench.add_argument("--dtype", choices=["float32", "float64", "bfloat16", "float16"], default="float32",
                       help="input dtype (default: float32; bfloat16 is ml_dtypes')")
    bench.add_argument("--threads", type=_parse_threads, default=None, metavar="N[,N...]",
                       help="thread counts, one column set each, e.g. 1,2 (default: OpenMP's default)")
    bench.add_argument("--repeats", type=int, default=7, metavar="N",
                       help="timed rounds per case; the median counts (default: 7)")
    bench.add_argument("--large", action="store_true",
                       help="add shapes larger than the last-level cache (1 GiB in float32; skipped if memory is short)")
    bench.add_argument("--options", action="store_true",
                       help="time each option (weights, ignore_index, label smoothing, ...) against the plain loss")
    peers = bench.add_mutually_exclusive_group()
    peers.add_argument("--peers", dest="peers", action="store_true", default=True,
                       help="time PyTorch and JAX when importable (default)")
    peers.add_argument("--no-peers", dest="peers", action="store_false", help="do not time PyTorch or JAX")
    bench.add_argument("--scale", type=float, default=1.0, metavar="F",
                       help="linear_cross_entropy: multiply N and V of its standard shapes by F (e.g. 0.05 for a quick run)")
    bench.add_argument("--json", metavar="FILE", help="write machine info and every timing to FILE")
    bench.add_argument("--plot", metavar="FILE.png", help="plot the speedup (log scale) and copy time / fusedloss time per case (needs matplotlib)")
    bench.add_argument("--quiet", action="store_true", help="no progress on stderr")

    sub.add_parser("info", help="show the configuration (backend, SIMD, OpenMP, compiler)")
    return parser


def _progress(total_hint: bool, quiet: bool) -> Tuple[Optional[Callable[[str], None]], Callable[[], None]]:
    """A progress callback on stderr (a tqdm bar when tqdm is installed) and its closer."""
    if quiet:
        return None, lambda: None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        def plain(message: str) -> None:
            print(message, file=sys.stderr, flush=True)
        return plain, lambda: None
    bar: Any = None

    def update(message: str) -> None:
        nonlocal bar
        # messages look like "[i/n] loss shape dtype"
        position, _, description = message.partition(" ")
        index, _, total = position.strip("[]").partition("/")
        if bar is None:
            bar = tqdm(total=int(total), file=sys.stderr, unit="case", leave=False, dynamic_ncols=True)
        bar.n = int(index) - 1
        bar.set_description(description)
        bar.refresh()

    def close() -> None:
        if bar is not None:
            bar.n = bar.total
            bar.close()

    return update, close


def _output_path_error(option: str, path: str) -> Optional[str]:
    """Why ``path`` cannot be written (checked before anything is timed), or ``None``."""
    target = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(target):
        return f"{option} {path}: is a directory"
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        return f"{option} {path}: directory {parent} does not exist"
    if os.path.exists(target):
        if not os.access(target, os.W_OK):
            return f"{option} {path}: file is not writable"
    elif not os.access(parent, os.W_OK | os.X_OK):
        return f"{option} {path}: directory {parent} is not writable"
    return None


def _bench(args: argparse.Namespace) -> int:
    from ._backend import get_backend
    from ._bench.cases import LOSSES, SHAPE_KINDS, shape_fits
    from ._bench.runner import format_table, machine_info, run_benchmarks, write_plot

    from ._bench.linear import NAME as LINEAR

    losses = [name for item in (args.losses or []) for name in _comma_list(item)] or None
    linear = losses is not None and LINEAR in losses
    if linear:
        assert losses is not None
        losses = [name for name in losses if name != LINEAR] or None
    shapes3 = [s for s in args.shapes or [] if len(s) == 3]
    if shapes3 and not linear:
        print(f"fusedloss bench: --shape {'x'.join(map(str, shapes3[0]))}: a shape NxDxV is for "
              "--loss linear_cross_entropy only", file=sys.stderr)
        return 2
    if args.scale <= 0:
        print(f"fusedloss bench: --scale must be > 0, got {args.scale}", file=sys.stderr)
        return 2
    for name in losses or []:
        if name not in LOSSES:
            print(f"fusedloss bench: unknown loss {name!r}; choose from {', '.join(LOSSES)}", file=sys.stderr)
            return 2
    if args.repeats < 1:
        print(f"fusedloss bench: --repeats must be >= 1, got {args.repeats}", file=sys.stderr)
        return 2
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        problem = _output_path_error(option, path) if path else None
        if problem:
            print(f"fusedloss bench: {problem}", file=sys.stderr)
            return 2
    shapes2 = [s for s in args.shapes or [] if len(s) != 3]
    if shapes2 and (losses is not None or not linear):
        asked = losses if losses is not None else list(LOSSES)
        unfit = [name for name in asked if not any(shape_fits(name, s) for s in shapes2)]
        if len(unfit) == len(asked):
            kinds = "; ".join(f"{name}: {SHAPE_KINDS[name]}" for name in asked)
            given = ", ".join("x".join(map(str, s)) for s in shapes2)
            print(f"fusedloss bench: no --shape fits the losses asked for (given {given}); "
                  f"the shape kinds are {kinds}", file=sys.stderr)
            return 2
        for name in unfit:
            print(f"fusedloss bench: note: no --shape fits {name} (it takes {SHAPE_KINDS[name]}); "
                  "not timed", file=sys.stderr)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("fusedloss bench: --plot needs matplotlib (pip install 'fusedloss[bench]')", file=sys.stderr)
            return 2
    if get_backend() != "native":
        print("fusedloss bench: warning: the compiled extension is not in use; timing the NumPy fallback", file=sys.stderr)

    raw: List[Any] = []
    notes: List[str] = []
    if linear:
        code = _bench_linear(args, shapes3, raw, notes)
        if losses is None or code != 0:
            return code
        args.shapes = [s for s in args.shapes or [] if len(s) != 3] or None
    progress, close = _progress(True, args.quiet)
    try:
        rows = run_benchmarks(
            losses, dtype=args.dtype, repeats=args.repeats, threads=args.threads, shapes=args.shapes,
            large=args.large, options=args.options, peers=args.peers, progress=progress, raw=raw, notes=notes,
        )
    except AssertionError as error:
        close()
        print(f"fusedloss bench: WRONG RESULT: {error}", file=sys.stderr)
        return 1
    close()
    if not rows:
        print("fusedloss bench: nothing to time (no shape fits the losses asked for)", file=sys.stderr)
        return 2
    print(format_table(rows))
    for note in notes:
        print(f"note: {note}")
    if args.json:
        document = {"machine": machine_info(), "settings": {
            "losses": losses, "shapes": args.shapes, "dtype": args.dtype, "threads": args.threads,
            "repeats": args.repeats, "large": args.large, "options": args.options, "peers": args.peers,
            "statistic": "median"}, "rows": rows, "timings": raw, "notes": notes}
        with open(args.json, "w") as handle:
            json.dump(document, handle, indent=1)
    if args.plot:
        write_plot(rows, args.plot)
    return 0


def _bench_linear(args: argparse.Namespace, shapes: List[Tuple[int, ...]], raw: List[Any],
                  notes: List[str]) -> int:
    from ._bench import linear as bench

    chosen = [tuple(s) for s in shapes] or [bench.scaled(s, args.scale) for s in bench.SHAPES]
    threads = args.threads or [None]
    from ._bench.runner import _threads_value

    counts = [_threads_value(t) for t in threads]
    progress, close = _progress(True, args.quiet)
    try:
        rows = bench.run(chosen, counts, repeats=args.repeats, dtype=args.dtype, peers=args.peers,  # type: ignore[arg-type]
                         progress=progress, notes=notes, raw=raw)
    except AssertionError as error:
        close()
        print(f"fusedloss bench: WRONG RESULT: {error}", file=sys.stderr)
        return 1
    close()
    print(bench.format_table(rows))
    for note in notes:
        print(f"note: {note}")
    notes.clear()
    if args.json:
        from ._bench.runner import machine_info

        with open(args.json, "w") as handle:
            json.dump({"machine": machine_info(), "settings": {
                "loss": bench.NAME, "shapes": [list(s) for s in chosen], "dtype": args.dtype,
                "threads": counts, "repeats": args.repeats, "statistic": "median"},
                "rows": rows, "timings": raw}, handle, indent=1)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "info":
        from ._config import show_config

        show_config()
        return 0
    return _bench(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
