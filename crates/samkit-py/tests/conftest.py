"""Fixtures: the default model (fetched like the command line), the samkit binary the
Python results are compared with, and the bundled sample photos."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples"


@pytest.fixture(scope="session")
def model():
    import samkit

    return samkit.load_model()


@pytest.fixture(scope="session")
def samkit_bin():
    """The CLI built from this tree (SAMKIT_BIN, else target/debug/samkit)."""
    path = Path(os.environ.get("SAMKIT_BIN", ROOT / "target" / "debug" / "samkit"))
    if not path.exists():
        subprocess.run(["cargo", "build", "--locked", "-p", "samkit-cli"], cwd=ROOT, check=True)
    return str(path)


@pytest.fixture(scope="session")
def chelsea():
    path = SAMPLES / "chelsea.png"
    return path, np.array(Image.open(path).convert("RGB"))


@pytest.fixture(scope="session")
def coffee():
    path = SAMPLES / "coffee.png"
    return path, np.array(Image.open(path).convert("RGB"))


def run_cli(samkit_bin, *args):
    out = subprocess.run([samkit_bin, *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout
