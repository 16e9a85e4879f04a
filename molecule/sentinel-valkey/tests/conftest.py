"""The sentinel-valkey scenario's own tests run on the controller against the containers' addresses."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "resources", "tests"))
