"""The installed distribution's metadata: one version, the licence file shipped (PEP 639)."""

from __future__ import annotations

from importlib import metadata

import fusedloss


def test_version_has_one_source():
    assert metadata.version("fusedloss") == fusedloss.__version__


def test_license_metadata_and_file_installed():
    dist = metadata.distribution("fusedloss")
    meta = dist.metadata
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    files = [str(f) for f in (dist.files or [])]
    licence = [f for f in files if f.endswith("LICENSE")]
    assert licence, files
    text = dist.locate_file(next(f for f in dist.files if str(f).endswith("LICENSE"))).read_text()
    assert "Copyright (c) 2026, the fusedloss developers" in text


def test_classifiers_and_urls():
    meta = metadata.metadata("fusedloss")
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639
    for minor in range(9, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert meta.get_all("Project-URL")
