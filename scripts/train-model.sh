#!/usr/bin/env bash
# `make model DATA="CSV:IMAGES [CSV:IMAGES …]"`: train the recipe `make evaluate` measures (training/EVALUATION.md)
# on any SIIM-ISIC-format folders and register the result as an inactive candidate model version with its
# metrics and plots. Activate it with `manage.py model activate ID` (or the admin) after reading its report.
# Defaults to every training source of ../shared/data. Extra arguments go to `manage.py train`
# (e.g. EXTRA="--img-size 224 --epochs 10 --nproc-per-node 4" on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
SHARED="${NAEVUS_SHARED_DATA:-../shared/data}"
DATA="${DATA:-$SHARED/ham10000/labels.csv:$SHARED/ham10000 $SHARED/isic-ham-600px/labels.csv:$SHARED/isic-ham-600px $SHARED/isic2017-train/labels.csv:$SHARED/isic2017-train}"
args=()
for spec in $DATA; do args+=(--data "$spec"); done
[[ -n "${EXTERNAL:-}" ]] && for spec in $EXTERNAL; do args+=(--external "$spec"); done
# shellcheck disable=SC2086
"$PY" manage.py train "${args[@]}" \
  --task diagnosis --arch tf_efficientnet_lite0 --init imagenet \
  --img-size 160 --color-constancy shades_of_gray --augment strong \
  --freeze-blocks 2 --balance-sources \
  --epochs 3 --batch-size 32 --lr 5e-4 --folds 10 --fold 0 --seed 42 \
  --bootstrap 1000 --name naevus-lite0 ${EXTRA:-} "$@"
