"""Checkpoints: one file format, atomic writes, interrupt handling, and the stages of a run.

A checkpoint is a single file: one line of UTF-8 JSON (the header) terminated by `b"\\n"`,
followed by the bytes of `eqx.tree_serialise_leaves` of the saved tree (NumPy `.npy` records,
never pickle). The header records the step, the history, a description of the tree's structure
(checked against the template on load) and the SHA-256 of the payload (checked on load). Files are
written atomically: a temporary file in the same directory is written, flushed, fsync'ed and then
`os.replace`d over the old checkpoint, so a crash never leaves a half-written checkpoint behind.

[`InterruptGuard`][] turns SIGTERM (and Ctrl-C) into `KeyboardInterrupt`, deferred during the
critical sections in which a step is committed or a checkpoint written. [`Stages`][] stores the
deterministic stages of a longer run (scans, searches, evaluations) so that an interrupted run
resumes where it stopped. [`physnn.train.fit`][] and [`physnn.train.train_loop`][] use all three.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import signal
import threading
import uuid
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import PyTree

from .errors import UserError

__all__ = ["CheckpointError", "recovery_hint", "save_checkpoint", "load_checkpoint",
           "CHECKPOINT_NAME", "InterruptGuard", "bind_checkpoint_dir", "Stages", "RUN_CHECKPOINTS",
           "remove_run_checkpoints", "config_dict"]

CHECKPOINT_NAME = "checkpoint.eqx"
"""File name of the checkpoint that [`fit`][] keeps (only the latest) in `checkpoint_dir`."""

_FORMAT = "physnn-checkpoint"
_VERSION = 1
_RESERVED = frozenset(
    {"format", "version", "structure", "sha256", "payload_bytes", "physnn_version"}
)


class CheckpointError(UserError):
    """A checkpoint file is corrupt, is not a physnn checkpoint, belongs to another run, or does
    not match the template. A :class:`~physnn.errors.UserError` (so a ``ValueError``): the
    ``physnn`` command prints it as one line and exits with status 2."""


# ----------------------------------------------------------------------------------------------
# Checkpoint format
# ----------------------------------------------------------------------------------------------


def _physnn_version() -> str:
    try:
        from physnn import __version__

        return str(__version__)
    except Exception:
        return "unknown"


def _describe_leaf(x) -> dict:
    """What is recorded (and later checked) about one leaf of a checkpointed tree."""
    if isinstance(x, (bool, int, float, complex)):
        return {"type": type(x).__name__}
    # jax/NumPy arrays, jax.ShapeDtypeStruct, NumPy scalars
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        try:
            dtype = str(np.dtype(x.dtype))
        except TypeError:  # e.g. typed PRNG key arrays
            dtype = str(x.dtype)
        return {"shape": [int(d) for d in x.shape], "dtype": dtype}
    return {"type": "static"}  # not serialised by eqx.tree_serialise_leaves


def _describe_tree(tree) -> dict:
    paths_and_leaves, treedef = jtu.tree_flatten_with_path(tree)
    leaves = []
    for path, leaf in paths_and_leaves:
        leaves.append({"path": jtu.keystr(path), **_describe_leaf(leaf)})
    return {"treedef": str(treedef), "leaves": leaves}


def _show_leaf(d: dict) -> str:
    if "shape" in d:
        return f"shape {tuple(d['shape'])} dtype {d['dtype']}"
    return f"a Python {d['type']}" if d.get("type") != "static" else "a non-array leaf"


def _check_structure(path, found: dict, expected: dict) -> None:
    """Compare leaf by leaf; the treedef string is informational (it may contain reprs)."""
    try:
        f_leaves = list(found["leaves"])
    except (TypeError, KeyError):
        raise CheckpointError(f"{path}: header has no valid 'structure.leaves' list") from None
    e_leaves = expected["leaves"]
    for i, (e, f) in enumerate(zip(e_leaves, f_leaves, strict=False)):
        if not isinstance(f, dict):
            raise CheckpointError(f"{path}: header structure leaf {i} is not an object: {f!r}")
        same = e.get("path") == f.get("path") and {k: v for k, v in e.items() if k != "path"} == {
            k: v for k, v in f.items() if k != "path"
        }
        if not same:
            raise CheckpointError(
                f"{path}: checkpoint does not match the model/optimiser given; first mismatch at "
                f"leaf {i}: expected {e.get('path')} with {_show_leaf(e)} (from the template), "
                f"found {f.get('path')} with {_show_leaf(f)} in the checkpoint "
                f"({len(e_leaves)} leaves expected, {len(f_leaves)} in the checkpoint)"
            )
    if len(e_leaves) != len(f_leaves):
        i = min(len(e_leaves), len(f_leaves))
        extra = e_leaves[i] if len(e_leaves) > len(f_leaves) else f_leaves[i]
        where = "template" if len(e_leaves) > len(f_leaves) else "checkpoint"
        raise CheckpointError(
            f"{path}: checkpoint does not match the model/optimiser given: the template has "
            f"{len(e_leaves)} leaves but the checkpoint has {len(f_leaves)}; first unmatched leaf "
            f"{i} ({extra.get('path')}, {_show_leaf(extra)}) is only in the {where}"
        )


def _fsync_dir(directory: pathlib.Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: pathlib.Path, chunks) -> None:
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def save_checkpoint(path, tree: PyTree, header_extra: dict | None = None) -> pathlib.Path:
    """Save a PyTree (e.g. a trained model) as a physnn checkpoint, atomically.

    The file is one line of UTF-8 JSON (the header) terminated by a newline, followed by the
    bytes of `eqx.tree_serialise_leaves(tree)`. Nothing is pickled: non-array leaves (functions,
    strings, ...) are not stored and come from the template when loading.

    **Arguments:**

    - `path`: file to write (any directory in it must exist). Written via a temporary file in the
        same directory, fsync'ed and `os.replace`d, so readers see the old or the new file, never
        a partial one.
    - `tree`: the PyTree to save, e.g. `eqx.filter(model, eqx.is_array)` or a whole model.
    - `header_extra`: optional JSON-serialisable dict merged into the header (e.g.
        `{"step": 100, "history": {...}, "note": "..."}`). It may not use the reserved keys
        `format`, `version`, `structure`, `sha256`, `payload_bytes`, `physnn_version`.

    **Returns:**

    The path written, as a `pathlib.Path`.
    """
    path = pathlib.Path(path)
    extra = {} if header_extra is None else header_extra
    if not isinstance(extra, dict):
        raise ValueError(f"header_extra must be a dict or None, got {type(extra).__name__}")
    clash = sorted(_RESERVED.intersection(extra))
    if clash:
        raise ValueError(f"header_extra may not set the reserved header keys {clash}")
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    payload = buf.getvalue()
    header = {
        "format": _FORMAT,
        "version": _VERSION,
        **extra,
        "structure": _describe_tree(tree),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "payload_bytes": len(payload),
        "physnn_version": _physnn_version(),
    }
    try:
        line = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ValueError(f"header_extra must be JSON-serialisable: {e}") from e
    _atomic_write(path, (line.encode("utf-8"), b"\n", payload))
    return path


def _read_checkpoint(path) -> tuple[dict, bytes]:
    """Read and verify header + payload (format, version, SHA-256); no structure check."""
    path = pathlib.Path(path)
    raw = path.read_bytes()
    nl = raw.find(b"\n")
    if nl < 0:
        raise CheckpointError(
            f"{path}: no newline-terminated JSON header found ({len(raw)} bytes); the file is "
            "truncated or is not a physnn checkpoint"
        )
    try:
        header = json.loads(raw[:nl].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise CheckpointError(
            f"{path}: not a physnn checkpoint (format={got!r}, expected {_FORMAT!r})"
        )
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: header has invalid version {version!r}")
    if version > _VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this physnn supports "
            f"({_VERSION}); written by physnn {header.get('physnn_version', 'unknown')}"
        )
    payload = raw[nl + 1 :]
    expected_len = header.get("payload_bytes")
    if isinstance(expected_len, int) and expected_len != len(payload):
        what = "truncated" if len(payload) < expected_len else "has trailing bytes"
        raise CheckpointError(
            f"{path}: payload is {len(payload)} bytes but the header says {expected_len}; "
            f"the file is {what}"
        )
    digest = hashlib.sha256(payload).hexdigest()
    if header.get("sha256") != digest:
        raise CheckpointError(
            f"{path}: payload sha256 mismatch (header {header.get('sha256')!r}, file {digest!r}); "
            "the file is corrupted"
        )
    return header, payload


def load_checkpoint(path, like: PyTree) -> tuple[PyTree, dict]:
    """Load a checkpoint written by [`save_checkpoint`][] (or by [`fit`][]).

    **Arguments:**

    - `path`: the checkpoint file.
    - `like`: a template PyTree with the same structure as the saved tree: its arrays (or
        `jax.ShapeDtypeStruct`s, e.g. from `eqx.filter_eval_shape`) give the expected shapes and
        dtypes; its non-array leaves are returned unchanged.

    **Returns:**

    A tuple `(tree, header)`: the loaded PyTree, and the header dict (including any
    `header_extra` given when saving).

    **Raises:**

    `CheckpointError` (a `ValueError`) if the file is truncated, has a bad header, fails its
    SHA-256 check, or does not match `like` (naming the first mismatching leaf).
    """
    try:
        header, payload = _read_checkpoint(path)
        _check_structure(path, header.get("structure") or {}, _describe_tree(like))
        try:
            tree = eqx.tree_deserialise_leaves(io.BytesIO(payload), like)
        except Exception as e:
            raise CheckpointError(f"{path}: could not deserialise the payload: {e}") from e
    except CheckpointError as e:
        raise CheckpointError(f"{e}. {recovery_hint(path)}") from None
    return tree, header


def recovery_hint(path) -> str:
    """How to recover from a checkpoint file that cannot be used: delete it (the loop it
    belongs to then starts over; other checkpoints of the run are kept)."""
    return (f"To recover, delete {path}: the loop it saved starts over, and the run keeps its "
            "other checkpoints")


def config_dict(config) -> dict:
    """A run's configuration as plain JSON values: the fields of a dataclass (an experiment's
    typed configuration) or the items of a mapping, with tuples as lists and NumPy scalars as
    numbers, so that a configuration compares equal to itself read back from JSON."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    return json.loads(json.dumps(dict(config), default=_json_scalar))


