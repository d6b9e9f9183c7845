"""fusedloss: fused loss-and-gradient kernels for NumPy arrays.

Every loss computes its value and, with ``return_grad=True``, its gradient in one pass over
memory, in compiled SIMD/OpenMP kernels; a NumPy reference implementation stands in when the
extension is unavailable (or ``set_backend("numpy")``).
"""

from ._backend import _initial_backend, get_backend, set_backend
from ._building_blocks import (
    elastic_net_penalty,
    l1_penalty,
    l2_penalty,
    log_softmax,
    logsumexp,
    softmax,
)
from ._config import config, show_config
from ._linear import linear_cross_entropy
from ._regression import *  # noqa: F401,F403 (every elementwise loss of the registry)
from ._classification import *  # noqa: F401,F403 (every row-wise loss of the registry)
from ._version import __version__
from . import _classification, _regression

__all__ = [
    "__version__",
    "config",
    "elastic_net_penalty",
    "get_backend",
    "l1_penalty",
    "l2_penalty",
    "linear_cross_entropy",
    "log_softmax",
    "logsumexp",
    "set_backend",
    "show_config",
    "softmax",
]
__all__ += _regression.__all__ + _classification.__all__

_initial_backend()
del _initial_backend
