"""The README's API example and the tour's library examples (docs/tour.md: every python block of
"Using the library", in one namespace, with the batch cut from 256 to 16 samples and the fit to
2 steps) run as written and give what their comments say."""

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TOUR = ROOT / "docs" / "tour.md"


@pytest.mark.slow
def test_the_readmes_api_example_runs_and_does_what_it_says():
    text = README.read_text(encoding="utf-8")
    start = text.index("## Using the library")
    blocks = re.findall(r"```python\n(.*?)```", text[start:text.index("\n## ", start + 1)], re.S)
    assert len(blocks) == 1 and len(blocks[0].splitlines()) <= 20  # one short example
    shrunk = blocks[0].replace("(256, 2)", "(16, 2)")
    assert shrunk.count("(16, 2)") == 1
    ns: dict = {}
    exec(compile(shrunk, str(README), "exec"), ns)  # noqa: S102
    assert ns["traj"].obs["power"].shape == (1001, 16, 4)
    assert ns["R"].shape == (16, 4, 2) and np.all((ns["R"] >= 0) & (ns["R"] <= 1 + 1e-6))
    g = ns["grads"]
    assert type(g).__name__ == "STONetwork"
    assert np.all(np.isfinite(g.current_ma)) and np.any(g.current_ma != 0)


def library_blocks() -> list[str]:
    text = TOUR.read_text(encoding="utf-8")
    start = text.index("## Using the library")
    section = text[start:text.index("\n## ", start + 1)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.slow
def test_the_tours_library_examples_run_and_do_what_they_say():
    code = "\n".join(library_blocks())
    shrunk = code.replace("(256, 2)", "(16, 2)").replace("steps=20", "steps=2")
    assert shrunk.count("(16, 2)") == 1 and "steps=2," in shrunk  # the cuts found their places
    ns: dict = {}
    exec(compile(shrunk, str(TOUR), "exec"), ns)  # noqa: S102
    assert ns["R"].shape == (16, 4, 2)
    np.testing.assert_allclose(np.abs(ns["Z"]), ns["R"], rtol=1e-5, atol=1e-6)
    assert ns["R_glide"].shape == (16, 4, 2) and not np.allclose(ns["R_glide"], ns["R"], atol=1e-3)
    assert ns["traj"].obs["power"].shape == (101, 16, 16, 4)  # time, chip, sample, oscillator
    assert ns["codesign"].energy(ns["chips"], ns["traj"]).shape == (16, 16)
    assert set(ns["design"].values()) == {"current_ma", "coupling"}
    assert np.all(np.isfinite(np.asarray(ns["grads"].current_ma)))
    # physics-aware training: off target on the chip in silico, on target in situ
    at, chip, sto, target = ns["at"], ns["chip"], ns["sto"], ns["target"]

    def chip_error_mhz(currents):
        return np.abs(np.asarray(at(chip, currents).free_running_frequency_ghz()[0] - target)) * 1e3

    assert chip_error_mhz(sto.current_for_frequency_ma(target)).max() > 1.0
    assert chip_error_mhz(jnp.asarray(ns["currents"])).max() < 0.01
