"""The plumbing every reproduction shares: discovery, typed configurations, records.

An experiment is a module of the ``experiments`` package (one subpackage per paper, e.g.
``experiments/romera2018/``; variants are sibling modules such as ``romera2018/chips.py``) that
defines, at module level:

- ``NAME``: the command-line name (``"romera2018-chips"``), a string literal;
- ``DESCRIPTION``: one line, a string literal;
- ``QUICK`` and ``FULL``: instances of one frozen dataclass, the typed configuration;
- ``run(config, out_dir) -> dict`` with at least ``metrics`` and ``reference`` (and optionally
  ``notes``, ``figures`` and anything else the record should hold);

and optionally ``finished(out_dir)`` (called once ``results.json`` is written, e.g.
[`physnn.checkpoint.remove_run_checkpoints`][]) and ``SPLITS_OVER_DEVICES = True`` (the run
splits its batches over the host's cores, which ``physnn run`` presents to JAX as devices).

[`discover`][] finds experiments by reading the modules' source (``NAME`` and ``DESCRIPTION``
are literals), so ``physnn list`` imports nothing; [`run_experiment`][] imports one, runs it and
writes ``results.json`` = {experiment, quick, metrics, reference, config, wall_s, versions,
commit, ...}. [`parse_overrides`][] turns ``--set KEY=VALUE`` into values checked against the
configuration's field types.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import json
import math
import os
import platform
import subprocess
import time
import types
import typing
from pathlib import Path

import numpy as np

from .checkpoint import config_dict
from .errors import UserError

__all__ = ["discover", "load", "parse_overrides", "with_overrides", "run_experiment",
           "field_types", "format_table", "save_figure", "versions", "source_commit", "PACKAGE",
           "compilation_cache_dir", "use_compilation_cache"]

PACKAGE = "experiments"
"""The importable package that holds the reproductions (the ``experiments/`` folder of a clone)."""


# ----------------------------------------------------------------------------------------------
# Discovery
# ----------------------------------------------------------------------------------------------


def _package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"physnn: the {PACKAGE!r} package (the experiments/ folder of a clone) is not "
            "importable; install physnn from a clone: pip install -e . --config-settings "
            "editable_mode=compat")
    return Path(list(spec.submodule_search_locations)[0])


def _literal(tree: ast.Module, name: str):
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return None


def discover() -> dict[str, tuple[str, str]]:
    """``{name: (module, one-line description)}`` of every experiment, in the order of the
    packages' names, a package before its variants. Read from the source, nothing imported."""
    root = _package_dir()
    found: dict[str, tuple[str, str]] = {}
    for pkg in sorted(p for p in root.iterdir() if (p / "__init__.py").is_file()):
        files = [pkg / "__init__.py"] + sorted(f for f in pkg.glob("*.py") if f.name != "__init__.py")
        for f in files:
            tree = ast.parse(f.read_text())
            name = _literal(tree, "NAME")
            if name is None:
                continue
            module = f"{PACKAGE}.{pkg.name}" + ("" if f.name == "__init__.py" else f".{f.stem}")
            if name in found:
                raise RuntimeError(f"physnn: experiment name {name!r} is declared by both "
                                   f"{found[name][0]} and {module}")
            found[name] = (module, _literal(tree, "DESCRIPTION") or "")
    return found


def load(name: str) -> types.ModuleType:
    """The module of experiment ``name`` (e.g. ``"romera2018-chips"``), imported."""
    found = discover()
    if name not in found:
        raise ValueError(f"physnn: unknown experiment {name!r}; choose from {', '.join(found)}")
    module = importlib.import_module(found[name][0])
    for attr in ("QUICK", "FULL", "run"):
        if not hasattr(module, attr):
            raise TypeError(f"physnn: experiment {name!r} ({module.__name__}) defines no {attr}")
    for attr in ("QUICK", "FULL"):
        if not dataclasses.is_dataclass(getattr(module, attr)):
            raise TypeError(f"physnn: {module.__name__}.{attr} must be a dataclass instance, got "
                            f"{type(getattr(module, attr)).__name__}")
    return module


# ----------------------------------------------------------------------------------------------
# Typed configuration: --set KEY=VALUE checked against the dataclass's field types
# ----------------------------------------------------------------------------------------------


