"""Training-only batch augmentation, done with whole-batch tensor operations.

Augmentation shows the model a slightly different version of each training
sample every epoch (here: an image shifted by a few pixels, optionally
mirrored), which makes it rely less on exact pixel positions and overfit less.
It is applied to training batches only: validation and test data are scored
as they are.

Each sample gets its own random shift, yet there is no loop over samples: the
batch is padded once and every sample's window is cut out with one indexing
operation, on whatever device the batch lives on.
"""

from __future__ import annotations

import torch

from fusion_core.errors import ConfigError

AUGMENTATIONS = ("image", "image+flip")
SHIFT_FRACTION = 0.1  # shift by up to 10% of the image side, at least one pixel


def augment_batch(kind: str | None, x: torch.Tensor) -> torch.Tensor:
    """Return an augmented copy of the batch ``x``; ``kind`` None returns ``x`` unchanged.

    ``"image"``: random shifts of up to 10% of the side in each direction, the
    uncovered border filled with zeros (the training mean after normalisation).
    ``"image+flip"``: the same, and every sample is mirrored left-right with
    probability one half.
    """
    if kind is None:
        return x
    if kind not in AUGMENTATIONS:
        raise ConfigError(f"unknown augmentation {kind!r}; choose one of: {', '.join(AUGMENTATIONS)}")
    if x.ndim != 4:
        raise ConfigError(f"image augmentation needs a batch of shape (N, C, H, W), got {tuple(x.shape)}")
    x = random_shift(x, max(1, round(SHIFT_FRACTION * min(x.shape[-2:]))))
    if kind == "image+flip":
        x = random_flip(x)
    return x


def random_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Shift each image of ``x`` (N, C, H, W) by its own random offset in [-max_shift, max_shift]."""
    n, _, height, width = x.shape
    padded = torch.nn.functional.pad(x, (max_shift, max_shift, max_shift, max_shift))
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), device=x.device)
    rows = offsets[0, :, None] + torch.arange(height, device=x.device)  # (N, H)
    cols = offsets[1, :, None] + torch.arange(width, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    windows = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return windows.permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image of ``x`` (N, C, H, W) left-right with probability one half."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)
