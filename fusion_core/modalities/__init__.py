"""Preprocessing per modality type: raw columns and files → tensors.

Importing this package registers every modality type in ``MODALITIES``
(tabular, image, text, audio, series; one file each). ``prepare`` runs them
all on a dataset; ``transform_with_state`` reuses a fitted state on new data;
``augment_batch`` is the training-only augmentation the trainer applies.
"""

# Registration order is the order menus and messages list the types: keep it, not alphabetical.
from fusion_core.modalities import tabular, image, text, audio, series  # noqa: F401, I001  (fill MODALITIES)
from fusion_core.modalities.augment import augment_batch
from fusion_core.modalities.base import MODALITIES, ModalityType
from fusion_core.modalities.pipeline import prepare, transform_with_state

__all__ = ["MODALITIES", "ModalityType", "augment_batch", "prepare", "transform_with_state"]
