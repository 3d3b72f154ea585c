#!/usr/bin/env bash
# The GPU check: one script, under 8 minutes on one H100/H200, JSON and logs to --out DIR.
#
#   bash benchmarks/gpu_check.sh --out "$OUT"      # on the GPU machine (torch + CUDA + Triton)
#   bash benchmarks/gpu_check.sh --dry-run --out /tmp/check   # CPU, tiny model, ~1 minute
#
# Steps, each under its own time limit (their sum stays under 8 minutes, so a rerun fits in
# a 15-minute device window), each logged to DIR/logs/<step>.log; a failed or timed-out step
# is recorded and the next one still runs:
#   1. setup      make `heliumsql.engine` importable (pip install -e . --no-deps, offline; else
#                 a path shim) and, where duckdb/sqlglot are missing, install them from a
#                 carried .whl/ folder if there is one. Nothing is downloaded.
#   2. pytest     `pytest -m gpu tests/engine/test_engine_gpu.py`: float32 on GPU token-identical
#                 to HF generate for the five architectures, every attention path identical,
#                 bfloat16 agreement (first 3 tokens equal for >= 3/4 of the prompts)
#   3. engine     the engine suite, --device cuda --dtype bfloat16 --shape 1b (random-weight
#                 Llama: hidden 2048, 16 layers, 32/8 heads)
#   4. workflows  the workflow suite, same device, dtype and shape, one run per workload under a
#                 shared budget (needs duckdb and sqlglot)
#   5. decode     decode tokens/s at batch 64 against the dense forward bound (matmul rate x
#                 FLOPs per token) and the weight-streaming bound, with CUDA graphs and without
# DIR/gpu_check.json gathers every step's status, seconds and JSON results.
set -u -o pipefail

OUT=""
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --out=*) OUT="${1#--out=}"; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (use --out DIR [--dry-run])" >&2; exit 2 ;;
  esac
done
if [ -z "$OUT" ]; then
  echo "gpu_check.sh: give --out DIR (where the JSON and logs go)" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
mkdir -p "$OUT/logs"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python3}"
STEPS="$OUT/steps.jsonl"
: > "$STEPS"

if [ "$DRY" = 1 ]; then
  DEVICE=cpu; DTYPE=float32; SUITE_ARGS=(--quick --repeats 1 --threads 1)
  WORKLOADS=(map_reduce)
  DECODE_ARGS=(--dry-run)
  LIMIT_SETUP=60; LIMIT_PYTEST=120; LIMIT_ENGINE=180; LIMIT_WORKFLOWS=240; LIMIT_DECODE=120
else
  DEVICE=cuda; DTYPE=bfloat16; SUITE_ARGS=(--shape 1b --repeats 1)
  # Cheapest first (by their CPU times): a workload that does not fit the budget is skipped.
  WORKLOADS=(exploration debate map_reduce multi_agent records)
  DECODE_ARGS=(--device cuda --dtype bfloat16 --shape 1b --batch 64)
  # 15 + 130 + 130 + 120 + 60 = 455 s of steps, under 8 minutes with start-up.
  LIMIT_SETUP=15; LIMIT_PYTEST=130; LIMIT_ENGINE=130; LIMIT_WORKFLOWS=120; LIMIT_DECODE=60
fi

