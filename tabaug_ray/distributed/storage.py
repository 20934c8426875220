"""Moved to `tabaug_ray.storage` (the report reads results without importing `distributed/`)."""

from tabaug_ray.storage import Storage

__all__ = ["Storage"]
