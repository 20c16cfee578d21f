#!/usr/bin/env bash
# Regenerate every shipped output under plots/ with the commands the README
# shows: run; verify where a verify.json is shipped; basins for studies.
# HOPDYN="python -m hopdyn.cli" with PYTHONPATH set runs another checkout.
# Then compare the numbers with the committed ones:
#   python scripts/check_shipped.py --against-git HEAD
set -euo pipefail
cd "$(dirname "$0")/.."
HOPDYN=${HOPDYN:-hopdyn}
for f in scenarios/*.yaml; do
  n=$(basename "$f" .yaml)
  $HOPDYN run "$n" -q || true   # broken-asymmetric exits 1 by design
  if [ -f "plots/$n/verify.json" ]; then $HOPDYN verify "$n" -q || true; fi
  if grep -qE '^(basins|capacity|continuation):' "$f"; then $HOPDYN basins "$n" -q; fi
  if grep -qE '^training:' "$f"; then   # train, then run and verify what was learned
    $HOPDYN train "$n" -q && rm -rf "plots/$n/training.partial"
    $HOPDYN run "plots/$n/trained.yaml" -q && $HOPDYN verify "plots/$n/trained.yaml" -q
  fi
  echo "$n done"
done
