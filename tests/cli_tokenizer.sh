# slm tokenize / detokenize from the command line: ids as the tokenizers library gives them, text
# from stdin taken exactly, round trips, and one clear line on stderr for every kind of bad input.
. tests/cli_lib.sh
L3=../shared/tokenizers/llama3
L2=../shared/tokenizers/llama2
G2=../shared/tokenizers/gpt2

expect_ok "tokenize help" $SLM tokenize --help
expect_ok "detokenize help" $SLM detokenize --help

# a folder with tokenizer files only
expect_ok "tokenize gpt2" $SLM tokenize -m $G2 --ids "Hello world"
if [ "$(cat "$TMP/out")" = "15496 995" ]; then ok "gpt2 ids"; else bad "gpt2 ids" "$(cat "$TMP/out")"; fi

# id<TAB>piece lines, BOS from the post-processor, special tokens parsed
expect_ok "tokenize pieces" $SLM tokenize -m $L3 "Hi<|eot_id|>"
if [ "$(cut -f1 "$TMP/out" | tr '\n' ' ')" = "128000 13347 128009 " ] && grep -q "	<|eot_id|>$" "$TMP/out"; then
    ok "llama3 pieces"; else bad "llama3 pieces" "$(cat "$TMP/out")"; fi
expect_ok "tokenize --no-bos" $SLM tokenize -m $L3 --ids --no-bos "Hi<|eot_id|>"
if [ "$(cat "$TMP/out")" = "13347 128009" ]; then ok "no bos"; else bad "no bos" "$(cat "$TMP/out")"; fi
expect_ok "tokenize --no-special-parse" $SLM tokenize -m $L3 --ids --no-bos --no-special-parse "Hi<|eot_id|>"
if [ "$(cat "$TMP/out")" = "13347 27 91 68 354 851 91 29" ]; then ok "special as text"; else bad "special as text" "$(cat "$TMP/out")"; fi

# stdin is taken exactly: the trailing newline is part of the text
printf 'a\n' | $SLM tokenize -m $L2 --ids - >"$TMP/out" 2>"$TMP/err"
if [ "$(cat "$TMP/out")" = "1 263 13" ]; then ok "stdin exact"; else bad "stdin exact" "$(cat "$TMP/out" "$TMP/err")"; fi
# newlines in pieces are escaped, one token per line
printf 'a\n' | $SLM tokenize -m $L2 - >"$TMP/out" 2>"$TMP/err"
if [ "$(wc -l <"$TMP/out")" -eq 3 ] && grep -q "^13	<0x0A>$" "$TMP/out"; then ok "piece lines"; else bad "piece lines" "$(cat "$TMP/out")"; fi

# round trip through both commands, bytes exact
printf 'Round trip: caf\303\251, \360\237\230\200 and\ttabs\n  spaces ' >"$TMP/text"
for m in $L3 $L2 $G2; do
    ids=$($SLM tokenize -m $m --ids --no-bos - <"$TMP/text")
    $SLM detokenize -m $m "$ids" >"$TMP/back" 2>"$TMP/err"
    if cmp -s "$TMP/text" "$TMP/back"; then ok "round trip $(basename $m)"; else bad "round trip $(basename $m)" "$(cat "$TMP/back" "$TMP/err")"; fi
done

# detokenize: ids as arguments, as one string, from stdin; specials dropped unless --special
expect_ok "detokenize args" $SLM detokenize -m $L3 128000 9906 1917
if [ "$(cat "$TMP/out")" = "Hello world" ]; then ok "skip special"; else bad "skip special" "$(cat "$TMP/out")"; fi
expect_ok "detokenize --special" $SLM detokenize -m $L3 --special "128000 9906 1917"
if [ "$(cat "$TMP/out")" = "<|begin_of_text|>Hello world" ]; then ok "keep special"; else bad "keep special" "$(cat "$TMP/out")"; fi
echo "9906, 1917" | $SLM detokenize -m $L3 - >"$TMP/out" 2>"$TMP/err"
if [ "$(cat "$TMP/out")" = "Hello world" ]; then ok "ids from stdin"; else bad "ids from stdin" "$(cat "$TMP/out" "$TMP/err")"; fi

# bad input
expect_fail "tokenize no -m" "tokenize: -m DIR is required" $SLM tokenize "hi"
expect_fail "tokenize no text" "tokenize: no text given" $SLM tokenize -m $L3
expect_fail "tokenize two texts" "one argument" $SLM tokenize -m $L3 a b
expect_fail "tokenize unknown option" "unknown option '--frob'" $SLM tokenize -m $L3 --frob hi
expect_fail "tokenize missing folder" "/nonexistent/tokenizer.json: cannot open" $SLM tokenize -m /nonexistent hi
mkdir -p "$TMP/bad"
printf '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Frob"}}' >"$TMP/bad/tokenizer.json"
expect_fail "unknown normalizer" "tokenizer.json: normalizer: unsupported normalizer type 'Frob'" $SLM tokenize -m "$TMP/bad" hi
printf '{"model": ' >"$TMP/bad/tokenizer.json"
expect_fail "truncated json" "tokenizer.json: not valid JSON" $SLM tokenize -m "$TMP/bad" hi
printf 'ok \377 bad' >"$TMP/inv"
$SLM tokenize -m $L3 - <"$TMP/inv" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(grep -c . "$TMP/err")" -eq 1 ] && grep -q "not valid UTF-8 (byte 3)" "$TMP/err"; then
    ok "invalid UTF-8 names the byte"; else bad "invalid UTF-8 names the byte" "rc $rc: $(cat "$TMP/err")"; fi
expect_fail "detokenize no -m" "detokenize: -m DIR is required" $SLM detokenize 1 2
expect_fail "detokenize no ids" "detokenize: no ids given" $SLM detokenize -m $L3
expect_fail "detokenize id too big" "id 128256 is not in the vocabulary (0..128255)" $SLM detokenize -m $L3 9906 128256
expect_fail "detokenize negative id" "id -3 is not in the vocabulary" $SLM detokenize -m $L3 -3
expect_fail "detokenize not a number" "'12x' is not a token id" $SLM detokenize -m $L3 "1 12x"
expect_fail "detokenize unknown option" "unknown option '--frob'" $SLM detokenize -m $L3 --frob 1

finish
