"""A small registry of named components, filled by decorators.

Modality types, encoders and fusion methods each live in one registry,
keyed by a short name. Adding a component means writing one file whose
class is decorated with ``@REGISTRY.register("name")``; menus, the CLI and
the tests find it through the registry, never through a hand-kept list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from fusion_core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps short names to classes.

    >>> ANIMALS = Registry("animal")
    >>> @ANIMALS.register("cat")
    ... class Cat: ...
    >>> ANIMALS.get("cat").name
    'cat'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            if name in self._entries and self._entries[name] is not cls:
                owner = self._entries[name].__module__
                raise ValueError(f"{self.kind} name {name!r} is already registered by {owner}")
            cls.name = name  # type: ignore[attr-defined]
            self._entries[name] = cls
            return cls

        return decorate

    def get(self, name: str) -> type[T]:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {valid}") from None

    def names(self, **where: object) -> list[str]:
        """Registered names, optionally filtered on class attributes.

        ``FUSIONS.names(level="late")`` keeps the entries whose ``level`` is "late".
        """
        return [
            name
            for name, cls in self._entries.items()
            if all(getattr(cls, attr, None) == value for attr, value in where.items())
        ]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, type[T]]]:
        return list(self._entries.items())
