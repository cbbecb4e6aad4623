#!/usr/bin/env python3
"""Set-up in one command, on a machine that has only Python 3.11+.

    python3 dev.py demo    # install into .venv, then run a real two-node crawl
    python3 dev.py test    # install into .venv, then run the test suite
    python3 dev.py test tests/unit    # one kind: tests/unit, tests/contract, tests/process
    python3 dev.py lint    # install into .venv, then ruff and mypy --strict (as CI does)

Both create ``.venv`` and install the project with its dev extras when they are missing
or ``pyproject.toml`` changed. Extra arguments go to ``scrapy demo`` or ``pytest``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"


def ensure_installed() -> None:
    """Create the virtual environment and install the project, unless up to date."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print(f"Creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing the project and its dependencies (pip)", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                   check=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev]"],
                   check=True)
    STAMP.write_text(wanted)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test", "lint"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_installed()
    action, extra = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if action == "demo":
        return subprocess.call([str(PYTHON), "-m", "scrapy", "demo", *extra])
    if action == "lint":
        return (subprocess.call([str(PYTHON), "-m", "ruff", "check", "."])
                or subprocess.call([str(PYTHON), "-m", "mypy", "--strict", "crawler"]))
    return subprocess.call([str(PYTHON), "-m", "pytest", *extra])


if __name__ == "__main__":
    sys.exit(main())
