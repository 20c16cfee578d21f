#!/usr/bin/env bash
# The device check, for a session lent a GPU: run once, from the repository root,
# on the device machine (the `device` tool's `run`), with JAX's CUDA wheels.
# It installs hopdyn with jax[cuda12], runs the GPU-relevant tests (solves,
# verdicts in float32 and float64, slots, the float32 matmul precision), then
# `hopdyn bench` (solver cases, refill) with batches up to 65,536, and leaves
# bench.json and the logs in $OUT (or ./gpu-out).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
python3 -m venv .gpu-venv && . .gpu-venv/bin/activate
pip install --quiet --upgrade pip
pip install --quiet -e ".[test]" "jax[cuda12]" 2>&1 | tail -2
python - <<'PY' | tee "$OUT/device.txt"
import jax, jax.numpy as jnp
print(jax.devices())
# TF32: JAX's default float32 matmul on NVIDIA; hopdyn compiles at "highest"
a = jax.random.normal(jax.random.PRNGKey(0), (1024, 1024), jnp.float32)
exact = (a.astype(jnp.float64) if jax.config.jax_enable_x64 else a) @ a
for p in ("default", "highest"):
    with jax.default_matmul_precision(p):
        got = a @ a
    print(p, float(jnp.max(jnp.abs(got - exact)) / jnp.max(jnp.abs(exact))))
PY
export MPLBACKEND=Agg
timeout 900 python -m pytest -q -x tests/test_solve.py tests/test_verify.py tests/test_slots.py tests/test_etd.py tests/test_rkc.py \
  2>&1 | tail -15 | tee "$OUT/tests.txt"
for B in 1024 8192 65536; do
  HOPDYN_BENCH_BATCH=$B timeout 1200 hopdyn bench --cases dense,dense-stiff,refill --out "$OUT/bench-$B" 2>&1 | tail -30 | tee "$OUT/bench-$B.txt"
done
HOPDYN_MATMUL_PRECISION=default timeout 600 hopdyn bench --cases dense --out "$OUT/bench-tf32" 2>&1 | tail -12 | tee "$OUT/bench-tf32.txt"
# issue 33: the continuation case (1000 units, 10^4 starts x 20 values of beta) and, at the batch
# of a GPU, one value of it with 65,536 starts in one chunk (time per value)
timeout 900 hopdyn bench --cases continuation --out "$OUT/bench-continuation" 2>&1 | tail -12 | tee "$OUT/bench-continuation.txt"
( time timeout 600 hopdyn basins ramsauer-regimes --out "$OUT/cont-65536" -q \
    --set "patterns.X.random.shape=[12,1000]" --set "neurons.v.shape=[1000]" --set "patterns.X.random.norm=31.6228" \
    --set basins.ensemble.random.samples=65536 --set basins.chunk=65536 --set continuation.range.num=2 ) \
  2>&1 | tail -4 | tee "$OUT/cont-65536.txt"
