#!/usr/bin/env bash
# Distributed training with torchrun: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT. Without a GPU, processes use gloo on CPU.
set -euo pipefail
CONFIG=${1:?usage: dist_train.sh CONFIG NUM_PROCS [args]}
NPROCS=${2:?usage: dist_train.sh CONFIG NUM_PROCS [args]}
shift 2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python)}
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${MASTER_PORT:-29500}" --nproc_per_node="$NPROCS" \
  "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
