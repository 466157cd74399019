"""Choosing where tensors live: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from fusion_core.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(choice: str = "auto") -> torch.device:
    """Turn a user's choice into a ``torch.device``.

    ``auto`` picks CUDA when a GPU is visible, then Apple's MPS, then the CPU.
    An explicit choice that this machine lacks is an error, not a silent fallback.
    """
    if choice not in DEVICE_CHOICES:
        raise ConfigError(f"unknown device {choice!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if choice == "mps" and not mps_available():
        raise ConfigError(
            "device 'mps' was asked for but Apple MPS is not available; use --device auto or cpu"
        )
    return torch.device(choice)


def describe_device(device: torch.device) -> str:
    """A short human label, e.g. 'CUDA (NVIDIA H100)' or 'CPU (2 threads)'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
