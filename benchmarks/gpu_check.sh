#!/usr/bin/env bash
# GPU check: on one GPU, a random-init model of Qwen2.5-0.5B's shape, then
#   1. a rollout with the hf backend, 2. the same with the vllm backend (when vLLM is installed),
#   3. a few GRPO steps (and with vLLM installed, a few more with the grpo options use_vllm=true, vllm_mode=colocate),
# printing generated tokens per second for each. Every part has its own time limit; the
# whole stays under 8 minutes (limits 90+30+100+120+90 s, the last part only if it still fits
# in 360+100 s). Nothing downloads. Usage:
#   bash benchmarks/gpu_check.sh [WORKDIR]
# Dry run of the same steps on a CPU (tiny model, to check the script, not the figures):
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_SIZE=tiny bash benchmarks/gpu_check.sh
set -uo pipefail

WORK=${1:-$(mktemp -d -t toolfeedback-gpu-check.XXXX)}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
SIZE=${GPU_CHECK_SIZE:-0.5b}
TOKENS=${GPU_CHECK_TOKENS:-256}
mkdir -p "$WORK"
TF=(python -m toolfeedback.cli)
figure() {  # figure NAME JSON_FILE: print the tokens/s of a rollout summary
    python - "$1" "$2" <<'EOF'
import json, sys
name, path = sys.argv[1:]
s = json.loads(open(path).read())
print(f"{name}: {s['tokens']} tokens in {s['seconds']:.1f} s = {s['tokens_per_s']:.0f} tokens/s "
      f"({s['episodes']} episodes)")
EOF
}
train_figure() {  # train_figure NAME OUT: completion tokens/s of a GRPO run from metrics.jsonl
    python - "$1" "$2" <<'EOF'
import json, sys
name, out = sys.argv[1:]
rows = [json.loads(l) for l in open(f"{out}/metrics.jsonl")]
steps = [r for r in rows if "completions/mean_length" in r]
end = next(r for r in rows if "train_runtime" in r)
batch = rows[-1]["ranks"][0]["generation_batch_size"]
completion = sum(r["completions/mean_length"] * batch for r in steps)
seconds = end["train_runtime"]
print(f"{name}: {len(steps)} steps in {seconds:.1f} s = {completion / seconds:.0f} completion "
      f"tokens/s, {steps[-1]['num_tokens'] / seconds:.0f} tokens/s with prompts "
      f"(generation batch {batch}, world size {rows[-1]['world_size']})")
EOF
}
START=$SECONDS
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
HAVE_VLLM=0
python -c "import vllm" 2>/dev/null && HAVE_VLLM=1
[ "$DEVICE" = cpu ] && HAVE_VLLM=0

echo "== model ($SIZE, random init) and environments"
timeout 90 "${TF[@]}" tiny-model "$WORK/model" --size "$SIZE" >/dev/null || exit 1
timeout 30 "${TF[@]}" build --n 64 --seed 0 --out "$WORK/envs.jsonl" --quiet || exit 1

echo "== rollout, hf backend"
timeout 100 "${TF[@]}" rollout --model "$WORK/model" --envs "$WORK/envs.jsonl" --out "$WORK/hf.jsonl" \
    --samples-out "$WORK/steps.jsonl" --backend hf --backend-option "device=$DEVICE" \
    --backend-option dtype=bfloat16 --batch-size 64 --max-turns 2 --max-new-tokens "$TOKENS" \
    --temperature 1.0 --no-resume > "$WORK/hf.json" && figure "hf rollout" "$WORK/hf.json"

if [ "$HAVE_VLLM" = 1 ]; then
    echo "== rollout, vllm backend"
    timeout 120 "${TF[@]}" rollout --model "$WORK/model" --envs "$WORK/envs.jsonl" --out "$WORK/vllm.jsonl" \
        --backend vllm --backend-option gpu_memory_utilization=0.5 --batch-size 64 --max-turns 2 \
        --max-new-tokens "$TOKENS" --temperature 1.0 --no-resume > "$WORK/vllm.json" \
        && figure "vllm rollout" "$WORK/vllm.json"
else
    echo "vllm rollout: skipped (vLLM not installed)"
fi

echo "== GRPO, 3 steps"
BF16=--bf16
[ "$DEVICE" = cpu ] && BF16=
timeout 90 "${TF[@]}" train --model "$WORK/model" --data "$WORK/steps.jsonl" --out "$WORK/grpo" \
    --max-steps 3 --num-generations 8 --batch-size 16 --max-new-tokens "$TOKENS" $BF16 --quiet \
    >/dev/null && train_figure "grpo (transformers generation)" "$WORK/grpo"
if [ "$HAVE_VLLM" = 1 ] && [ $((SECONDS - START)) -lt 360 ]; then
    timeout 100 "${TF[@]}" train --model "$WORK/model" --data "$WORK/steps.jsonl" --out "$WORK/grpo-vllm" \
        --max-steps 3 --num-generations 8 --batch-size 16 --max-new-tokens "$TOKENS" $BF16 --quiet \
        --algorithm-option use_vllm=true --algorithm-option vllm_mode=colocate \
        --algorithm-option vllm_gpu_memory_utilization=0.3 >/dev/null \
        && train_figure "grpo (vllm colocate)" "$WORK/grpo-vllm"
fi
echo "total: $((SECONDS - START)) s (work dir $WORK)"
