#!/usr/bin/env bash
# `make evaluate`: train on ../shared/data/isic-dev + isic-ham-600px (HAM10000) from the offline ImageNet
# Lite0 weights, then print metrics on the held-out patient-grouped test fold and on
# ../shared/data/isic2017-ext, a second source (ISIC 2017, other clinics) that is never trained on.
# Figures and what each technique changed: training/EVALUATION.md. Extra arguments go to `manage.py train`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${NAEVUS_SHARED_DATA:-../shared/data}"
OUT="${NAEVUS_EVAL_OUT:-var/evaluation/$(date -u +%Y%m%d-%H%M%S)}"
PY="${PY:-.venv/bin/python}"
for d in isic-dev isic-ham-600px isic2017-ext; do
  [[ -f "$DATA/$d/labels.csv" ]] || { echo "missing $DATA/$d/labels.csv (set NAEVUS_SHARED_DATA)" >&2; exit 2; }
done
"$PY" manage.py train \
  --data "$DATA/isic-dev/labels.csv:$DATA/isic-dev" \
  --data "$DATA/isic-ham-600px/labels.csv:$DATA/isic-ham-600px" \
  --external "$DATA/isic2017-ext/labels.csv:$DATA/isic2017-ext" \
  --arch tf_efficientnet_lite0 --init imagenet \
  --img-size 224 --color-constancy shades_of_gray --augment strong \
  --epochs 8 --batch-size 32 --lr 5e-4 --folds 5 --fold 0 --seed 42 \
  --workers 0 --tta --bootstrap 1000 --no-progress \
  --out "$OUT" --no-register "$@"
"$PY" -m training.core.summary "$OUT/metrics.json"
echo "full metrics: $OUT/metrics.json   plots: $OUT/plots/"
