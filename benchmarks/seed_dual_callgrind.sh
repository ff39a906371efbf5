#!/usr/bin/env bash
# seed-dual by instruction count (valgrind's callgrind): unlike wall time on a shared VM, the
# count is the same run after run.  Prints the instructions of EPOCHS full-batch DualLayer
# epochs for seed 001's own NumPy class and for xpnet (float64, float32), after subtracting a
# run that only imports and loads the data, and the ratios to the seed's code.
set -euo pipefail
cd "$(dirname "$0")"
EPOCHS=${1:-1000}
PY=$(python -c 'import sys; print(sys.executable)')
declare -A count
for which in none seed float64 float32; do
    count[$which]=$(OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$PY" seed_dual_workload.py "$which" "$EPOCHS" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
done
python - "$EPOCHS" "${count[none]}" "${count[seed]}" "${count[float64]}" "${count[float32]}" <<'PY'
import sys
epochs, none, seed, f64, f32 = (int(v) for v in sys.argv[1:])
rows = {"seed 001's DualLayer (float64)": seed - none, "xpnet DualLayer float64": f64 - none,
        "xpnet DualLayer float32": f32 - none}
print(f"instructions for {epochs} full-batch epochs (baseline {none:,} subtracted):")
for name, n in rows.items():
    print(f"  {name:32s} {n:>15,}  ratio to the seed's code {n / (seed - none):.2f}")
PY
