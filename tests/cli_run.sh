# slm run / info / chat from the command line: real output, and one clear line on stderr with a
# non-zero exit for every kind of bad input.
. tests/cli_lib.sh
M=../shared/models/stories260K
F=tests/fixtures/llama/gqa2

# the real model continues the story exactly as transformers does (greedy)
expect_ok "run greedy stories260K" $SLM run -m $M -p "Once upon a time" -n 60 --temp 0
if grep -q "^, there was a little girl named Lily. She loved to play outside in the park." "$TMP/out"; then ok "greedy text"; else bad "greedy text" "$(head -c 80 "$TMP/out")"; fi
if grep -q "tok/s" "$TMP/err"; then ok "speed on stderr"; else bad "speed on stderr" "$(cat "$TMP/err")"; fi
# every instruction set gives the same greedy text (scalar reference, AVX2, the widest)
for isa in scalar avx2; do
    SLM_ISA=$isa $SLM run -m $M -p "Once upon a time" -n 60 --temp 0 >"$TMP/isa" 2>/dev/null
    if cmp -s "$TMP/out" "$TMP/isa"; then ok "greedy text with SLM_ISA=$isa"; else bad "greedy text with SLM_ISA=$isa" "$(head -c 80 "$TMP/isa")"; fi
done
expect_ok "run with tokens" $SLM run -m $M --tokens "1 403 407 261 378" -n 5 --temp 0
# same seed, same options, same text
$SLM run -m $M -p "Once upon a time" -n 40 --seed 7 --temp 0.9 >"$TMP/a" 2>/dev/null
$SLM run -m $M -p "Once upon a time" -n 40 --seed 7 --temp 0.9 >"$TMP/b" 2>/dev/null
if cmp -s "$TMP/a" "$TMP/b" && [ -s "$TMP/a" ]; then ok "seeded sampling repeats"; else bad "seeded sampling repeats" "outputs differ"; fi
$SLM run -m $M -p "Once upon a time" -n 40 --seed 8 --temp 0.9 >"$TMP/c" 2>/dev/null
if ! cmp -s "$TMP/a" "$TMP/c"; then ok "another seed differs"; else bad "another seed differs" "same text"; fi
# --logits: header + every evaluated position (5 prompt + 3 decoded)
expect_ok "logits file" $SLM run -m $M --tokens "1 403 407 261 378" -n 4 --temp 0 --logits "$TMP/l.bin"
size=$(wc -c <"$TMP/l.bin")
if [ "$size" -eq $((24 + 8 * 512 * 4)) ]; then ok "logits file size"; else bad "logits file size" "$size bytes"; fi
expect_ok "info" $SLM info -m $M
if grep -q "grouped-query" "$TMP/out" && grep -q "260032" "$TMP/out"; then ok "info content"; else bad "info content" "$(cat "$TMP/out")"; fi
# packed weights count as the weights they hold: a bitsandbytes checkpoint, and slm's own Q4_0 blocks
expect_ok "info bitsandbytes" $SLM info -m tests/fixtures/bnb/nf4_wide
if grep -q "^parameters    262464 " "$TMP/out" && grep -q "nf4 *245760 parameters" "$TMP/out"; then ok "info bitsandbytes parameters"; else bad "info bitsandbytes parameters" "$(cat "$TMP/out")"; fi
expect_ok "quantize q4_0" $SLM quantize -m $M -o "$TMP/q4" --type q4_0
expect_ok "info q4_0" $SLM info -m "$TMP/q4"
if grep -q "^parameters    260032 " "$TMP/out" && grep -q "q4_0 *204288 parameters" "$TMP/out"; then ok "info q4_0 parameters"; else bad "info q4_0 parameters" "$(cat "$TMP/out")"; fi
expect_ok "help" $SLM --help
expect_ok "run help" $SLM run --help
expect_ok "version" $SLM --version
if grep -Eq "^slm [^ ,]+, built with (gcc|clang) " "$TMP/out" && grep -Eq "^CPU kernels: (avx512|avx2|scalar) on .+; CUDA backend: (built in|not built)$" "$TMP/out"
then ok "version lines"; else bad "version lines" "$(cat "$TMP/out")"; fi

