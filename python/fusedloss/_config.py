"""show_config(): what this installation is and what it runs."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Dict

import numpy as np

from . import _backend
from ._version import __version__


def config() -> Dict[str, Any]:
    """The configuration as a dict (see :func:`show_config`): ``version``, ``backend``, and
    with the extension loaded ``isa_built`` / ``isa_supported`` / ``isa_selected`` (SIMD paths),
    ``openmp`` / ``openmp_threads``, ``compiler`` and ``cxx_flags``.

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
            "openmp_version": build["openmp_version"],
            "openmp_threads": core.max_threads(),
            "isa_built": list(core.built_isas()),
            "isa_supported": list(core.supported_isas()),
            "isa_selected": core.selected_isa(),
        }
    )
    return info


def show_config() -> None:
    """Print version, backend, SIMD paths (built / supported / selected), OpenMP threads and
    the compiler the extension was built with (one ``key: value`` per line; also
    ``fusedloss info`` on the command line).

    >>> import fusedloss
    >>> fusedloss.show_config()  # doctest: +ELLIPSIS
             version: ...
             backend: ...
    """
    for key, value in config().items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{key:>16}: {value}")
