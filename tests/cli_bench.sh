# slm bench from the command line: a short real run in each output format, and one clear line on
# stderr with a non-zero exit for every kind of bad option. Speeds are never checked here.
. tests/cli_lib.sh
M=../shared/models/stories260K

expect_ok "bench stories260K" $SLM bench -m $M -p 16 -n 8 -d 0,8 -r 2 -t 1,2 --bandwidth 10
if grep -q "| stories260K |" "$TMP/out" && grep -q "tg8 @ d8" "$TMP/out" && grep -q "pp16" "$TMP/out"; then ok "bench table"
else bad "bench table" "$(cat "$TMP/out")"; fi
expect_ok "bench json" $SLM bench -m $M -p 8 -n 4 -r 1 -o json --bandwidth 10
if grep -q '"roofline_pct"' "$TMP/out" && grep -q '"gflops"' "$TMP/out" && [ "$(grep -c '"samples_tps"' "$TMP/out")" -eq 2 ]; then ok "json fields"
else bad "json fields" "$(head -c 300 "$TMP/out")"; fi
# each result names the build and the CPU, as `slm --version` does
commit=$($SLM --version | sed -n 's/^slm \([^,]*\), built with .*/\1/p')
if [ -n "$commit" ] && grep -q "\"build_commit\":[[:space:]]*\"$commit\"" "$TMP/out" && grep -q '"hardware":[[:space:]]*"[^"]' "$TMP/out"; then
    ok "json build and hardware"
else bad "json build and hardware" "commit '$commit'; $(grep -E 'build_commit|hardware' "$TMP/out" | head -2)"; fi
expect_ok "bench csv" $SLM bench -m $M -p 0 -n 4 -r 1 -o csv --bandwidth 10 --kv-type f32,f16
if [ "$(grep -c '^stories260K,' "$TMP/out")" -eq 2 ]; then ok "csv rows"; else bad "csv rows" "$(cat "$TMP/out")"; fi
expect_ok "bench pp+tg" $SLM bench -m $M -p 0 -n 0 -pg 16,8 -pg 4,2 -d 0,8 -r 2 --bandwidth 10
if grep -q "| pp16+tg8 |" "$TMP/out" && grep -q "| pp4+tg2 @ d8 |" "$TMP/out" && [ "$(grep -c '^| stories260K' "$TMP/out")" -eq 4 ]; then ok "pp+tg rows"
else bad "pp+tg rows" "$(cat "$TMP/out")"; fi
expect_ok "bench jsonl" $SLM bench -m $M -p 8 -n 4 -r 1 -o jsonl --bandwidth 10
if [ "$(grep -c '^{"model":"stories260K",.*}$' "$TMP/out")" -eq 2 ] && [ "$(wc -l <"$TMP/out")" -eq 2 ]; then ok "jsonl lines"
else bad "jsonl lines" "$(cat "$TMP/out")"; fi
expect_ok "bench svg" $SLM bench -m $M -p 0 -n 4 -d 0,16,32 -r 1 --bandwidth 10 --svg "$TMP/d.svg"
if grep -q "</svg>" "$TMP/d.svg"; then ok "svg written"; else bad "svg written" "no svg"; fi
expect_ok "bench compare" $SLM bench -m $M -p 0 -n 4 -r 1 --bandwidth 10 --compare
if grep -q "Published figures" "$TMP/out"; then ok "compare table"; else bad "compare table" "$(tail -5 "$TMP/out")"; fi
expect_ok "preset list" $SLM bench --preset list
if grep -q "llama-3.2-1b" "$TMP/out" && grep -q "1.236B" "$TMP/out" && grep -q "note: gemma-2-2b" "$TMP/out"; then ok "preset list content"
else bad "preset list content" "$(head -5 "$TMP/out")"; fi
expect_ok "preset run" $SLM bench --preset smollm2-135m --type q4_0 -p 8 -n 2 -r 1 --bandwidth 10
expect_ok "membw" $SLM bench --membw -t 1 --membw-mib 16
if grep -q "median pass GB/s" "$TMP/out" && grep -Eq "^\| 1 \| [0-9.]+ \| [0-9.]+ \|$" "$TMP/out"; then ok "membw table"; else bad "membw table" "$(cat "$TMP/out")"; fi
# without --bandwidth the probe reads before each model, with that model's thread count
expect_ok "bench probed" $SLM bench -m $M -p 0 -n 4 -r 1 -t 1,2 --membw-mib 16 -o csv
if [ "$(awk -F, 'NR > 1 && $16 > 0' "$TMP/out" | wc -l)" -eq 2 ]; then ok "a reading per model"; else bad "a reading per model" "$(cat "$TMP/out")"; fi
expect_ok "bench probed md" $SLM bench -m $M -p 0 -n 4 -r 1 --membw-mib 16
if grep -q "read by the probe just before each model" "$TMP/out"; then ok "probe named in the header"; else bad "probe named in the header" "$(head -2 "$TMP/out")"; fi
expect_ok "help" $SLM bench --help
expect_ok "tokenizer speed" $SLM bench --tokenizer $M
if grep -q "encode" "$TMP/out" && grep -q "roundtrip" "$TMP/out"; then ok "tokenizer figures"; else bad "tokenizer figures" "$(cat "$TMP/out")"; fi

