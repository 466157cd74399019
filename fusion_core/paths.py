"""Where Fusion Explorer keeps files it can rebuild: extracted bundles and preprocessed tensors.

Everything under the cache folder can be deleted at any time; it is refilled on
the next use. Set ``FUSION_EXPLORER_CACHE`` to move it (for example to a faster
disk); by default it is ``.fusion_cache/`` in the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FUSION_EXPLORER_CACHE"
DEFAULT_CACHE = ".fusion_cache"


def cache_dir() -> Path:
    """The cache folder as an absolute path (created on first use): ``$FUSION_EXPLORER_CACHE`` or ``./.fusion_cache``."""
    folder = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser().absolute()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
