from __future__ import annotations

import sys
from pathlib import Path

# The spec tests' cases (a valid cluster.yaml as data) are shared with these.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spec"))
