"""Import cost of the app: `python -X importtime -c 'import app'`, in fresh processes, the self
time of the project's own modules (`app`, `chalicelib.*`) against that of its dependencies, and
whether the X-Ray SDK was imported (it must not be until tracing is enabled and used).

    python -m bench imports [--runs 7]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = ("app", "chalicelib")
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")


def measure_once(probe: str = "import app") -> tuple[float, float, bool]:
    """(own ms, dependencies ms, X-Ray imported) of one fresh interpreter importing the app."""
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", probe], cwd=str(ROOT), env=env,
                         capture_output=True, text=True, check=True).stderr
    own = deps = 0
    xray = False
    for line in err.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        self_us, name = int(m.group(1)), m.group(3)
        xray = xray or name.startswith("aws_xray_sdk")
        if name.split(".")[0] in OWN:
            own += self_us
        else:
            deps += self_us
    return own / 1000, deps / 1000, xray


def run(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="bench imports")
    parser.add_argument("--runs", type=int, default=7)
    args, _ = parser.parse_known_args(argv)
    out: dict[str, float] = {}
    for label, probe in (("import app", "import app"),
                         ("import app + bootstrap modules", "import app; import chalicelib.bootstrap")):
        samples = [measure_once(probe) for _ in range(args.runs)]
        own = statistics.median(s[0] for s in samples)
        deps = statistics.median(s[1] for s in samples)
        xray = any(s[2] for s in samples)
        print(f"{label:<32} own {own:6.1f} ms  dependencies {deps:6.1f} ms  own/deps {own / deps:6.1%}  "
              f"X-Ray SDK imported: {'yes' if xray else 'no'}  (median of {args.runs})", flush=True)
        out[label] = own / deps
    return out


if __name__ == "__main__":
    run(sys.argv[1:])
