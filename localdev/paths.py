"""Where `make run` keeps its data: DynamoDB Local's files, the demo's state, the kept API keys and
the local platforms' identities. `.dynamodb/` in the checkout, or `YUNDIAN_DATA_DIR` (the browser
tests run `make run`'s program on data of their own)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("YUNDIAN_DATA_DIR") or ROOT / ".dynamodb")
