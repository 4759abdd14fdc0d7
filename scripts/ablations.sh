#!/usr/bin/env bash
# The pretext ablations of the shipped recipe, each with the same number of optimiser steps as the
# shipped model (2 epochs x 363 steps = 726), evaluated side by side with it on ../shared/data/dev.
#   scripts/ablations.sh [RUNS_DIR]   (about 30 minutes of training and 10 of evaluation on 2 cores; resumable)
# Prints AUC and TPR at 5% false alarms per generator, then the mean AUC with paired bootstrap intervals.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${FACECHECK_DATA:-../shared/data}"
RUNS="${1:-runs}"
mkdir -p "$RUNS"
# The appearance witness alone, mixtures on faces as they are: the 0.2.0 ablations.
common=("$DATA/exif_photos" --faces "$DATA/real_faces" --seed 0 --resume -q --witnesses appearance --histories 0)
# Untrained extractor (no pretext task): same pipeline, GMM on random-initialisation features.
[ -d "$RUNS/random" ] || facecheck train "${common[@]}" --out "$RUNS/random" --epochs 0
# EXIF ranking only: 38 steps per epoch (2426 crops / 64) -> 19 epochs = 722 steps.
[ -d "$RUNS/exif_only" ] || facecheck train "${common[@]}" --out "$RUNS/exif_only" --tasks exif --epochs 19
# Manipulation only: 182 steps per epoch (5807 faces / 32 pairs) -> 4 epochs = 728 steps.
[ -d "$RUNS/manip_only" ] || facecheck train "${common[@]}" --out "$RUNS/manip_only" --tasks manipulation --epochs 4
for m in weights "$RUNS/random" "$RUNS/exif_only" "$RUNS/manip_only"; do
  name=$(basename "$m")
  [ "$name" = weights ] && name=shipped
  [ -f "$RUNS/report_$name/scores.csv" ] ||
    python benchmarks/quality.py --model "$m" --matched both --perturb "" --out "$RUNS/report_$name" > "$RUNS/quality_$name.txt"
done
python benchmarks/compare.py "$RUNS"/quality_{shipped,random,exif_only,manip_only}.txt
python benchmarks/compare.py --bootstrap 1000 "$RUNS"/report_{shipped,random,exif_only,manip_only}
