#!/usr/bin/env bash
# Train the pretext ablations of the shipped recipe with the same number of optimiser steps
# (6 epochs x 363 steps = 2178), then evaluate them side by side with the shipped bundle on ../shared/data/dev.
#   scripts/ablations.sh [RUNS_DIR]   (about 65 minutes of training on 2 cores, resumable)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${FACECHECK_DATA:-../shared/data}"
RUNS="${1:-runs}"
mkdir -p "$RUNS"
common=("$DATA/exif_photos" --faces "$DATA/real_faces" --seed 0 --resume -q)
# Untrained extractor (no pretext task): same pipeline, GMM on random-initialisation features.
[ -d "$RUNS/random" ] || facecheck train "${common[@]}" --out "$RUNS/random" --epochs 0
# EXIF ranking only: 38 steps per epoch (2426 crops / 64) -> 57 epochs = 2166 steps.
[ -d "$RUNS/exif_only" ] || facecheck train "${common[@]}" --out "$RUNS/exif_only" --tasks exif --epochs 57
# Manipulation only: 182 steps per epoch (5807 faces / 32 pairs) -> 12 epochs = 2184 steps.
[ -d "$RUNS/manip_only" ] || facecheck train "${common[@]}" --out "$RUNS/manip_only" --tasks manipulation --epochs 12
for m in weights "$RUNS/random" "$RUNS/exif_only" "$RUNS/manip_only"; do
  name=$(basename "$m")
  python benchmarks/quality.py --model "$m" --matched both --perturb "" --out "$RUNS/report_$name" > "$RUNS/quality_$name.txt"
done
python benchmarks/compare.py "$RUNS"/quality_*.txt
