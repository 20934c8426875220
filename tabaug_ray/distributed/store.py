"""Moved to `tabaug_ray.results`, the one home of the results table."""

from tabaug_ray.results import COLUMNS, REQUIRED, SCHEMA, ResultStore

__all__ = ["COLUMNS", "REQUIRED", "SCHEMA", "ResultStore"]
