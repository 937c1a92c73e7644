"""Where the applications cache what they generate (rendered fields, audio, images)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(app: str) -> Path:
    """``$EBGTN_CACHE/<app>``, or ``~/.cache/ebgtn/<app>`` when EBGTN_CACHE is unset."""
    root = os.environ.get("EBGTN_CACHE") or Path.home() / ".cache" / "ebgtn"
    return Path(root) / app
