"""Arrays of more than 2^31 elements (64-bit indexing). Slow and memory-hungry: deselected by
default, run with `python -m pytest -m slow tests/test_large.py`.

The logits are `np.zeros((N, C), float32)` with N*C > 2^31: an 8 GiB anonymous mapping whose
untouched pages all read as the kernel's shared zero page, so the forward pass reads all 2^31+
elements while the process's resident memory grows only by the few pages written here (and the
labels and per-row losses, ~12 bytes per row). The last row lies beyond element 2^31, so a
32-bit row offset would read the wrong memory (or crash); its loss is checked in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import fusedloss

CLASSES = 1024
ROWS = 2**31 // CLASSES + 3  # N*C = 2^31 + 3072 elements
LAST_ROW_MAX = 3.0


def mem_available_bytes():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def require_memory(needed):
    available = mem_available_bytes()
    if available < needed:
        pytest.skip(f"needs {needed / 2**30:.1f} GiB of MemAvailable, have {available / 2**30:.1f}")


@pytest.mark.slow
def test_forward_over_2_to_the_31_elements():
    # Resident: labels (8 B/row) + per-row losses (4 B/row) + a few written pages; the 8 GiB of
    # logits are address space only (the kernel maps the zero page for reads of untouched pages).
    require_memory(ROWS * 12 + 512 * 2**20)
    logits = np.zeros((ROWS, CLASSES), dtype=np.float32)
    assert logits.size > 2**31
    labels = np.zeros(ROWS, dtype=np.int64)
    logits[-1, 7] = LAST_ROW_MAX  # beyond element 2^31
    labels[-1] = 7
    labels[-2] = CLASSES - 1

    losses = fusedloss.softmax_cross_entropy(logits, labels, reduction="none")
    uniform = np.log(CLASSES)  # all logits equal: log C
    last = np.log(np.exp(LAST_ROW_MAX) + CLASSES - 1) - LAST_ROW_MAX
    assert losses.shape == (ROWS,) and losses.dtype == np.float32
    np.testing.assert_allclose(losses[:-1], uniform, rtol=2e-6)
    np.testing.assert_allclose(losses[-1], last, rtol=2e-6)

    mean = fusedloss.softmax_cross_entropy(logits, labels)
    expected_mean = ((ROWS - 1) * uniform + last) / ROWS
    np.testing.assert_allclose(float(mean), expected_mean, rtol=2e-6)

    _, argmax = fusedloss.softmax_cross_entropy(logits, labels, reduction="sum",
                                                return_argmax=True)
    assert argmax[-1] == 7 and argmax[0] == 0 and argmax[-2] == 0
    lse = fusedloss.logsumexp(logits[-3:])
    np.testing.assert_allclose(lse, [uniform, uniform, last + LAST_ROW_MAX], rtol=2e-6)
