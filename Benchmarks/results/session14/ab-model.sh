#!/bin/bash
# ab.sh ROUNDS "args A" "args B" ... : alternates configs, prints min and median GF/s per config
R=$1; shift
declare -A res
for r in $(seq $R); do i=0; for a in "$@"; do v=$(./ffn-model $a | grep -o "[0-9.]* GF/s" | cut -d' ' -f1); res[$i]="${res[$i]} $v"; i=$((i+1)); done; done
i=0; for a in "$@"; do echo "$a: $(echo ${res[$i]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END{printf "max %.1f median %.1f", a[NR], a[int((NR+1)/2)]}')"; i=$((i+1)); done