# step NAME LIMIT_S COMMAND...: run under a time limit, log it, record rc and seconds.
step() {
  local name="$1" limit="$2"; shift 2
  local start end rc
  start=$(date +%s.%N)
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/logs/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  local secs
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  local status=ok
  [ "$rc" = 0 ] || status=failed
  { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && status=timed_out
  echo "   $status in ${secs}s (log: logs/$name.log)"
  printf '{"step": "%s", "status": "%s", "rc": %s, "seconds": %s, "limit_s": %s}\n' \
    "$name" "$status" "$rc" "$secs" "$limit" >> "$STEPS"
  return 0
}

skip() {  # skip NAME REASON
  echo "== $1 skipped: $2"
  printf '{"step": "%s", "status": "skipped", "reason": "%s"}\n' "$1" "$2" >> "$STEPS"
}

setup() {
  export PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
  if ! "$PY" -c "import heliumsql.engine" 2>/dev/null; then
    "$PY" -m pip install -q -e . --no-deps --no-build-isolation --no-index 2>&1 \
      || echo "pip install -e failed; using a path shim"
  fi
  if ! "$PY" -c "import heliumsql.engine" 2>/dev/null; then
    # heliumsql.engine lives in engine/ (pyproject's package-dir): benchmarks/run.py maps it the
    # same way; a sitecustomize does that at every start-up, before the working directory (the
    # repository root, whose plain heliumsql/ would not find engine/) is searched.
    mkdir -p "$WORK/shim"
    printf '%s\n' "import sys" "sys.path.insert(0, '$ROOT')" \
      "from benchmarks.run import _make_importable" "_make_importable()" \
      > "$WORK/shim/sitecustomize.py"
    echo "$WORK/shim" > "$WORK/pythonpath"
  fi
  if ! "$PY" -c "import duckdb, sqlglot" 2>/dev/null && ls .whl/*.whl > /dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --target "$WORK/site" .whl/*.whl
    echo "$WORK/site" >> "$WORK/pythonpath"
  fi
  if [ -f "$WORK/pythonpath" ]; then
    export PYTHONPATH="$(paste -sd: "$WORK/pythonpath")${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$PY" - <<'EOF'
import importlib, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name())
for name in ("heliumsql.engine", "transformers", "triton", "flash_attn", "pytest", "duckdb", "sqlglot"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "ok"))
    except ImportError as exc:
        print(name, "MISSING", exc)
EOF
}

# Shims and carried wheels go outside DIR, which holds only what the check reports.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/heliumsql-gpu-check.XXXXXX")"
export -f setup
export PY OUT ROOT WORK
step setup "$LIMIT_SETUP" bash -c setup
if [ -f "$WORK/pythonpath" ]; then
  PYTHONPATH="$(paste -sd: "$WORK/pythonpath")${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONPATH
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if "$PY" -c "import pytest" 2>/dev/null; then
  step pytest "$LIMIT_PYTEST" "$PY" -m pytest -m gpu -q -p no:cacheprovider \
    --junitxml "$OUT/pytest-gpu.xml" tests/engine/test_engine_gpu.py
else
  skip pytest "pytest is not installed"
fi

# The shared-prefix workload only: it carries the suite's targets over HF generate.
step engine "$LIMIT_ENGINE" "$PY" benchmarks/run.py --suite engine --device "$DEVICE" \
  --dtype "$DTYPE" "${SUITE_ARGS[@]}" --workload shared_prefix --json "$OUT/engine.json"

# One run per workload, each writing its own JSON, under one shared budget: a workload that
# would not finish in what is left is skipped rather than losing the ones before it.
if "$PY" -c "import duckdb, sqlglot" 2>/dev/null; then
  deadline=$(( $(date +%s) + LIMIT_WORKFLOWS ))
  for w in "${WORKLOADS[@]}"; do
    left=$(( deadline - $(date +%s) ))
    if [ "$left" -lt 25 ]; then skip "workflows-$w" "workflow budget spent"; continue; fi
    step "workflows-$w" "$left" "$PY" benchmarks/run.py --suite workflows --device "$DEVICE" \
      --dtype "$DTYPE" "${SUITE_ARGS[@]}" --workload "$w" --json "$OUT/workflows-$w.json"
  done
else
  skip workflows "duckdb or sqlglot missing (carry their wheels in .whl/)"
fi

step decode "$LIMIT_DECODE" "$PY" benchmarks/decode_bound.py "${DECODE_ARGS[@]}" \
  --json "$OUT/decode.json"

"$PY" - "$OUT" "$DRY" <<'EOF'
import json, sys
from pathlib import Path
out, dry = Path(sys.argv[1]), sys.argv[2] == "1"
steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line]
doc = {"dry_run": dry, "steps": steps, "results": {}}
for path in sorted(out.glob("*.json")):
    if path.name != "gpu_check.json":
        doc["results"][path.stem] = json.loads(path.read_text())
(out / "gpu_check.json").write_text(json.dumps(doc, indent=2) + "\n")
bad = [s["step"] for s in steps if s["status"] not in ("ok", "skipped")]
print("gpu_check:", "all steps ok" if not bad else f"failed or timed out: {', '.join(bad)}",
      f"-> {out / 'gpu_check.json'}")
sys.exit(1 if bad else 0)
EOF
