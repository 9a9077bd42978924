#!/usr/bin/env bash
# GPU throughput regression gate: one run of `fcdmbench throughput --check` on this machine's GPU.
# Called by .github/workflows/gpu-throughput.yml on a self-hosted runner labelled by GPU type; runs
# the same way by hand. Exit codes are fcdmbench's (docs/throughput.md):
#   0 pass (also "insufficient data" unless FCDMBENCH_GATE_STRICT=1), 5 regression confirmed by a
#   re-run, 3 no baseline for this GPU/config (create one: FCDMBENCH_GATE_UPDATE=1, review the file
#   in a PR), 4 no CUDA device.
# Settings (environment): FCDMBENCH_GATE_MODELS, FCDMBENCH_GATE_PRECISION (bf16),
# FCDMBENCH_GATE_BATCH (64), FCDMBENCH_GATE_RESOLUTION (256), FCDMBENCH_GATE_EXTRA (more flags).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
WANTED="${FCDMBENCH_GATE_MODELS:-fcdm-xl dit-xl-2 dic-xl dico-xl}"
PRECISION="${FCDMBENCH_GATE_PRECISION:-bf16}"
BATCH="${FCDMBENCH_GATE_BATCH:-64}"
RESOLUTION="${FCDMBENCH_GATE_RESOLUTION:-256}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="reports/throughput/gate-${STAMP}.json"

nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit,mig.mode.current \
    --format=csv || true

# Keep the registered models only: DiT/DiC/DiCo may be absent from an older checkout.
MODELS="$("$PY" - "$WANTED" <<'PYEOF'
import sys
from fcdmbench.errors import UnknownModelError
from fcdmbench.registry import get_spec
names = []
for name in sys.argv[1].split():
    try:
        names.append(get_spec(name).name)
    except UnknownModelError:
        print(f"gpu_gate: {name} is not registered here; skipped", file=sys.stderr)
print(" ".join(names))
PYEOF
)"
if [ -z "$MODELS" ]; then
    echo "gpu_gate: none of '$WANTED' is registered" >&2
    exit 2
fi

MODE=(--check)
if [ "${FCDMBENCH_GATE_UPDATE:-0}" = "1" ]; then
    MODE=(--update-baseline)
fi
if [ "${FCDMBENCH_GATE_STRICT:-0}" = "1" ]; then
    MODE+=(--strict)
fi

set +e
# shellcheck disable=SC2086  # MODELS and FCDMBENCH_GATE_EXTRA are word lists on purpose
"$PY" -m fcdmbench throughput --models $MODELS --device cuda --precision "$PRECISION" \
    --batch "$BATCH" --resolution "$RESOLUTION" --out "$OUT" "${MODE[@]}" \
    ${FCDMBENCH_GATE_EXTRA:-}
status=$?
set -e

if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$OUT" ]; then
    "$PY" - "$OUT" >> "$GITHUB_STEP_SUMMARY" <<'PYEOF'
import json, sys
record = json.load(open(sys.argv[1]))
env, check = record["env"], record.get("check", {})
print(f"### Throughput gate on {env['device_name']} ({env['device_slug']}), "
      f"{record['config']['precision']}, torch {env['torch']}, CUDA {env['cuda_runtime']}")
print(f"**{check.get('summary', 'no check (baseline update)')}**\n")
print("| model | batch | img/s (median) | IQR | /canary | change vs baseline |")
print("|---|---|---|---|---|---|")
changes = {m["key"]: m.get("change") for m in check.get("models", [])}
for row in record["results"]:
    s = row["img_per_s"]
    change = changes.get(row["key"])
    cells = [row["key"], str(row["batch"]),
             f"{s['median']:.1f}" if s["median"] else row["status"],
             f"{s['iqr']:.1f}" if s["iqr"] is not None else "",
             f"{row['ratio_to_canary']:.4f}" if row["ratio_to_canary"] else "",
             f"{change:+.1%}" if change is not None else ""]
    print("| " + " | ".join(cells) + " |")
for message in check.get("messages", []):
    print(f"- {message}")
PYEOF
fi
exit "$status"
