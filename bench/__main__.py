"""Run the benchmarks: `python -m bench [name ...] [--n N]` (all registered ones by default)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "payments": "bench.payments",
    "contests": "bench.contests",
    "imports": "bench.imports",
}


def main(argv: list[str]) -> None:
    names = [a for a in argv if not a.startswith("-") and a in BENCHMARKS] or list(BENCHMARKS)
    rest = [a for a in argv if a not in names]
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        entry = getattr(module, "main", None) or module.run  # each parses its own options
        entry(rest)


if __name__ == "__main__":
    main(sys.argv[1:])
