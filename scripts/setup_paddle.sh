#!/usr/bin/env bash
# Idempotent set-up of .venv-paddle/: PaddlePaddle and PaddleClas, used only by the converter parity tests
# (tests/converters/) to build the reference networks and write real .pdparams files. It is a separate
# environment because paddle must never share a process with torch. A second run only checks a stamp and
# finishes in seconds. Recipe: shared/notes/released-checkpoints.md §7 (design basis of ssld_eval.converters).
#   - paddleclas 2.6.0 is installed with --no-deps: its metadata pins numpy 1.24.4 and pulls in opencv,
#     faiss, visualdl, ...; building backbones needs none of them, and numpy 2 works.
#   - the few modules ppcls imports at build time are installed explicitly, at the versions of
#     requirements/constraints.txt where that file pins them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3.11}"
VENV="$ROOT/.venv-paddle"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
PADDLE_VERSION="3.3.1"
PADDLECLAS_VERSION="2.6.0"
EXTRAS=(scikit-learn pyyaml requests tqdm six)
log() { printf '[setup_paddle] %s\n' "$*" >&2; }

stamp_hash="$(printf '%s\n' "$PADDLE_VERSION" "$PADDLECLAS_VERSION" "${EXTRAS[*]}" | cat - "$CONSTRAINTS" \
  | sha256sum | cut -c1-16)"
STAMP="$VENV/.ssld-eval-paddle-$stamp_hash"
if [ -f "$STAMP" ]; then
  log "ready: $VENV (stamp $stamp_hash)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

log "installing paddlepaddle $PADDLE_VERSION (about 870 MB) and paddleclas $PADDLECLAS_VERSION (--no-deps)"
"${PIP[@]}" install -c "$CONSTRAINTS" "paddlepaddle==$PADDLE_VERSION"
"${PIP[@]}" install --no-deps "paddleclas==$PADDLECLAS_VERSION"
"${PIP[@]}" install -c "$CONSTRAINTS" "${EXTRAS[@]}"

# The parity script imports ppcls from the paddleclas package folder (that is where the wheel puts it).
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
PYTHONPATH="$site/paddleclas" "$VENV/bin/python" -c "
import paddle
from ppcls.utils import logger
logger.init_logger()
from ppcls.arch.backbone.legendary_models.resnet import ResNet50_vd
from ppcls.arch.backbone.legendary_models.mobilenet_v3 import MobileNetV3_small_x1_0
print('paddle', paddle.__version__)
" >&2 || { log "paddle or ppcls does not import; delete $VENV and rerun"; exit 1; }

rm -f "$VENV"/.ssld-eval-paddle-*
touch "$STAMP"
log "ready: $VENV (stamp $stamp_hash)"
