#!/usr/bin/env bash
# `make evaluate`: train the recipe in training/EVALUATION.md (scripts/train-model.sh) on every training source in ../shared/data
# (HAM10000, its 600 px extras, ISIC 2017) from the offline ImageNet Lite0 weights, then print the
# held-out grouped test fold (overall and per source) and ../shared/data/isic2017-ext, a second
# source that is never trained on. Extra arguments go to `manage.py train` (later ones win).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${NAEVUS_SHARED_DATA:-../shared/data}"
OUT="${NAEVUS_EVAL_OUT:-var/evaluation/$(date -u +%Y%m%d-%H%M%S)}"
PY="${PY:-.venv/bin/python}"
for d in ham10000 isic-ham-600px isic2017-train isic2017-ext; do
  [[ -f "$SHARED/$d/labels.csv" ]] || { echo "missing $SHARED/$d/labels.csv (set NAEVUS_SHARED_DATA)" >&2; exit 2; }
done
started=$(date +%s)
# The recipe itself lives in scripts/train-model.sh (what `make model` registers), so both train alike.
# (Both from SHARED: bash expands prefix assignments left to right, so EXTERNAL must not read DATA.)
DATA="$SHARED/ham10000/labels.csv:$SHARED/ham10000 $SHARED/isic-ham-600px/labels.csv:$SHARED/isic-ham-600px $SHARED/isic2017-train/labels.csv:$SHARED/isic2017-train" \
EXTERNAL="$SHARED/isic2017-ext/labels.csv:$SHARED/isic2017-ext" \
  bash scripts/train-model.sh --workers 0 --no-progress --out "$OUT" --no-register "$@"
"$PY" -m training.core.summary "$OUT/metrics.json"
# What workers serve (ONNX through Engine) must give the figures the report gives.
"$PY" -m training.core.served_check "$OUT"
echo "wall: $(( ($(date +%s) - started) / 60 )) min   full metrics: $OUT/metrics.json   plots: $OUT/plots/"
