"""Limits on what users may upload: the one place to set them for a server.

Each limit has a default fit for a teaching server (a class of students
uploading small datasets) and can be changed with an environment variable,
read when a limit is checked:

=================================  =========  ==============================================
variable                           default    what it limits
=================================  =========  ==============================================
``FUSION_EXPLORER_MAX_UNPACKED_MB``  512        total size a zip may unpack to (MB)
``FUSION_EXPLORER_MAX_ZIP_MEMBERS``  20000      files in one zip
``FUSION_EXPLORER_MAX_ZIP_RATIO``    200        how many times larger than its compressed size
                                                a zip member may unpack (a zip bomb is ~1000x)
``FUSION_EXPLORER_MAX_JSON_DEPTH``   32         nesting depth of ``schema.json``
=================================  =========  ==============================================

The size of one uploaded file in the app is the web server's ``server.maxUploadSize``
(MB), set in the app's ``config.toml`` (see the README's "Run it for a class").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fusion_core.errors import ConfigError


@dataclass(frozen=True)
class UploadLimits:
    max_unpacked_bytes: int
    max_zip_members: int
    max_zip_ratio: float
    max_json_depth: int


ENV = {
    "max_unpacked_bytes": ("FUSION_EXPLORER_MAX_UNPACKED_MB", 512, 1024**2),
    "max_zip_members": ("FUSION_EXPLORER_MAX_ZIP_MEMBERS", 20_000, 1),
    "max_zip_ratio": ("FUSION_EXPLORER_MAX_ZIP_RATIO", 200, 1),
    "max_json_depth": ("FUSION_EXPLORER_MAX_JSON_DEPTH", 32, 1),
}
"""Each limit: its environment variable, default (in the variable's unit) and the unit's size."""


def upload_limits() -> UploadLimits:
    """The limits in force: the environment's values, else the defaults."""
    values = {}
    for field, (variable, default, unit) in ENV.items():
        raw = os.environ.get(variable, "").strip()
        try:
            number = float(raw) if raw else float(default)
        except ValueError:
            raise ConfigError(
                f"{variable}={raw!r} is not a number; set it to a positive number or unset it"
            ) from None
        if number <= 0:
            raise ConfigError(f"{variable} must be positive, got {raw}; set a positive number or unset it")
        values[field] = number * unit if field == "max_zip_ratio" else int(number * unit)
    return UploadLimits(**values)
