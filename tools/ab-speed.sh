#!/usr/bin/env bash
# Compares the host speed of the working tree (B) with a git revision (A,
# default HEAD) on one scenario, in one process with alternating batches
# (tools/ab-speed.mjs): on a noisy machine, separate runs of each differ by
# more than the change being measured. Blind to garbage-collector effects:
# both versions share one heap, so a change that lets V8 free more young
# objects (or retain fewer) speeds up A as much as B; compare those in
# separate processes (e.g. `node --trace-gc-nvp`, scavenge pause and
# promoted bytes).
# Usage: [ROUNDS=n] tools/ab-speed.sh [REV] [scenario] [cpus]
set -euo pipefail
REV=${1:-HEAD}
SCENARIO=${2:-ping-pong}
CPUS=${3:-1}
ROOT=$(git rev-parse --show-toplevel)
cd "$ROOT"
ESBUILD=node_modules/.bin/esbuild
WT=$(mktemp -d)
trap 'git worktree remove --force "$WT" >/dev/null 2>&1 || true; rm -f "$ROOT/scenarios/_ab_b.mjs"' EXIT
git worktree add --detach -q "$WT" "$REV"
ln -s "$ROOT/node_modules" "$WT/node_modules"
ENTRY='export { resolveScenario } from "./scenario.ts"; export { runScenario } from "./runner.ts";'
# Bundles live next to the scenario files: the loader finds them relative to its module.
echo "$ENTRY" > "$WT/scenarios/_ab_entry.ts"
echo "$ENTRY" > "$ROOT/scenarios/_ab_entry.ts"
"$ESBUILD" --bundle "$WT/scenarios/_ab_entry.ts" --platform=node --format=esm --outfile="$WT/scenarios/_ab_a.mjs" --log-level=warning --external:d3-node --external:cli-progress
"$ESBUILD" --bundle "$ROOT/scenarios/_ab_entry.ts" --platform=node --format=esm --outfile="$ROOT/scenarios/_ab_b.mjs" --log-level=warning --external:d3-node --external:cli-progress
rm -f "$ROOT/scenarios/_ab_entry.ts"
node tools/ab-speed.mjs "$WT/scenarios/_ab_a.mjs" "$ROOT/scenarios/_ab_b.mjs" "$SCENARIO" "$CPUS" "${ROUNDS:-16}"