def _json_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


_OWNER_KEY = "checkpoints_of"
"""The entry of ``setup.json`` that names the owner of a checkpoint folder."""


def bind_checkpoint_dir(directory, setup: dict, owner: str) -> pathlib.Path:
    """Tie a folder of checkpoints to the set-up they resume, so that a run never resumes from
    another run's checkpoints.

    The first call writes `setup` (JSON-serialisable; a `"config"` dict is compared key by key)
    and `owner` (under the key `"checkpoints_of"`) to `directory/setup.json`, creating the
    folder; later calls check that both are equal. (A `setup.json` without an owner, written by
    an earlier physnn, is compared on `setup` alone, so its run still resumes.)

    **Arguments:**

    - `directory`: the checkpoint folder, e.g. `out_dir / "checkpoints"`.
    - `setup`: what the checkpoints depend on, e.g. `{"config": config, "data": digest}`.
    - `owner`: whose checkpoints these are (the experiment's name); it also starts the error
        messages.

    **Returns:**

    The folder, as a `pathlib.Path`.

    **Raises:**

    [`CheckpointError`][physnn.checkpoint.CheckpointError] (a
    [`UserError`][physnn.errors.UserError], so a `ValueError`) that names the file and says how
    to recover (delete the folder, or choose another output folder), if `setup.json` is
    corrupted, or if the folder holds the checkpoints of another owner (another experiment: both
    named) or of another set-up (the config keys and other entries that differ named).
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    f = directory / "setup.json"
    setup = json.loads(json.dumps(setup, default=_json_scalar))  # normalised as JSON
    if _OWNER_KEY in setup:
        raise ValueError(f"{owner}: setup may not hold the key {_OWNER_KEY!r} (bind_checkpoint_dir "
                         "keeps the owner there)")
    if not f.exists():
        _atomic_write(f, (json.dumps({**setup, _OWNER_KEY: owner}).encode("utf-8"),))
        return directory
    recover = (f"delete {directory} to start the run over, or choose another output folder "
               "(--out)")
    try:
        found = json.loads(f.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{owner}: {f} is corrupted (not valid JSON: {e}); it records the "
                              f"set-up its checkpoints belong to, so they cannot be trusted: "
                              f"{recover}") from None
    if not isinstance(found, dict):
        raise CheckpointError(f"{owner}: {f} is not a physnn set-up record (a JSON object "
                              f"expected, found {type(found).__name__}); {recover}")
    found_owner = found.pop(_OWNER_KEY, owner)  # absent: written before owners were kept
    if found_owner != owner:
        raise CheckpointError(
            f"{owner}: {directory} holds the checkpoints of {found_owner!r}, not of {owner!r} "
            f"(its {f.name} says so): another experiment was run with this output folder; "
            f"{recover}")
    if found != setup:
        old, new = found.get("config", {}), setup.get("config", {})
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        other = sorted(k for k in set(found) | set(setup)
                       if k != "config" and found.get(k) != setup.get(k))
        raise CheckpointError(
            f"{owner}: {directory} holds checkpoints of another run (config keys that differ: "
            f"{keys or 'none'}; other entries that differ: {other or 'none'}); {recover}")
    return directory


# ----------------------------------------------------------------------------------------------
# Signal handling: SIGTERM (and Ctrl-C) become KeyboardInterrupt, deferred during critical sections
# ----------------------------------------------------------------------------------------------


class InterruptGuard:
    """Within the `with` block (main thread only), SIGTERM raises `KeyboardInterrupt`, as does
    SIGINT when Python's default SIGINT handler is in place. Inside `critical()` sections the
    interrupt is deferred to the end of the section, so that the committed training state and
    the checkpoint on disk are never half-updated. Previous handlers are restored on exit.

    [`fit`][] uses it; a hand-written training loop that checkpoints with
    [`save_checkpoint`][] can too:

    ```python
    guard, done = InterruptGuard(), start
    with guard:
        try:
            for s in range(start, steps):
                new_state = step(state)
                with guard.critical():  # commit the step as a whole
                    state, done = new_state, s + 1
                if done % every == 0:
                    with guard.critical():
                        save_checkpoint(path, state, {"step": done})
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep the progress, then stop
            with guard.critical(raise_pending=False):
                save_checkpoint(path, state, {"step": done})
            raise
    ```
    """

    def __init__(self):
        self._old: dict = {}
        self._critical = 0
        self._pending: str | None = None

    def _handler(self, signum, frame):
        name = signal.Signals(signum).name
        if self._critical:
            self._pending = name
        else:
            raise KeyboardInterrupt(f"received {name}")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old = signal.getsignal(sig)
                if old is None:  # installed outside Python: could not be restored, leave it
                    continue
                if sig == signal.SIGINT and old is not signal.default_int_handler:
                    continue  # respect a custom Ctrl-C handler
                signal.signal(sig, self._handler)
                self._old[sig] = old
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
        return False

    @contextlib.contextmanager
    def critical(self, raise_pending: bool = True):
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if self._critical == 0 and self._pending is not None:
            name, self._pending = self._pending, None
            if raise_pending:
                raise KeyboardInterrupt(f"received {name}")


RUN_CHECKPOINTS = "checkpoints"
"""The folder, inside an experiment's output folder, of the checkpoints an interrupted run
resumes from ([`Stages.of_run`][])."""


def remove_run_checkpoints(out_dir) -> None:
    """Delete `out_dir/RUN_CHECKPOINTS`. An experiment sets `finished = remove_run_checkpoints`:
    `physnn run` calls it once `results.json` is written, so that a new run in the same folder
    starts afresh."""
    shutil.rmtree(pathlib.Path(out_dir) / RUN_CHECKPOINTS, ignore_errors=True)


_STAGE_FORMAT = "physnn-stage"
_STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _encode(value, arrays: list, where: str):
    """A JSON description of `value`; its arrays are appended to `arrays` (no pickle)."""
    if value is None or isinstance(value, (bool, str)):
        return {"py": value}
    if isinstance(value, np.generic):
        arrays.append(np.asarray(value))
        return {"scalar": len(arrays) - 1}
    if isinstance(value, (int, float)):
        return {"py": value, "type": type(value).__name__}
    if isinstance(value, jax.Array):
        if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            raise TypeError(f"{where}: a PRNG key array cannot be stored; store its seed instead")
        arrays.append(np.asarray(value))
        return {"jax": len(arrays) - 1}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError(f"{where}: an object array cannot be stored (no pickle)")
        arrays.append(value)
        return {"numpy": len(arrays) - 1}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
        return {"list" if isinstance(value, list) else "tuple": items}
    if type(value) is dict:
        return {"dict": [[_encode(k, arrays, f"{where} key"), _encode(v, arrays, f"{where}[{k!r}]")]
                         for k, v in value.items()]}
    raise TypeError(f"{where}: cannot store a {type(value).__name__}; a stage may return None, "
                    "bool, int, float, str, NumPy or JAX arrays and scalars, and lists, tuples "
                    "and dicts of those")


def _decode(spec: dict, arrays):
    if "py" in spec:
        v = spec["py"]
        return float(v) if spec.get("type") == "float" else v
    if "scalar" in spec:
        return arrays[f"a{spec['scalar']}"][()]
    if "jax" in spec:
        with jax.enable_x64(True):  # keeps a float64 array float64, as it was computed
            return jnp.asarray(arrays[f"a{spec['jax']}"])
    if "numpy" in spec:
        return arrays[f"a{spec['numpy']}"]
    if "list" in spec:
        return [_decode(s, arrays) for s in spec["list"]]
    if "tuple" in spec:
        return tuple(_decode(s, arrays) for s in spec["tuple"])
    if "dict" in spec:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in spec["dict"]}
    raise CheckpointError(f"unknown entry in a stage file: {sorted(spec)}")


class Stages:
    """The checkpoints of a run made of stages, so that an interrupted run resumes where it
    stopped and ends as an uninterrupted run does.

    A stage is a deterministic computation whose result the rest of the run needs:
    `stages(name, fn, *args, **kwargs)` returns `fn(*args, **kwargs)` and stores it in
    `directory/name.stage`; in a later run with the same set-up it loads it instead of calling
    `fn`. A training loop inside the run checkpoints its steps in `stages.path(name)` (e.g.
    with [`train_loop`][]).

    ```python
    stages = Stages(out_dir / "checkpoints", {"config": config}, owner="my-experiment")
    before = stages("eval_before", evaluate, w0, cues)
    (w, _), history = train_loop(step, (w0, opt.init(w0)), 100, checkpoint=stages.path("train"))
    after = stages("eval_after", evaluate, w, cues)
    stages.remove()  # once the run's results are written
    ```

    The folder is tied to `setup` and to the version of physnn by [`bind_checkpoint_dir`][]:
    checkpoints of another set-up are an error that names what differs. A stage's result may be
    None, a bool, int, float or str, a NumPy or JAX array or NumPy scalar, or a list, tuple or
    dict of those; it is stored as one JSON line (the structure) and an `.npz` of its arrays,
    read back without pickle, and restored with the same types, dtypes and values.

    **Arguments:**

    - `directory`: the checkpoint folder (created if needed), e.g. `out_dir / "checkpoints"`.
    - `setup`: what the results depend on (JSON-serialisable; a `"config"` dict is compared key
        by key).
    - `owner`: the name that starts error messages.

    After a run, `stages.resumed` lists the stages that were loaded rather than computed.
    """

    def __init__(self, directory, setup: dict, owner: str):
        self.owner = owner
        # stages computed by another version of physnn are not loaded
        self.dir = bind_checkpoint_dir(directory, {**setup, "physnn_version": _physnn_version()},
                                       owner)
        self.resumed: list[str] = []
        self._seen: set[str] = set()

    @classmethod
    def of_run(cls, out_dir, config, owner: str) -> "Stages":
        """The stages of an experiment's run: `out_dir/RUN_CHECKPOINTS`, tied to `config` (a
        dataclass or a dict, compared field by field)."""
        return cls(pathlib.Path(out_dir) / RUN_CHECKPOINTS, {"config": config_dict(config)}, owner)

    def notes(self) -> list[str]:
        """The line for a record's notes that says which stages were loaded (none if none)."""
        if not self.resumed:
            return []
        return ["resumed from the checkpoints of an earlier run in this folder (stages %s); the "
                "wall times count only this part" % ", ".join(self.resumed)]

    def _name(self, name: str, kind: str) -> str:
        if not isinstance(name, str) or not _STAGE_NAME.fullmatch(name):
            raise ValueError(f"{self.owner}: {kind} name {name!r}; expected letters, digits, "
                             "'_', '.' or '-', starting with a letter or digit")
        if name in self._seen:
            raise ValueError(f"{self.owner}: {kind} name {name!r} is used twice in this run")
        self._seen.add(name)
        return name

    def path(self, name: str) -> pathlib.Path:
        """The checkpoint file of a loop inside the run, `directory/name.eqx`."""
        return self.dir / f"{self._name(name, 'loop')}.eqx"

    def __call__(self, name: str, fn: Callable, *args, **kwargs):
        f = self.dir / f"{self._name(name, 'stage')}.stage"
        if f.exists():
            self.resumed.append(name)
            return self._load(f)
        value = fn(*args, **kwargs)
        arrays: list = []
        spec = _encode(value, arrays, f"{self.owner}: stage {name!r}")
        buf = io.BytesIO()
        np.savez(buf, **{f"a{i}": a for i, a in enumerate(arrays)})
        payload = buf.getvalue()
        header = {"format": _STAGE_FORMAT, "stage": name, "value": spec,
                  "sha256": hashlib.sha256(payload).hexdigest()}
        _atomic_write(f, (json.dumps(header).encode("utf-8"), b"\n", payload))
        return value

    def _load(self, f: pathlib.Path):
        raw = f.read_bytes()
        nl = raw.find(b"\n")
        try:
            header = json.loads(raw[:nl].decode("utf-8")) if nl >= 0 else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            header = None
        if not isinstance(header, dict) or header.get("format") != _STAGE_FORMAT:
            raise CheckpointError(f"{f}: not a physnn stage file (truncated or overwritten); "
                                  "delete it to recompute the stage")
        payload = raw[nl + 1:]
        if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
            raise CheckpointError(f"{f}: payload sha256 mismatch; the file is corrupted: delete it "
                                  "to recompute the stage")
        try:
            with np.load(io.BytesIO(payload), allow_pickle=False) as arrays:
                return _decode(header["value"], arrays)
        except (KeyError, ValueError, OSError) as e:
            raise CheckpointError(f"{f}: cannot be decoded ({type(e).__name__}: {e}); delete it "
                                  "to recompute the stage") from None

    def remove(self) -> None:
        """Delete the folder and every checkpoint in it (once the run's results are written)."""
        shutil.rmtree(self.dir, ignore_errors=True)

