#!/usr/bin/env bash
# Python 3.13 (what Debian 13 and Home Assistant run): the README install in a clean venv, the quick preset
# end to end, and the Home Assistant .tflite loaded by pyopen-wakeword (Home Assistant's own engine).
#   bash .ci/py313.sh install VENV   # the install (mostly downloads: CI runs it beside the 3.11 tests)
#   bash .ci/py313.sh run VENV       # the quick preset, the export and the check
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?install or run}
VENV=${2:?a folder for the venv}

if [ "$MODE" = install ]; then
  PY=""
  for c in "$(command -v python3.13 || true)" "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13; do
    if [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then PY="$c"; break; fi
  done
  if [ -z "$PY" ]; then  # no 3.13 here: a uv-managed one
    command -v uv >/dev/null || pip install -q uv
    uv python install 3.13 >/dev/null
    PY=$(uv python find 3.13)
  fi
  # The CUDA torch build needs about 6 GB in the venv, and pip unpacks it beside that; without the room, say so
  # plainly instead of failing half-way with "No space left on device".
  mkdir -p "$(dirname "$VENV")"
  free_gb=$(( $(df -Pk "$(dirname "$VENV")" | awk 'NR==2 {print $4}') / 1048576 ))
  if [ "$free_gb" -lt 12 ]; then
    echo "Python 3.13 check needs about 12 GB free in $(dirname "$VENV"); only ${free_gb} GB is. Free some space."
    exit 1
  fi
  export PIP_NO_CACHE_DIR=1  # the cache would hold a second copy of the 3 GB of wheels
  start=$(date +%s)
  "$PY" -m venv "$VENV"
  # The README's install (PyPI's torch for 3.13 is the CUDA build: the CPU wheel on this disk is for 3.11).
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q -e . "pyopen-wakeword==1.1.0"
  "$VENV/bin/pip" check
  echo "Python 3.13 ($PY) install: $(( $(date +%s) - start )) s, $(du -sh "$VENV" | cut -f1)"
  exit 0
fi

WS=$(mktemp -d)
export EASY_OWW_HOME="$WS" HF_HUB_OFFLINE=1
"$VENV/bin/easy-oww" create q13 --wake-word "hey jarvis" --preset quick
start=$(date +%s)
"$VENV/bin/easy-oww" train q13 --no-get-voice
echo "Python 3.13 quick preset train: $(( $(date +%s) - start )) s"
"$VENV/bin/easy-oww" export q13 --format tflite
"$VENV/bin/python" - "$WS/projects/q13/models/q13.tflite" "$WS/projects/q13/models/q13.onnx" <<'PY'
import sys

import numpy as np
import onnxruntime as ort
from pyopen_wakeword import OpenWakeWord  # Home Assistant's wake-word engine (libtensorflowlite_c)

tflite, onnx = sys.argv[1], sys.argv[2]
x = np.random.default_rng(0).normal(0, 8, (1, 16, 96)).astype(np.float32)
got = list(OpenWakeWord.from_model(tflite).process_streaming(x[None]))
sess = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
ref = float(sess.run(None, {sess.get_inputs()[0].name: x})[0].ravel()[0])
assert len(got) == 1 and abs(got[0] - ref) < 1e-3, (got, ref)
print(f"pyopen-wakeword loads {tflite}: score {got[0]:.4f}, ONNX {ref:.4f}")
PY
rm -rf "$WS"
