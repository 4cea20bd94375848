#!/usr/bin/env bash
# `make model DATA="CSV:IMAGES [CSV:IMAGES …]"`: train the recipe `make evaluate` measures (training/EVALUATION.md)
# on any SIIM-ISIC-format folders and register the result as an inactive candidate model version with its
# metrics and plots. Activate it with `manage.py model activate ID` (or the admin) after reading its report.
# Defaults to every training source of ../shared/data. Extra arguments go to `manage.py train`
# (e.g. EXTRA="--img-size 224 --epochs 10 --nproc-per-node 1 --batch-size 32" on a one-GPU machine).
# On 2 CPU cores two DDP processes of one thread each train 1.26x faster than one process of two threads
# (192 px, Lite0, stages 0-1 frozen: 26.6 vs 21.1 img/s); 16 images per process keep the global batch at 32.
# EMA weights (0.998) and 4 served views are run E3's (training/EVALUATION.md); the views cost 4x the ONNX work per
# image in the worker and buy a better operating point, not a better external ranking.
# --fusion: the metadata (age, sex, site) late-fusion head is fitted on validation and stored in the artifact
# (training/EVALUATION.md, "Metadata fusion"); rescoring costs minutes on 2 cores.
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
  --img-size 192 --color-constancy shades_of_gray --augment strong \
  --freeze-blocks 2 --balance-sources 0.5 --ema-decay 0.998 --serve-views 4 \
  --epochs 6 --batch-size 16 --nproc-per-node 2 --lr 5e-4 --folds 10 --fold 0 --seed 42 \
  --bootstrap 1000 --name naevus-lite0 --fusion ${EXTRA:-} "$@"
