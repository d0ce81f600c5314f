"""Lets `python3 -m unittest discover -s test/python -t .` find the SDK and the helpers without PYTHONPATH."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parents[1] / "src" / "python"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
