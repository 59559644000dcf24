"""Command-line start-up: wall time of `anomalyforge detectors`, `anomalyforge --help` and a bare interpreter.

Each command runs in a fresh interpreter (``python -m anomalyforge.cli ...``, what the console script
does) ``--repeat`` times; the median and the range are printed. The bare ``python -c pass`` line is the
floor no command can go under. The figure to watch is `detectors`: it reads the registry's static
catalog and should import no model module (DESIGN.md: listing loads no torch), so it stays well under 1 s.

    .venv/bin/python bench/bench_cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

COMMANDS = {
    "anomalyforge detectors": ["-m", "anomalyforge.cli", "detectors"],
    "anomalyforge generators": ["-m", "anomalyforge.cli", "generators"],
    "anomalyforge --help": ["-m", "anomalyforge.cli", "--help"],
    "python -c pass (floor)": ["-c", "pass"],
}


def time_once(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    print(f"fresh interpreter per run, {args.repeat} runs each, {sys.executable}")
    print(f"{'command':<26} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label, command in COMMANDS.items():
        times = [time_once(command, env) for _ in range(args.repeat)]
        print(f"{label:<26} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}")


if __name__ == "__main__":
    main()
