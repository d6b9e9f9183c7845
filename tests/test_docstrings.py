"""The public docstrings: every public function documents its formula, gradient, shapes and an
example, and the examples (doctests) of every public module run and print what they claim."""

import doctest
import inspect

import pytest

import fusedloss
from fusedloss import (_backend, _building_blocks, _classification, _config, _linear,
                       _regression)

# (module, at least this many examples)
PUBLIC_MODULES = [(_regression, 8), (_classification, 16), (_building_blocks, 6), (_backend, 3),
                  (_config, 2), (_linear, 1)]
LOSSES = ["softmax_cross_entropy", "multiclass_hinge", "mean_squared_error", "cross_entropy",
          "sigmoid_binary_cross_entropy", "l2_penalty", "l1_penalty", "elastic_net_penalty",
          "softmax_focal_loss", "softmax_kl_divergence"]


@pytest.mark.parametrize("name", sorted(fusedloss.__all__))
def test_public_names_have_docstrings(name):
    obj = getattr(fusedloss, name)
    if name == "__version__":
        return
    assert obj.__doc__ and ">>>" in obj.__doc__, f"{name}: no docstring example"
    assert inspect.getmodule(obj) in [module for module, _ in PUBLIC_MODULES], name


@pytest.mark.parametrize("name", LOSSES + ["softmax", "log_softmax", "logsumexp"])
def test_math_docstrings_have_formula_gradient_and_shapes(name):
    doc = getattr(fusedloss, name).__doc__
    assert "radient" in doc or "Jacobian" in doc, f"{name}: no gradient"
    assert "hape" in doc, f"{name}: no shapes"
    assert "``" in doc.split("\n\n")[0] + doc.split("\n\n")[1], f"{name}: no formula up front"


@pytest.mark.parametrize("module,minimum", PUBLIC_MODULES, ids=lambda m: getattr(m, "__name__", str(m)))
def test_docstring_examples_run(module, minimum):
    previous = fusedloss.get_backend()
    try:
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    finally:
        fusedloss.set_backend(previous)
    assert result.attempted >= minimum
    assert result.failed == 0
