"""docs/adding-a-device.md runs: its Python blocks, in order, in one namespace. The guide's own
asserts are its physics checks (the exact radius, the limit cycle, the Ornstein-Uhlenbeck
variance), its gradient check against finite differences, the chip ensemble's shapes and the
trained parameter."""

import pathlib
import re

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "adding-a-device.md"


def code_blocks(text: str) -> list[str]:
    """The bodies of the ```python fences of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_code_blocks_are_found():
    blocks = code_blocks("a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = x\n```\n")
    assert blocks == ["x = 1\n", "y = x\n"]


def test_the_device_guide_runs_top_to_bottom():
    blocks = code_blocks(GUIDE.read_text())
    assert len(blocks) >= 6
    namespace: dict = {"__name__": "device_guide"}
    for i, block in enumerate(blocks):
        code = compile(block, f"{GUIDE.name}, block {i + 1}", "exec")
        exec(code, namespace)  # noqa: S102 - the guide is ours; a failing assert fails the test
    assert namespace["trained"].mu_per_ns.shape == (1,)
