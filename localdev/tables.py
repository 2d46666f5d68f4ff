"""Create the tables the environment's `Config` names, where they are missing (local stage and
tests): `python -m localdev.tables` prints the names it created, one a line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.bootstrap import bootstrap  # noqa: E402
from chalicelib.config import LOCAL_STAGE, Config  # noqa: E402
from chalicelib.storage import create_tables  # noqa: E402
from chalicelib.tables import ALL_MODELS  # noqa: E402


def create_all(config: Config) -> list[str]:
    """The tables created (an empty list when they all exist)."""
    bootstrap(config)  # binds every model to config's table names and endpoint
    return create_tables(ALL_MODELS)


if __name__ == "__main__":
    # local-only code: the local stage unless the environment names one (which must then be local)
    config = Config.from_env({"YUNDIAN_STAGE": LOCAL_STAGE, **os.environ})
    if not config.is_local:
        sys.exit(f"localdev.tables creates the local stage's tables only, not {config.stage!r}'s")
    for name in create_all(config):
        print(name)