# bad input
expect_fail "no model" "give -m DIR or --preset" $SLM bench
expect_fail "both model and preset" "not both" $SLM bench -m $M --preset llama-3.2-1b
expect_fail "unknown preset" "unknown preset 'llama-9b'" $SLM bench --preset llama-9b
expect_fail "bad type" "'q3_k' is not one of" $SLM bench --preset llama-3.2-1b --type q3_k
expect_fail "float type for a folder" "as stored or converted" $SLM bench -m $M --type f16
expect_fail "nothing to run" "every -p and -n value is 0, and no -pg" $SLM bench -m $M -p 0 -n 0
expect_fail "pp+tg with one number" "option -pg: give two numbers, PP,TG" $SLM bench -m $M -pg 16
expect_fail "pp+tg with three numbers" "option -pg: give two numbers, PP,TG" $SLM bench -m $M -pg 16,8,4
expect_fail "pp+tg with a zero" "option -pg: 0 is out of range" $SLM bench -m $M -pg 16,0
expect_fail "pp+tg too long" "positions" $SLM bench -m $M -p 0 -n 0 -pg 400,200 -r 1 --bandwidth 10
expect_fail "bad thread list" "option -t: '1,,2' is not a comma-separated list" $SLM bench -m $M -t 1,,2
expect_fail "zero threads" "option -t: 0 is out of range" $SLM bench -m $M -t 0
expect_fail "negative depth" "option -d: -5 is out of range" $SLM bench -m $M -d -5
expect_fail "trailing comma" "ends with a comma" $SLM bench -m $M -p 512,
expect_fail "bad repetitions" "option -r: 'x' is not an integer" $SLM bench -m $M -r x
expect_fail "bad output" "'xml' is not md, json, jsonl or csv" $SLM bench -m $M -o xml
expect_fail "bad kv type" "'q8' is not f32 or f16" $SLM bench -m $M --kv-type q8
expect_fail "bad bandwidth" "option --bandwidth" $SLM bench -m $M --bandwidth -3
expect_fail "missing value" "option -p needs a value" $SLM bench -m $M -p
expect_fail "unknown option" "unknown option '--frob'" $SLM bench --frob
expect_fail "missing folder" "/nonexistent" $SLM bench -m /nonexistent -p 8 -n 0 -r 1 --bandwidth 10
expect_fail "context too long" "positions\|context\|ctx" $SLM bench -m $M -p 0 -n 8 -d 600 -r 1 --bandwidth 10
expect_fail "missing published file" "no/such.json" $SLM bench -m $M -p 0 -n 2 -r 1 --bandwidth 10 --compare --published no/such.json
expect_fail "bad svg path" "--svg" $SLM bench -m $M -p 0 -n 2 -r 1 --bandwidth 10 --svg /nonexistent-dir/x.svg
expect_fail "text without tokenizer" "-f TEXT goes with --tokenizer" $SLM bench -f /etc/hostname
expect_fail "tokenizer with a model" "runs alone" $SLM bench --tokenizer $M -m $M
expect_fail "tokenizer folder missing" "/nonexistent" $SLM bench --tokenizer /nonexistent
expect_fail "bad device" "'gpu' is not one of cpu, cuda" $SLM bench -m $M --device gpu
# Without a usable GPU, --device cuda stops before building anything; with one it runs on it.
if $SLM bench -m $M --device cuda -p 4 -n 2 -r 1 --bandwidth 10 >"$TMP/out" 2>"$TMP/err"; then
    if grep -q "CUDA kernels on" "$TMP/out" && grep -q "| GPU |" "$TMP/out"; then ok "bench on the GPU"; else bad "bench on the GPU" "$(cat "$TMP/out")"; fi
elif grep -q "^slm: bench: --device cuda: " "$TMP/err" && [ "$(wc -l <"$TMP/err")" -eq 1 ]; then
    ok "no GPU: one clear line"
else
    bad "no GPU: one clear line" "$(cat "$TMP/err")"
fi
expect_fail "preset too big for memory" "GB of memory" $SLM bench --preset llama-3.1-8b --type f32 --bandwidth 10
# the KV cache counts too: 4.5 GB of Q4_0 weights and 31.5 GB of cache for a depth of 120000 (on a machine
# with that much memory free the run would take hours, so it is left out there)
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if [ "${avail_kb:-0}" -gt 0 ] && [ "$avail_kb" -lt 36000000 ]; then
    expect_fail "KV cache too big for memory" "GB of it the KV cache" $SLM bench --preset llama-3.1-8b --type q4_0 -p 0 -n 1 -d 120000 -r 1 --bandwidth 10
else
    echo "skip KV cache too big for memory: ${avail_kb:-unknown} kB available"
fi
finish