# bad input
expect_fail "no command" "no command given" $SLM
expect_fail "unknown command" "unknown command 'frobnicate'" $SLM frobnicate
expect_fail "missing folder" "/nonexistent: model folder not found" $SLM run -m /nonexistent -p hi
expect_fail "no model option" "-m DIR is required" $SLM run -p hi
expect_fail "no prompt" "give a prompt" $SLM run -m $M
expect_fail "bad -n" "option -n: 'x' is not an integer" $SLM run -m $M -p hi -n x
expect_fail "negative -n" "option -n: -3 is out of range" $SLM run -m $M -p hi -n -3
expect_fail "bad temp" "option --temp: 'hot' is not a number" $SLM run -m $M -p hi --temp hot
expect_fail "bad top-p" "option --top-p: 2 is out of range" $SLM run -m $M -p hi --top-p 2
expect_fail "bad seed" "option --seed" $SLM run -m $M -p hi --seed -1
expect_fail "bad threads" "option -t: 0 is out of range" $SLM run -m $M -p hi -t 0
expect_fail "missing value" "option --ctx needs a value" $SLM run -m $M -p hi --ctx
expect_fail "unknown option" "unknown option '--frob'" $SLM run -m $M -p hi --frob
expect_fail "bad quant" "option --quant: 'q3' is not one of" $SLM run -m $M -p hi --quant q3
expect_fail "bad device" "option --device: 'tpu'" $SLM run -m $M -p hi --device tpu
expect_fail "bad tokens" "option --tokens" $SLM run -m $M --tokens "1 two"
expect_fail "token outside vocab" "token id 9999 is outside the vocabulary" $SLM run -m $M --tokens "1 9999"
expect_fail "prompt longer than ctx" "more than --ctx 4" $SLM run -m $M -p "Once upon a time there was a dog" --ctx 4
expect_fail "chat template unknown" "unknown format 'nope'" $SLM chat -m $M --chat-template nope

# broken folders
mkdir -p "$TMP/m"
cp $F/config.json $F/model.safetensors "$TMP/m/"
head -c 3000 $F/model.safetensors >"$TMP/m/model.safetensors"
expect_fail "truncated safetensors" "model.safetensors" $SLM run -m "$TMP/m" --tokens "1 2"
cp $F/model.safetensors "$TMP/m/"
printf '{"model_type": "llama", "hidden_size": 64,' >"$TMP/m/config.json"
expect_fail "invalid config.json" "config.json: not valid JSON" $SLM run -m "$TMP/m" --tokens "1 2"
printf '{"model_type": "llama", "num_hidden_layers": -2}' >"$TMP/m/config.json"
expect_fail "bad config field" "field 'num_hidden_layers'" $SLM info -m "$TMP/m"
# weights stored quantized are not quantized again: the error names the tensor
expect_fail "--quant on a 4-bit checkpoint" "model.layers.0.self_attn.q_proj.weight: stored as nf4" \
    $SLM run -m tests/fixtures/bnb/nf4 --quant q8_0 --tokens "1 5 9" -n 2
cp $F/config.json "$TMP/m/"
LC_ALL=C sed 's/model.norm.weight/model.norm.weigh_/' $F/model.safetensors >"$TMP/m/model.safetensors"
expect_fail "missing tensor" "tensor 'model.norm.weight' is missing" $SLM run -m "$TMP/m" --tokens "1 2"
LC_ALL=C sed 's/"F32"/"I32"/' $F/model.safetensors >"$TMP/m/model.safetensors"
expect_fail "wrong dtype" "dtype I32 is not supported" $SLM run -m "$TMP/m" --tokens "1 2"
rm "$TMP/m/model.safetensors"
expect_fail "no weights" "no model.safetensors" $SLM run -m "$TMP/m" --tokens "1 2"
finish
