#!/usr/bin/env bash
# bulk-embed GPU kit: benchmarks the library on WebGPU (Dawn on the NVIDIA Vulkan driver) and
# sentence-transformers on CUDA, on a bare Linux x86-64 machine with no network and no Node.
# Usage: bash run.sh [--small] [--icd FILE] [--out DIR] [--seconds N] [--st-seconds N] [--models A,B]
#   --small        a small corpus and fixture-minilm only (proves the kit end to end in minutes)
#   --icd FILE     the Vulkan driver's ICD json (default: the NVIDIA one, wherever it is found)
#   --out DIR      where the results go (default: results/ beside this script)
#   --seconds N    time for the engine rows (default 210); --st-seconds N for the Python peer (default 80)
# Environment: GPU_KIT_ST=0 skips the Python peer, GPU_KIT_PIPELINE=0 the loop's ceiling, GPU_KIT_FAMILIES=0 the model
# families against CPU fp32; GPU_BENCH_* pass to bench/gpu.ts, GPU_FAMILIES_* to bench/gpu-families.ts.
set -uo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SMALL=0
ICD="${VK_ICD_FILENAMES:-}"
OUT="$KIT/results"
ENGINE_SECONDS=210
ST_SECONDS=80
MODELS=fixture-minilm,fixture-bert-base
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL=1 ;;
    --icd) ICD="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --seconds) ENGINE_SECONDS="$2"; shift ;;
    --st-seconds) ST_SECONDS="$2"; shift ;;
    --models) MODELS="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
WORK="${GPU_KIT_WORK:-/tmp/bulk-embed-gpu-kit}"
mkdir -p "$WORK" "$OUT"
OUT="$(cd "$OUT" && pwd)"

# xz where the command exists, else python3's lzma module.
unxz_to() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" > "$2.part"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.part"; fi && mv "$2.part" "$2"
}
[ -x "$WORK/node" ] || { unxz_to "$KIT/node.xz" "$WORK/node" && chmod +x "$WORK/node"; } || { echo "run.sh: could not unpack node" >&2; exit 1; }
rm -rf "$WORK/app" && cp -r "$KIT/app" "$WORK/app"
unxz_to "$KIT/libonnxruntime.so.1.xz" "$WORK/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1" || { echo "run.sh: could not unpack onnxruntime" >&2; exit 1; }
NODE="$WORK/node"

# Vulkan: the kit's loader, the driver named or found.
if [ -z "$ICD" ]; then
  for c in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$c" ] && { ICD="$c"; break; }
  done
fi
[ -n "$ICD" ] && export VK_ICD_FILENAMES="$ICD" VK_DRIVER_FILES="$ICD"
# NVIDIA's EGL vendor file, for glvnd's libEGL where the driver is mounted outside the usual paths.
for e in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /usr/share/glvnd/egl_vendor.d/10_nvidia.json; do
  [ -f "$e" ] && { export __EGL_VENDOR_LIBRARY_FILENAMES="$e"; break; }
done
export LD_LIBRARY_PATH="$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/usr/local/nvidia/lib64"

{
  echo "kit: $(cat "$KIT/kit.json" 2>/dev/null | tr -d '\n ')"
  echo "uname: $(uname -a)"
  echo "node: $("$NODE" --version 2>&1)"
  echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"; [ -n "$ICD" ] && cat "$ICD"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  command -v nproc >/dev/null && echo "cores: $(nproc)"
  python3 -c 'import torch,sentence_transformers as s; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "sentence-transformers", s.__version__)' 2>&1 | tail -1
} > "$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"

if [ "$SMALL" = 1 ]; then
  MODELS=fixture-minilm
  export GPU_BENCH_TEXTS=${GPU_BENCH_TEXTS:-200} GPU_BENCH_WARMUP=${GPU_BENCH_WARMUP:-16} GPU_BENCH_RUN_SECONDS=${GPU_BENCH_RUN_SECONDS:-1}
  export GPU_BENCH_BUDGETS=${GPU_BENCH_BUDGETS:-8192} GPU_BENCH_DTYPES=${GPU_BENCH_DTYPES:-fp16,fp32} GPU_BENCH_RUNS=${GPU_BENCH_RUNS:-1} GPU_BENCH_CHECK_TEXTS=${GPU_BENCH_CHECK_TEXTS:-8}
