#!/usr/bin/env bash
# A short tour of Kiln: the zoo, tracing to IR text, reading it back, running it.
set -euo pipefail
kiln="$(swift build -c release --product kiln --show-bin-path)/kiln"
mkdir -p out
echo "== kiln models --flops"
"$kiln" models --flops
echo
echo "== kiln trace convnext-block -o out/convnext-block.kir --params-out out/convnext-block.safetensors"
"$kiln" trace convnext-block -o out/convnext-block.kir --params-out out/convnext-block.safetensors
echo
echo "== kiln dump out/convnext-block.kir (first lines)"
"$kiln" dump out/convnext-block.kir | head -n 12
echo
echo "== kiln run convnext-block (compiled; zoo model, seeded parameters and input)"
"$kiln" run convnext-block
echo
echo "== kiln run convnext-block --unfused (one kernel per op, OpenBLAS GEMMs) and --interpret"
"$kiln" run convnext-block --unfused
"$kiln" run convnext-block --interpret
echo
echo "== kiln dump mobilenetv2-block --after fuse-residual-blocks (the pass's decision, first lines)"
"$kiln" dump mobilenetv2-block --after fuse-residual-blocks | sed -n '1,4p' | cut -c1-400
echo
echo "== the fused block is one kernel (Kernel IR, first lines)"
"$kiln" dump mobilenetv2-block --after fuse-residual-blocks --emit kernels | awk '/kernel @/ && !n { print; n = 1 }'
echo
echo "== kiln bench mobilenetv2-block --quick (fused vs unfused, in-run sgemm rate and bandwidth)"
"$kiln" bench mobilenetv2-block --quick --batch 8 --direction forward
echo
echo "== kiln run mobilenetv2-block --grad --profile (training graph: fused forward, 2 fused backward kernels; per-kernel times, first lines)"
"$kiln" run mobilenetv2-block --grad --profile --repeat 3 | sed -n "1,14p"

echo "== kiln dump ffn-block --emit kernels (Kernel IR, first lines)"
"$kiln" dump ffn-block --emit kernels | head -n 16
echo
echo "== kiln run out/convnext-block.kir --params out/convnext-block.safetensors (same numbers from the text)"
"$kiln" run out/convnext-block.kir --params out/convnext-block.safetensors
echo
echo "== kiln run gla-block --shape 1x256x512 (gated linear attention)"
"$kiln" run gla-block --shape 1x256x512
echo
echo "== kiln train convnet-synthetic --steps 40 (compiled gradients and AdamW)"
"$kiln" train convnet-synthetic --steps 40
echo
echo "== kiln-gemm-bench --quick (Kiln's JIT-compiled GEMM micro-kernel vs OpenBLAS, one thread)"
"$(swift build -c release --show-bin-path)/kiln-gemm-bench" --quick
