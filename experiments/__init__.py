"""The reproductions of physnn: one subpackage per paper.

Each experiment module defines ``NAME``, ``DESCRIPTION``, typed ``QUICK`` and ``FULL``
configurations (frozen dataclasses) and ``run(config, out_dir)``; ``physnn list`` finds them and
``physnn run NAME`` runs one (see :mod:`physnn.experiment`). They use only the public names of
physnn and of their own package.
"""
