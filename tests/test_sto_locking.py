"""physnn run sto-locking: the Arnold tongue of one STO; the measured locking range against the
weak-forcing theory of Slavin & Tiberkevich."""

import json

import pytest

from physnn import cli


@pytest.mark.slow
def test_sto_locking_quick(tmp_path, capsys):
    assert cli.main(["run", "sto-locking", "--quick", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "locking_half_width_per_ma_mhz" in table and "reference" in table
    rec = json.loads((tmp_path / "results.json").read_text())
    for key in ("experiment", "quick", "metrics", "reference", "config", "wall_s", "versions",
                "commit"):
        assert key in rec
    assert rec["experiment"] == "sto-locking" and rec["quick"] is True
    assert {"physnn", "jax", "jaxlib", "numpy", "cpu"} <= set(rec["versions"])
    assert (tmp_path / "arnold_tongue.png").stat().st_size > 10_000
    m = rec["metrics"]
    # The measured band may only be wider than theory by the window bias (see the notes),
    # never narrower by more than the edge resolution.
    assert m["measured_over_theory_weak_forcing_min"] > 0.98
    assert m["measured_over_theory_weak_forcing_max"] < 1.1
    # amplitude-phase coupling widens the tongue ~sqrt(1 + nu^2) = 5.3 times beyond Adler's
    assert m["widening_over_adler"] == pytest.approx(rec["reference"]["widening_over_adler"], rel=0.05)
