"""Time from process start to the app's first screen being shown, and check torch is not imported.

Runs the real app (headless, 80x24) in a fresh Python process, N times; prints the median.
Usage: python bench/startup.py [--runs 5] [--workspace DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time
import easy_oww_tui.cli  # what `easy-oww` imports before opening the app
from easy_oww_tui.app import EasyOWWApp

class BenchApp(EasyOWWApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self._shown)

    def _shown(self):
        heavy = [m for m in ("torch", "onnxruntime", "piper", "openwakeword") if m in sys.modules]
        sys.__stdout__.write(json.dumps({"t": time.time(), "heavy": heavy,
                                         "screen": type(self.screen).__name__}) + "\n")
        sys.__stdout__.flush()
        self.exit()

BenchApp(workspace=sys.argv[1]).run(headless=True, size=(80, 24))
"""


def one_run(workspace: str) -> tuple[float, dict]:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, workspace], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the app failed to start:\n{out.stderr[-3000:]}")
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    data = json.loads(line)
    return data["t"] - t0, data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workspace", default=None, help="default: a new empty temp workspace")
    args = ap.parse_args()
    workspace = args.workspace or tempfile.mkdtemp(prefix="easy-oww-bench-")
    times = []
    for _ in range(args.runs):
        seconds, data = one_run(workspace)
        assert data["screen"] == "ProjectsScreen", data
        assert not data["heavy"], f"heavy modules imported at start-up: {data['heavy']}"
        times.append(seconds)
    med = statistics.median(times)
    print(f"first screen shown after {med:.3f} s (median of {args.runs}; min {min(times):.3f}, "
          f"max {max(times):.3f}); torch/onnxruntime/piper/openwakeword not imported")
    if med >= 1.0:
        print("WARNING: above the 1 s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
