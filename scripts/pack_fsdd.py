"""Pack the Free Spoken Digit Dataset into ``physnn/data/fsdd/fsdd_mulaw.npz`` (G.711 mu-law).

Usage::

    python scripts/pack_fsdd.py [RECORDINGS_DIR] [OUT_FILE]

Defaults: ``/work/shared/data/fsdd/recordings`` (the 3000 WAV files of
github.com/Jakobovski/free-spoken-digit-dataset, commit 26eb9aaf76e81b692f806f9140c2d2777410d7a1)
and ``physnn/data/fsdd/fsdd_mulaw.npz``. Every file must be mono 16-bit PCM at 8000 Hz and named
``{digit}_{speaker}_{index}.wav``. Utterances are ordered by speaker, digit, index; their mu-law
bytes are concatenated into ``audio`` (uint8) with ``offsets`` (n + 1,) delimiting them, plus
``digits``, ``speakers`` (index into ``speaker_names``), ``indices`` and ``sample_rate``. The archive
holds no pickled objects. The output is deterministic (same input, same bytes).
"""

from __future__ import annotations

import os
import re
import sys
import wave
import zipfile

import numpy as np

from physnn.tasks.fsdd import FSDD_SAMPLE_RATE, mulaw_encode

_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def read_wav(path: str) -> np.ndarray:
    """16-bit mono PCM samples of ``path`` as int16, checking the format."""
    with wave.open(path, "rb") as w:
        fmt = (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype())
        if fmt != (1, 2, FSDD_SAMPLE_RATE, "NONE"):
            raise ValueError(
                f"{path}: (channels, bytes/sample, rate, compression) = {fmt}; expected mono 16-bit 8 kHz"
            )
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def pack(recordings: str, out: str) -> dict:
    entries = []
    for name in os.listdir(recordings):
        m = _NAME.match(name)
        if m is None:
            if name.endswith(".wav"):
                raise ValueError(f"unexpected file name {name!r} in {recordings}")
            continue
        entries.append((m.group(2), int(m.group(1)), int(m.group(3)), name))
    entries.sort()
    speaker_names = sorted({e[0] for e in entries})
    codes, lengths = [], []
    for _, _, _, name in entries:
        pcm = read_wav(os.path.join(recordings, name))
        codes.append(mulaw_encode(pcm))
        lengths.append(pcm.size)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays = {
        "audio": np.concatenate(codes),
        "offsets": offsets,
        "digits": np.array([e[1] for e in entries], dtype=np.uint8),
        "speakers": np.array([speaker_names.index(e[0]) for e in entries], dtype=np.uint8),
        "speaker_names": np.array(speaker_names),
        "indices": np.array([e[2] for e in entries], dtype=np.uint8),
        "sample_rate": np.array(FSDD_SAMPLE_RATE, dtype=np.int64),
    }
    # np.savez_compressed stamps the current time into the zip entries; write with a fixed
    # timestamp instead so that the archive is byte-for-byte reproducible.
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.asarray(arr, order="C"), allow_pickle=False)
    return {"utterances": len(entries), "samples": int(offsets[-1]), "bytes": os.path.getsize(out)}


def main(argv: list[str]) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    recordings = argv[1] if len(argv) > 1 else "/work/shared/data/fsdd/recordings"
    out = argv[2] if len(argv) > 2 else os.path.join(here, "..", "physnn", "data", "fsdd", "fsdd_mulaw.npz")
    print(pack(recordings, os.path.normpath(out)))


if __name__ == "__main__":
    main(sys.argv)
