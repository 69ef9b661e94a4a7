"""Fixtures of the Python differential tests (run by make test through CTest when .venv exists).

SOFTSLM_BINARY and SOFTSLM_SOURCE_DIR come from CTest; run by hand with
  SOFTSLM_BINARY=build/softslm .venv/bin/python -m pytest tests/python
"""
import os
import signal
import subprocess
import sys

import pytest

SOURCE_DIR = os.environ.get("SOFTSLM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("SOFTSLM_BINARY", os.path.join(SOURCE_DIR, "build", "softslm"))
COT = os.path.join(SOURCE_DIR, "models", "cot")
# the Python module CMake builds beside the binary (build/python/softslm)
PYTHON_MODULE_DIR = os.path.join(os.path.dirname(os.path.abspath(BINARY)), "python")
if os.path.isdir(PYTHON_MODULE_DIR):
    sys.path.insert(0, PYTHON_MODULE_DIR)
SAMPLE = os.path.join(SOURCE_DIR, "models", "sample")


def softslm(*args, check=True):
    """Runs the softslm binary; returns the completed process (text)."""
    r = subprocess.run([BINARY, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"softslm {' '.join(args)}: exit {r.returncode}: {r.stderr}")
    return r


class Server:
    def __init__(self, model, *args):
        self.proc = subprocess.Popen([BINARY, "serve", "-m", model, "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on http://"):
            self.proc.kill()  # never leave a server behind
            self.proc.wait()
            raise AssertionError(f"softslm serve did not start: {line!r}")
        self.url = line.strip().split(" ")[-1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def cot_server():
    s = Server(COT, "--max-batch", "16")
    yield s
    assert s.stop() == 0
