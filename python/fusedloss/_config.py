"""show_config(): what this installation is and what it runs."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Dict, Optional

import numpy as np

from . import _backend
from ._version import __version__


# The _OPENMP macro (yyyymm of the specification) -> the OpenMP version it names.
_OPENMP_VERSIONS = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0", 201511: "4.5",
                    201811: "5.0", 202011: "5.1", 202111: "5.2", 202411: "6.0"}


def _openmp_runtime(library: str) -> Optional[Dict[str, Any]]:
    """threadpoolctl's view of the OpenMP runtime at ``library`` (None without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return None
    target = os.path.realpath(library) if library else ""
    openmp = [entry for entry in threadpool_info() if entry.get("user_api") == "openmp"]
    for entry in openmp:
        if target and os.path.realpath(entry.get("filepath", "")) == target:
            found: Dict[str, Any] = entry
            return found
    if len(openmp) == 1:
        only: Dict[str, Any] = openmp[0]
        return only
    return None


def config() -> Dict[str, Any]:
    """The configuration as a dict (see :func:`show_config`): ``version``, ``backend``, and
    with the extension loaded ``isa_built`` / ``isa_supported`` / ``isa_selected`` (SIMD paths),
    ``openmp`` / ``openmp_version`` / ``openmp_threads`` (OpenMP's default: what
    ``OMP_NUM_THREADS`` and threadpoolctl set), ``threads`` (what a ``threads=None`` call uses:
    that default, capped by the affinity mask and the cgroup CPU quota unless chosen
    explicitly), ``cpu_quota`` (CPUs the cgroup quota allows, ``"none"``), ``threading`` (the
    kernels' own work pool), ``streaming_stores`` (from which gradient size the kernels write
    past the cache: ``FUSEDLOSS_STREAMING_BYTES``), ``openmp_library`` (the OpenMP runtime whose
    settings are read)
    and, with threadpoolctl installed, ``openmp_runtime`` / ``openmp_runtime_threads``,
    ``compiler`` and ``cxx_flags``.

    >>> import fusedloss
    >>> info = fusedloss.config()
    >>> info["version"] == fusedloss.__version__, info["backend"] == fusedloss.get_backend()
    (True, True)
    """
    info: Dict[str, Any] = {
        "version": __version__,
        "backend": _backend.get_backend(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    core = _backend.core
    if core is None:
        info["extension"] = f"unavailable ({_backend._import_error})"
        return info
    build = core.build_config()
    info.update(
        {
            "extension": "loaded",
            "compiler": build["compiler"],
            "cxx_flags": build["cxx_flags"].strip(),
            "openmp": build["openmp"],
            "openmp_version": _OPENMP_VERSIONS.get(build["openmp_version"], build["openmp_version"]),
            "openmp_threads": core.openmp_max_threads(),
            "threads": core.max_threads(),
            "cpu_quota": core.cpu_limit() or "none",
            "threading": f"fusedloss work pool ({core.pool_workers()} workers started)",
            "isa_built": list(core.built_isas()),
            "isa_supported": list(core.supported_isas()),
            "isa_selected": core.selected_isa(),
            "streaming_stores": (f"gradients of {core.streaming_threshold()} bytes or more"
                                 if core.isa_has_streaming_stores() else "none (this ISA has none)"),
        }
    )
    library = core.openmp_library() if build["openmp"] else ""
    if library:
        info["openmp_library"] = library
        runtime = _openmp_runtime(library)
        if runtime is not None:
            version = runtime.get("version")
            info["openmp_runtime"] = f"{runtime['prefix']} {version}" if version else runtime["prefix"]
            info["openmp_runtime_threads"] = runtime["num_threads"]
    return info


def show_config() -> None:
    """Print version, backend, SIMD paths (built / supported / selected), the OpenMP runtime
    (library, and its name and threads as threadpoolctl sees them when it is installed), the
    threads a call uses by default (and the CPU quota that caps them), and the compiler and
    flags of the extension (one ``key: value`` per line; also ``fusedloss info`` on the
    command line).

    >>> import fusedloss
    >>> fusedloss.show_config()  # doctest: +ELLIPSIS
                   version: ...
                   backend: ...
    """
    for key, value in config().items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{key:>22}: {value}")
