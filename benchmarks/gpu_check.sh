#!/usr/bin/env bash
# Device check (issue 16, item 6): on a machine with a CUDA GPU, evaluation and training speed
# of XLM-R-sized random models (12 layers x 768 and 24 x 1024, 250k vocabulary) in bf16:
# tokens/s, MFU against the datasheet peak (profiling.PEAK_TFLOPS) and peak memory.  About
# 3-5 minutes (the toy data is generated once first, ~30 s).  Skips cleanly without a GPU.
#   bash benchmarks/gpu_check.sh            (from the repository root, .venv active or not)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check: no CUDA GPU visible: skipped"
  exit 0
fi
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'gpu_check: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')"
for size in base large; do
  echo "== train, $size, bf16"
  timeout 120 "$PY" benchmarks/bench_train.py --size "$size" --device cuda --dtype bfloat16 \
    --rounds 3 --steps 30 --batch-size 64 | grep -v '^  (setting up'
  echo "== eval, $size, bf16"
  timeout 90 "$PY" benchmarks/bench_eval.py --size "$size" --device cuda --dtype bfloat16 \
    --rounds 3 | grep -v '^  (setting up'
done
