#!/usr/bin/env bash
# Reproduce the shipped bundle (weights/) from ../shared/data on a 2-core CPU (about 45 minutes, plus about 8 for the pre-scan).
# Resumable: run it again after an interruption and it continues from the last checkpoint.
#   scripts/train_default.sh [OUT]   (default OUT: ./default_model; copy it into weights/ to ship it)
# 1. The appearance witness: the pretext tasks, 2 epochs (the 0.2.0 recipe; about 13 minutes).
# 2. The bundle: that witness kept as it is (--init, --epochs 0), the spectrum, co-occurrence and
#    up-sampling-trace witnesses (nothing to train), the surprise witness (its coder fitted on the
#    training-split faces), every mixture fitted on real faces each with 2 random
#    processing histories, fused by Stouffer's rule (cooc and npr two-sided: too typical counts as unusual)
#    and calibrated (about 25 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${FACECHECK_DATA:-../shared/data}"
OUT="${1:-default_model}"
if [ ! -f "$OUT.appearance/manifest.json" ]; then
  facecheck train "$DATA/exif_photos" --faces "$DATA/real_faces" --out "$OUT.appearance" --witnesses appearance \
    --histories 0 --epochs 2 --seed 0 --resume
fi
facecheck train "$DATA/exif_photos" --faces "$DATA/real_faces" --out "$OUT" --init "$OUT.appearance" --epochs 0 \
  --witnesses appearance,spectrum,cooc,npr,surprise --fusion stouffer --two-sided cooc,npr --histories 2 --seed 0 --false-alarm 0.01
