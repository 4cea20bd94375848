#!/usr/bin/env bash
# The image's entrypoint: one role per container (docker-compose.yml), or any command as given.
#   web          migrate, then gunicorn (deploy/gunicorn.conf.py)
#   worker       a Celery worker on NAEVUS_WORKER_QUEUES (default inference,default)
#   gpu-worker   one Celery worker per GPU on the inference queue, each pinned to its GPU, concurrency 1
#   beat         the periodic sweeper; exactly one per deployment
#   train ARGS   manage.py train with torchrun on every GPU of this host (--nproc-per-node in ARGS wins)
set -euo pipefail

log() { printf '{"level":"%s","logger":"entrypoint","message":"%s"}\n' "$1" "$2" >&2; }

gpu_ids() {
    if [[ -n "${NAEVUS_GPU_IDS:-}" ]]; then
        echo "${NAEVUS_GPU_IDS//,/ }"
    else
        python -c 'import torch; print(*range(torch.cuda.device_count()))'
    fi
}

worker_args=(--prefetch-multiplier 1 --without-gossip --without-mingle -l "${NAEVUS_LOG_LEVEL:-INFO}")

gpu_worker() {
    local ids pids=() status=0
    ids="$(gpu_ids)"
    if [[ -z "$ids" ]]; then
        log ERROR "no GPU visible: is the image built with CUDA torch (TORCH_INDEX_URL) and the NVIDIA runtime on?"
        exit 1
    fi
    # CUDA is not fork-safe and the engine uses the current device, so each GPU gets its own worker
    # process that sees only that GPU; a prefork child per GPU would all land on device 0.
    trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
    for id in $ids; do
        CUDA_VISIBLE_DEVICES="$id" celery -A portal worker -Q inference --concurrency 1 -n "gpu${id}@%h" \
            "${worker_args[@]}" &
        pids+=("$!")
    done
    log INFO "started ${#pids[@]} GPU worker(s) on GPU(s) ${ids}"
    # The first worker to stop (or a signal) stops them all, so the restart policy sees one failure
    # rather than a container quietly serving with fewer GPUs.
    wait -n "${pids[@]}" || status=$?
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" || true
    exit "$status"
}

role="${1:-web}"
case "$role" in
    web)
        # Quiet, so the container's output stays one JSON object per line; errors still print.
        python manage.py migrate --noinput -v 0
        log INFO "database migrations applied"
        # Each gunicorn worker counts its requests in a file here and /metrics sums them; files of a
        # previous run would be summed too, so start empty (portal/core/metrics.py).
        export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/dev/shm/naevus-prometheus}"
        rm -rf "$PROMETHEUS_MULTIPROC_DIR"
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        exec gunicorn -c deploy/gunicorn.conf.py portal.wsgi
        ;;
    worker)
        queues="${NAEVUS_WORKER_QUEUES:-inference,default}"
        exec celery -A portal worker -Q "$queues" --concurrency "${NAEVUS_WORKER_CONCURRENCY:-2}" \
            -n "cpu-${queues//,/-}@%h" "${worker_args[@]}"
        ;;
    gpu-worker)
        gpu_worker
        ;;
    beat)
        exec celery -A portal beat -l "${NAEVUS_LOG_LEVEL:-INFO}" --schedule "${NAEVUS_BEAT_SCHEDULE:-/tmp/celerybeat-schedule}"
        ;;
    train)
        shift
        read -r -a ids <<<"$(gpu_ids)"
        # No GPU: one process on the CPU (the same code path; slow, but it runs).
        nproc="${#ids[@]}"
        ((nproc > 0)) || nproc=1
        exec python manage.py train --nproc-per-node "$nproc" "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
