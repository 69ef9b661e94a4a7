"""examples/soft_thinking_plot.py runs as documented (Debian's python3 with numpy and
matplotlib, the module from the build) and writes its PNG."""
import os
import subprocess

import pytest

from conftest import PYTHON_MODULE_DIR, SOURCE_DIR


def test_soft_thinking_plot(tmp_path):
    py = "/usr/bin/python3"
    have = subprocess.run([py, "-c", "import matplotlib, numpy"], capture_output=True)
    if have.returncode != 0:
        pytest.skip("Debian's python3-matplotlib / python3-numpy are absent (scripts/setup --with-python)")
    if not os.path.isdir(os.path.join(PYTHON_MODULE_DIR, "softslm")):
        pytest.skip("the Python module is not built")
    out = tmp_path / "plot.png"
    r = subprocess.run([py, os.path.join(SOURCE_DIR, "examples", "soft_thinking_plot.py"),
                        "--model", os.path.join(SOURCE_DIR, "models", "cot"), "--prompt", "7+2=",
                        "--out", str(out)],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": PYTHON_MODULE_DIR})
    assert r.returncode == 0, r.stderr
    assert "7+2= -> '9'" in r.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10000
