"""Benchmark tooling of ``fusedloss bench`` (not part of the library).

``import fusedloss`` never imports this package; :mod:`fusedloss.cli` imports it when the
``bench`` command runs. Its modules, in import order (no cycle):

* :mod:`.cases`: the losses, shapes and options timed, their inputs, the fused call, the
  float64 reference and the check (the elementwise losses from their registry entries);
* :mod:`.jax_peer`: the JAX worker processes (imports :mod:`.cases` only);
* :mod:`.runner`: timing, the PyTorch peer, the table and the plot (imports both);
* :mod:`.linear`: ``--loss linear_cross_entropy`` (a module of its own).
"""
