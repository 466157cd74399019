"""Write a loaded dataset back out as a bundle folder.

A dataset the user corrected (a column moved to another modality, another
target) or assembled from per-modality files has no single file that
reproduces it. ``save_bundle`` writes one: ``manifest.csv``, ``schema.json``
and the media files under the same relative paths, so a run's saved
configuration (and the command that repeats it) can load exactly that data.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fusion_core.data.schema import media_extensions, schema_dict
from fusion_core.data.types import Dataset


def save_bundle(dataset: Dataset, folder: Path) -> Path:
    """Write ``dataset`` as a bundle folder and return it; reused when already complete.

    Media files are hard-linked where the file system allows it, else copied.
    """
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for spec in dataset.modalities.values():
        if spec.type not in media_extensions():
            continue
        for relative in dataset.table[spec.columns[0]].dropna().astype(str):
            relative = relative.strip()
            if not relative:
                continue
            source, target = dataset.resolve(relative), folder / relative
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
    dataset.table.to_csv(folder / "manifest.csv", index=False)
    (folder / "schema.json").write_text(json.dumps(schema_dict(dataset), indent=2) + "\n")
    done.write_text("ok\n")
    return folder
