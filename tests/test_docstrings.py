"""The examples in the public docstrings run and print what they claim."""

import doctest

import pytest

import fusedloss
from fusedloss import _building_blocks, _losses, _probabilistic


@pytest.mark.parametrize("name", sorted(fusedloss.__all__))
def test_public_names_have_docstrings(name):
    assert getattr(fusedloss, name).__doc__ or name == "__version__"


def test_docstring_examples_run():
    result = doctest.testmod(_losses, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3
    assert result.failed == 0


def test_building_block_docstring_examples_run():
    result = doctest.testmod(_building_blocks, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6
    assert result.failed == 0


def test_probabilistic_docstring_examples_run():
    result = doctest.testmod(_probabilistic, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4
    assert result.failed == 0
