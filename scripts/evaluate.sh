#!/usr/bin/env bash
# `make evaluate`: train the recipe in training/EVALUATION.md on every training source in ../shared/data
# (HAM10000, its 600 px extras, ISIC 2017) from the offline ImageNet Lite0 weights, then print the
# held-out grouped test fold (overall and per source) and ../shared/data/isic2017-ext, a second
# source that is never trained on. Extra arguments go to `manage.py train` (later ones win).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${NAEVUS_SHARED_DATA:-../shared/data}"
OUT="${NAEVUS_EVAL_OUT:-var/evaluation/$(date -u +%Y%m%d-%H%M%S)}"
PY="${PY:-.venv/bin/python}"
for d in ham10000 isic-ham-600px isic2017-train isic2017-ext; do
  [[ -f "$DATA/$d/labels.csv" ]] || { echo "missing $DATA/$d/labels.csv (set NAEVUS_SHARED_DATA)" >&2; exit 2; }
done
started=$(date +%s)
"$PY" manage.py train \
  --data "$DATA/ham10000/labels.csv:$DATA/ham10000" \
  --data "$DATA/isic-ham-600px/labels.csv:$DATA/isic-ham-600px" \
  --data "$DATA/isic2017-train/labels.csv:$DATA/isic2017-train" \
  --external "$DATA/isic2017-ext/labels.csv:$DATA/isic2017-ext" \
  --task diagnosis --arch tf_efficientnet_lite0 --init imagenet \
  --img-size 160 --color-constancy shades_of_gray --augment strong \
  --freeze-blocks 2 --balance-sources \
  --epochs 3 --batch-size 32 --lr 5e-4 --folds 10 --fold 0 --seed 42 \
  --workers 0 --bootstrap 1000 --no-progress \
  --out "$OUT" --no-register "$@"
"$PY" -m training.core.summary "$OUT/metrics.json"
# What workers serve (ONNX through Engine) must give the figures the report gives.
"$PY" -m training.core.served_check "$OUT"
echo "wall: $(( ($(date +%s) - started) / 60 )) min   full metrics: $OUT/metrics.json   plots: $OUT/plots/"
