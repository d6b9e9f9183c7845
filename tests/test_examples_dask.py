"""The Dask example trains: its loss falls and its accuracy approaches the generating model's."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "dask_softmax_sgd.py"


def _load():
    spec = importlib.util.spec_from_file_location("dask_softmax_sgd", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dask_softmax_sgd_example_learns():
    example = _load()
    lines = []
    result = example.main(["--rows", "40000", "--chunk-rows", "9000", "--steps", "20"], log=lines.append)
    losses = result["losses"]
    assert abs(losses[0] - 1.6094379) < 1e-4  # log(5): W = 0 gives uniform probabilities
    assert all(b < a for a, b in zip(losses, losses[1:]))  # full-batch descent: falls every step
    assert losses[-1] < 0.35 * losses[0]
    # 5 classes (chance 0.2); the generating model itself reaches result["bayes_accuracy"] (~0.87)
    assert result["accuracy"] > result["bayes_accuracy"] - 0.02
    assert any("final accuracy" in line for line in lines)