class _NonFinite(Exception):
    pass


class _Unsettable(Exception):
    """A field whose type :func:`_coerce` cannot read from JSON (not a ValueError: a union tries
    its other members only on a ValueError)."""


def _unsettable(key, err: _Unsettable) -> UserError:
    return UserError(f"physnn: configuration key {key!r} has the type {err.args[0]!r}, which "
                     "cannot be set from the command line; change it in Python "
                     "(dataclasses.replace) instead")


def _no_constant(name):
    raise _NonFinite(name)


def _describe(tp) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a finite number"
    if tp is str:
        return "a string"
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a JSON list, each item {_describe(args[0])}"
        return f"a JSON list of {len(args)} items (" + ", ".join(_describe(a) for a in args) + ")"
    if origin is dict or tp is dict:
        return "a JSON object"
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp):
    """``value`` (read from JSON) as type ``tp``, or raise ``ValueError``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a)
            except ValueError:
                pass
        raise ValueError
    if value is None:
        raise ValueError
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ValueError
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError
    if origin is typing.Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise ValueError
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if len(value) != len(args):
            raise ValueError
        return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
        raise ValueError
    raise _Unsettable(tp)


def field_types(config) -> dict[str, object]:
    """``{field: type}`` of a dataclass configuration (string annotations resolved)."""
    hints = typing.get_type_hints(type(config))
    return {f.name: hints[f.name] for f in dataclasses.fields(config)}


def parse_overrides(items, config, name: str) -> dict:
    """``{key: value}`` from ``KEY=VALUE`` strings (``physnn run NAME --set KEY=VALUE``).

    VALUE is read as JSON (``300``, ``[0, 300]``, ``true``, ``"hann"``), or else taken as a
    string. The key must be a field of the dataclass ``config`` and the value must have the
    field's declared type (a whole number for ``int``, a finite number for ``float``, a list for
    a ``tuple[...]``, null only for an optional field); otherwise a ``ValueError`` names the key,
    the value and what is expected."""
    types_ = field_types(config)
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"physnn: --set {item!r}; expected KEY=VALUE, e.g. temperature_k=300")
        if key not in types_:
            raise ValueError(f"physnn: --set {key}={text}: {name} has no configuration key {key!r}; "
                             f"its keys are {', '.join(sorted(types_))}")
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except _NonFinite:
            raise ValueError(f"physnn: --set {key}={text}: NaN and infinities are not accepted; "
                             "expected a finite number") from None
        except ValueError:
            value = text
        try:
            out[key] = _coerce(value, types_[key])
        except _Unsettable as e:
            raise _unsettable(key, e) from None
        except ValueError:
            default = getattr(config, key)
            raise ValueError(f"physnn: --set {key}={text}: expected {_describe(types_[key])}, "
                             f"like the default {json.dumps(config_dict({key: default})[key])}"
                             ) from None
    return out


def with_overrides(config, overrides: dict):
    """``config`` with ``overrides`` replaced (each checked against its field's type)."""
    types_ = field_types(config)
    checked = {}
    for key, value in overrides.items():
        if key not in types_:
            raise ValueError(f"physnn: the configuration has no key {key!r}; its keys are "
                             f"{', '.join(sorted(types_))}")
        try:
            checked[key] = _coerce(list(value) if isinstance(value, tuple) else value, types_[key])
        except _Unsettable as e:
            raise _unsettable(key, e) from None
        except ValueError:
            raise ValueError(f"physnn: configuration {key}={value!r}: expected "
                             f"{_describe(types_[key])}") from None
    return dataclasses.replace(config, **checked)


# ----------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------


def _dist_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _cpu() -> str:
    """The CPU model: XLA compiles for the host's instruction set, so float32 rounding (and a
    training run that amplifies it) can differ between machines with the same versions."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    """The versions a record was produced with, and the machine."""
    import diffrax
    import equinox
    import jax
    import optax

    from . import __version__

    return {"physnn": __version__, "jax": jax.__version__, "jaxlib": _dist_version("jaxlib"),
            "equinox": equinox.__version__, "diffrax": diffrax.__version__,
            "optax": optax.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "backend": jax.default_backend(), "cpu": _cpu(),
            "devices": len(jax.devices())}


def source_commit() -> str | None:
    """The git commit of the source checkout (with ``+dirty`` when it has uncommitted changes),
    or None outside a git checkout."""
    here = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def format_table(metrics: dict, reference: dict) -> str:
    """Measured values beside the reference (paper or theory) values, one row per metric."""
    names = list(metrics) + [k for k in reference if k not in metrics]
    rows = [("quantity", "measured", "reference")]
    rows += [(n, _fmt(metrics.get(n, "-")), _fmt(reference.get(n, "-"))) for n in names]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * x for x in w))
    return "\n".join(lines)


def save_figure(fig, out_dir, name: str, dpi: int = 120) -> str:
    """Save a matplotlib figure as ``out_dir/name``, close it, and return ``name`` (for the
    record's ``figures`` list)."""
    import matplotlib.pyplot as plt

    fig.savefig(Path(out_dir) / name, dpi=dpi)
    plt.close(fig)
    return name


def run_experiment(name: str, quick: bool = False, out: str | os.PathLike | None = None,
                   overrides: dict | None = None) -> dict:
    """Run experiment ``name``, write ``out/results.json`` and return the record.

    **Arguments:**

    - `name`: the experiment's name (``physnn list``).
    - `quick`: the small configuration ``QUICK`` instead of ``FULL``.
    - `out`: output folder (default ``runs/<name>`` or ``runs/<name>-quick``); an interrupted
        run resumes from the checkpoints it left there.
    - `overrides`: configuration values to replace, checked against the field types; the
        record's ``config`` holds the values used and ``overrides`` the replaced ones.

    **Raises:**

    `ValueError` for an unknown name or key, or a value of the wrong type or range;
    [`UserError`][physnn.errors.UserError] (a `ValueError`) for an `out` that is a file, and
    for what the run finds wrong in the user's files: corrupted checkpoints, those of another
    experiment or configuration ([`CheckpointError`][physnn.checkpoint.CheckpointError]),
    damaged data. ``physnn run`` prints these as one line and exits with status 2.
    """
    module = load(name)
    config = with_overrides(module.QUICK if quick else module.FULL, dict(overrides or {}))
    out_dir = Path(out if out is not None else Path("runs") / (name + ("-quick" if quick else "")))
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"physnn: out={os.fspath(out_dir)!r} is a file; expected a folder (new or "
                        "existing) for the results")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = module.run(config, out_dir)
    wall = time.perf_counter() - start
    record = {
        "experiment": name,
        "quick": quick,
        "metrics": result["metrics"],
        "reference": result.get("reference", {}),
        "config": config_dict(config),
        "wall_s": wall,
        "versions": versions(),
        "commit": source_commit(),
    }
    if overrides:
        record["overrides"] = config_dict(overrides)
    for k, v in result.items():
        record.setdefault(k, v)
    tmp = out_dir / "results.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=float))
    os.replace(tmp, out_dir / "results.json")
    if hasattr(module, "finished"):  # e.g. remove the checkpoints an interrupted run resumes from
        module.finished(out_dir)
    return record


# ----------------------------------------------------------------------------------------------
# JAX's persistent compilation cache
# ----------------------------------------------------------------------------------------------


def compilation_cache_dir() -> Path | None:
    """Where compiled programs are kept between runs: ``$PHYSNN_COMPILATION_CACHE`` if set (``0``
    or an empty value turns the cache off), else ``$XDG_CACHE_HOME/physnn/jax`` (by default
    ``~/.cache/physnn/jax``)."""
    value = os.environ.get("PHYSNN_COMPILATION_CACHE")
    if value is not None:
        return None if value.strip() in ("", "0", "off", "false") else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "physnn" / "jax"


def use_compilation_cache() -> Path | None:
    """Turn on JAX's persistent compilation cache in :func:`compilation_cache_dir` (for every
    program, however fast it compiles: a quick run's compilations are mostly small), and return
    the folder, or None when it is turned off. ``physnn run`` and the test suite call it."""
    folder = compilation_cache_dir()
    if folder is None:
        return None
    import jax

    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
