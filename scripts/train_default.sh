#!/usr/bin/env bash
# Reproduce the shipped bundle (weights/) from ../shared/data on a 2-core CPU (about 13 minutes once the photos are pre-scanned).
# Resumable: run it again after an interruption and it continues from the last checkpoint.
#   scripts/train_default.sh [OUT]   (default OUT: ./default_model; copy it into weights/ to ship it)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${FACECHECK_DATA:-../shared/data}"
OUT="${1:-default_model}"
facecheck train "$DATA/exif_photos" --faces "$DATA/real_faces" --out "$OUT" --epochs 2 --seed 0 --resume