fi

# Models are generated here, not carried (fixture-bert-base alone is 650 MB).
PIPELINE_MODELS=fixture-minilm,fixture-xlmr
FAMILY_MODELS=
if [ "${GPU_KIT_FAMILIES:-1}" = 1 ]; then
  FAMILY_MODELS=${GPU_FAMILIES_MODELS:-fixture-minilm,fixture-xlmr,fixture-modernbert,fixture-gemma-encoder,fixture-decoder,fixture-st-cls,fixture-fp16-overflow-long,fixture-fp16-overflow-word}
  [ "$SMALL" = 1 ] && FAMILY_MODELS=${GPU_FAMILIES_MODELS:-fixture-tiny}
fi
"$NODE" "$WORK/app/generate.mjs" "$WORK/models" ${MODELS//,/ } ${PIPELINE_MODELS//,/ } ${FAMILY_MODELS//,/ } || { echo "run.sh: model generation failed" >&2; exit 1; }

GPU_BENCH_MODELS_DIR="$WORK/models" GPU_BENCH_OUT="$OUT" GPU_BENCH_MODELS="$MODELS" GPU_BENCH_SECONDS="$ENGINE_SECONDS" \
  GPU_BENCH_CORPORA="$WORK/corpora.json" "$NODE" "$WORK/app/bench-gpu.mjs" 2>&1 | grep -v 'VerifyEachNodeIsAssignedToAnEp' | tee "$OUT/bench.log"

# Each model family on this GPU, fp16 and fp32, against CPU fp32: the real driver's kernels give the same vectors.
# (A previous run's table in the same folder is removed first: it must not pass for this run's.)
STATUS=0
rm -f "$OUT/families.md" "$OUT/families.json"
if [ -n "$FAMILY_MODELS" ]; then
  GPU_FAMILIES_MODELS_DIR="$WORK/models" GPU_FAMILIES_OUT="$OUT" GPU_FAMILIES_MODELS="$FAMILY_MODELS" \
    GPU_FAMILIES_TEXTS="${GPU_FAMILIES_TEXTS:-$([ "$SMALL" = 1 ] && echo 12 || echo 512)}" \
    "$NODE" "$WORK/app/families.mjs" > "$OUT/families.log" 2>&1 || { STATUS=1; echo "run.sh: the families step failed (families.log)" >&2; }
  grep -v 'VerifyEachNodeIsAssignedToAnEp' "$OUT/families.log" | tee -a "$OUT/bench.log"
fi

# The loop's own ceiling on this machine's cores (inference made free): tokens/s by tokenizer threads.
if [ "${GPU_KIT_PIPELINE:-1}" = 1 ]; then
  BENCH_MODELS_DIR="$WORK/models" BENCH_OUT="$OUT" BENCH_MODELS="$PIPELINE_MODELS" BENCH_RUNS="${BENCH_RUNS:-1}" \
    BENCH_TEXTS="${BENCH_TEXTS:-$([ "$SMALL" = 1 ] && echo 300 || echo 9000)}" BENCH_THREADS="${BENCH_THREADS:-0,1,2,4,8,$(( $(nproc) - 1 ))}" \
    "$NODE" "$WORK/app/pipeline.mjs" 2>&1 | tee -a "$OUT/bench.log"
fi

if [ "${GPU_KIT_ST:-1}" = 0 ]; then
  echo "sentence-transformers peer skipped: GPU_KIT_ST=0" | tee "$OUT/st.log"
elif python3 -c 'import torch, sentence_transformers; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  python3 "$WORK/app/gpu_st.py" --models-dir "$WORK/models" --models "$MODELS" --corpora "$WORK/corpora.json" --out "$OUT/st.json" \
    --work "$WORK/st-models" --seconds "$ST_SECONDS" $([ "$SMALL" = 1 ] && echo --run-seconds 1 --runs 1) 2>&1 | grep -v Warning | tee "$OUT/st.log"
else
  echo "sentence-transformers peer skipped: python3 with torch, CUDA and sentence-transformers is not here" | tee "$OUT/st.log"
fi
"$NODE" "$WORK/app/report.mjs" "$OUT" > /dev/null && cat "$OUT/report.md" || STATUS=1
if [ -f "$OUT/families.md" ]; then cat "$OUT/families.md"; fi
exit $STATUS
