"""How a report is rendered, as far as any format cares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    width: int = 100
    fail_on: str = "error"  # junit: findings at or above it are failures (`never`: none)
