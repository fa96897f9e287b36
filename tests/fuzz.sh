#!/bin/sh
# Runs the libFuzzer harnesses built by `make fuzz` (in $1, default build/fuzz), each from a seed corpus
# made of the repository's fixtures and ../shared's real files. By default each runs FUZZ_RUNS inputs
# from a fixed random seed, so that a run is the same every time; with FUZZ_SECONDS set each runs that
# long instead, from a random seed, and keeps what it finds in $1/corpus/NAME for the next run.
# A harness passes when it ends without a crash, leak, sanitizer report or hang; its output is in
# $1/fuzz_NAME.log and a failing input in $1/crashes/NAME/. Ends with "N passed, N failed".
DIR=${1:-build/fuzz}
SLM=${SLM:-./slm}
RUNS=${FUZZ_RUNS:-20000}
passed=0
failed=0

# header MODE DIR: the mode byte, then the JSON header of DIR/model.safetensors (after its 8-byte length)
header() {
    n=$(od -An -tu8 -N8 "$2/model.safetensors" | tr -d ' ')
    printf "\\$(printf %03o "$1")"
    tail -c +9 "$2/model.safetensors" | head -c "$n"
}

# seeds NAME: the folder of seed inputs for harness NAME, filled from the fixtures
seeds() {
    s="$DIR/seeds/$1"
    mkdir -p "$s"
    case "$1" in
        model_files)
            # mode 1: a config.json; 2: a generation_config.json; 3-6: the safetensors headers of the
            # harness's four folders; 7: a sharded model's index
            (printf '\001'; cat tests/fixtures/llama/gqa2/config.json) > "$s/config"
            (printf '\002'; cat ../shared/models/stories260K/generation_config.json) > "$s/generation_config"
            header 3 tests/fixtures/llama/gqa2 > "$s/header_f32"
            header 4 tests/fixtures/bnb/nf4_dq > "$s/header_bnb"
            (printf '\007'; cat tests/fixtures/llama/sharded/model.safetensors.index.json) > "$s/index"
            mkdir -p "$DIR/quantized"
            for t in q4_0:5 nf4:6; do
                q="$DIR/quantized/${t%:*}"
                rm -rf "$q"
                $SLM quantize -m tests/fixtures/llama/gqa2 -o "$q" --type "${t%:*}" > /dev/null &&
                    header "${t#*:}" "$q" > "$s/header_${t%:*}"
            done
            ;;
        router)
            # mode 0: the config of router/README.md; 1: a batch of requests; 2: a log as calibration
            # data; 3: an escalation command line; 4: a log for --stats
            (printf '\000'; awk '/^```json/ {on = 1; next} /^```/ {if (on) exit} on' router/README.md) > "$s/config"
            (printf '\001'; cat tests/router/e2e_prompts.jsonl) > "$s/batch"
            (printf '\002'; cat tests/router/sample.log) > "$s/calibration"
            printf '\003sh tests/router/answer.sh --model "big one" -t 0.5' > "$s/command"
            (printf '\004'; cat tests/router/sample.log) > "$s/stats"
            ;;
        chat_template)
            for t in ../shared/chat-templates/*.jinja; do
                [ -f "$t" ] && cp "$t" "$s/"
            done
            ;;
        tokenizer)
            # mode 0: text to encode; 2: a tokenizer.json; 3-5: tokenizer_config.json,
            # special_tokens_map.json and generation_config.json
            printf '\000Once upon a time, there was a little girl.' > "$s/text"
            (printf '\002'; cat tests/fixtures/tokenizer/synth_split/tokenizer.json) > "$s/synth_split"
            m=../shared/models/stories260K
            (printf '\003'; cat $m/tokenizer_config.json) > "$s/tokenizer_config"
            (printf '\003'; cat ../shared/tokenizers/llama3/tokenizer_config.json) > "$s/tokenizer_config_llama3"
            (printf '\004'; cat $m/special_tokens_map.json) > "$s/special_tokens_map"
            (printf '\005'; cat $m/generation_config.json) > "$s/generation_config"
            ;;
        published)
            cp bench/published.json "$s/"
            ;;
    esac
    echo "$s"
}

for bin in "$DIR"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    corpus="$DIR/corpus/$name"
    crashes="$DIR/crashes/$name"
    mkdir -p "$corpus" "$crashes"
    if [ -n "${FUZZ_SECONDS:-}" ]; then
        how="-max_total_time=$FUZZ_SECONDS"
        work="$corpus"
    else
        # a fresh corpus each time, so that the same inputs run every time
        how="-runs=$RUNS -seed=1"
        work=$(mktemp -d)
    fi
    echo "== fuzz_$name $how"
    log="$DIR/fuzz_$name.log"
    if "$bin" $how -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$crashes/" "$work" "$(seeds "$name")" > "$log" 2>&1; then
        echo "ok   fuzz_$name: $(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz_$name: the input is in $crashes/; the end of its log:"
        tail -n 30 "$log"
        failed=$((failed + 1))
    fi
    [ -n "${FUZZ_SECONDS:-}" ] || rm -rf "$work"
done
if [ $((passed + failed)) -eq 0 ]; then
    echo "FAIL no harness in $DIR"
    failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
