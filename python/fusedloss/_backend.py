"""Which implementation runs: the compiled kernels (``_core``) or the NumPy reference."""

from __future__ import annotations

import os
import warnings
from types import ModuleType
from typing import Optional

_BACKENDS = ("native", "numpy")

core: Optional[ModuleType]
_import_error: Optional[BaseException]
try:
    from . import _core as core

    _import_error = None
except ImportError as error:  # the extension is missing or was built for another Python
    if "FUSEDLOSS_ISA" in str(error):
        # A forced instruction set that cannot run is the user's explicit request: say so,
        # never fall back silently to the slow reference.
        raise RuntimeError(str(error)) from error
    core = None
    _import_error = error

if core is not None:
    # threads=None also respects a container's CPU quota (read once, at import).
    from ._cpu_quota import cgroup_cpu_limit

    core.set_cpu_limit(cgroup_cpu_limit() or 0)

    # Gradients of at least this many bytes are written with streaming stores, past the cache
    # (default 32 MiB; docs/performance-notes.md, "Streaming stores"). A machine whose
    # last-level cache holds more (or less) may move it; a bad value fails the import, as a bad
    # FUSEDLOSS_ISA does.
    _streaming = os.environ.get("FUSEDLOSS_STREAMING_BYTES", "").strip()
    if _streaming:
        try:  # (int() refuses "1.5" and "lots", the setter a negative count)
            core.set_streaming_threshold(int(_streaming))
        except ValueError:
            raise ValueError(
                f"FUSEDLOSS_STREAMING_BYTES: expected a whole number of bytes >= 0, got {_streaming!r}"
            ) from None

_state = {"backend": "native"}


def _initial_backend() -> str:
    requested = os.environ.get("FUSEDLOSS_BACKEND", "").strip().lower()
    if requested:
        set_backend(requested)
        return _state["backend"]
    if core is None:
        warnings.warn(
            f"fusedloss: the compiled extension could not be imported ({_import_error}); "
            "using the (much slower) NumPy reference implementation. Reinstall fusedloss "
            "(pip install --force-reinstall fusedloss) to get the fused kernels.",
            RuntimeWarning,
            stacklevel=3,
        )
        _state["backend"] = "numpy"
    return _state["backend"]


def get_backend() -> str:
    """Return the active backend: ``"native"`` (compiled kernels) or ``"numpy"``.

    >>> import fusedloss
    >>> fusedloss.get_backend() in ("native", "numpy")
    True
    """
    return _state["backend"]


def set_backend(name: str) -> None:
    """Select the backend: ``"native"`` or ``"numpy"``.

    ``"native"`` raises ``RuntimeError`` (saying why) when the extension cannot be imported.
    The environment variable ``FUSEDLOSS_BACKEND`` (same two names) sets it at import.

    >>> import fusedloss
    >>> previous = fusedloss.get_backend()
    >>> fusedloss.set_backend("numpy"); fusedloss.get_backend()
    'numpy'
    >>> fusedloss.set_backend(previous)
    """
    if not isinstance(name, str) or name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    if name == "native" and core is None:
        raise RuntimeError(
            f"the fusedloss native backend is unavailable: importing fusedloss._core failed "
            f"with: {_import_error!r}"
        )
    _state["backend"] = name


def use_native() -> bool:
    return _state["backend"] == "native"
