"""The errors physnn raises for a user's mistake, as opposed to a bug.

A :class:`UserError` says that something the user gave is wrong: a configuration value, an
output path, a corrupted or foreign checkpoint, a damaged data file. Its message names the
thing (argument, file) and says how to put it right. The ``physnn`` command prints such an error
as one line and exits with status 2; any other exception is a bug and keeps its traceback.
``UserError`` is a ``ValueError``, so code that catches ``ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(ValueError):
    """A mistake in what the user gave (configuration, paths, checkpoints, data files); the
    message names it and says how to recover."""
