"""Values that later units consume (a trained ensemble, a fitted teacher), kept as files under
OUT/artifacts so a resumed run does not recompute them."""

from __future__ import annotations

import os
import pickle
from typing import Any

from tabaug_ray.distributed.storage import Storage


class ArtifactStore:
    """Pickled unit values, written atomically.

    Args:
        out: the experiment's output directory (local path or pyarrow file-system URI).
    """

    def __init__(self, *, out: str | os.PathLike) -> None:
        self.storage = Storage(uri=out)

    def has(self, key: str) -> bool:
        return self.storage.exists("artifacts", f"{key}.pkl")

    def save(self, key: str, value: Any) -> None:
        self.storage.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), "artifacts", f"{key}.pkl")

    def load(self, key: str) -> Any:
        return pickle.loads(self.storage.read_bytes("artifacts", f"{key}.pkl"))
