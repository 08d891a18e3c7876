#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (and this project installed with its test extras): the README's GPU figures and
# the parity tests on the GPU, in about 10 minutes. Prints everything; exits non-zero if a step fails.
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
python - <<'PY' || exit 2
import torch
assert torch.cuda.is_available(), "no CUDA device: this script is for a GPU machine"
print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
try:
    import onnxruntime
    print("onnxruntime", onnxruntime.__version__, "providers:", onnxruntime.get_available_providers())
except ImportError:
    print("onnxruntime: not installed")
PY
# Full and opt variants, fp32 then bf16/fp16 autocast (printed per size with their deviation from fp32);
# our model against the original on the same GPU (parity in the "max keypoint diff to original" column).
for variant in full opt; do
  echo "== bench_matcher --device cuda --variant $variant"
  timeout 240 python benchmarks/bench_matcher.py --device cuda --variant "$variant" --sizes 640x480 1024x768 \
    --runs 5 || status=1
done
echo "== parity tests on the GPU (both implementations on cuda, fp32, TF32 off)"
MATCH_INSPECTOR_TEST_DEVICE=cuda timeout 180 python -m pytest tests/core/test_model_parity.py -q -p no:randomly \
  -k "same_matches or blank" || status=1
exit $status
