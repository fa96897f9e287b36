# slm route from the command line: statistics and calibration on the hand-checked log, escalation
# through the scripts in tests/router/, bad input, and end to end on stories260K: prompts in its
# domain (children's stories) stay local, prompts far outside it (code, arithmetic, other languages)
# escalate at the calibrated threshold. Greedy, one thread, 16-token answers: a few seconds.
. tests/cli_lib.sh
M=../shared/models/stories260K
R="$SLM route -m $M -n 16 --temp 0 -t 1"

# ---- --stats and --calibrate on tests/router/sample.log (numbers worked out in test_router_stats.c)
expect_ok "stats sample" $SLM route --stats tests/router/sample.log
if grep -q "^  escalated              5   50.0%  (3 answered remotely, 2 fell back" "$TMP/out" &&
   grep -q "  all            10       40.0     3076.0     4631.2" "$TMP/out" &&
   grep -q "       1  timed out after 5 s" "$TMP/out" &&
   grep -q "cost                8.4  (all-escalate baseline 16: 52.5% of it, 7.6 saved)" "$TMP/out"; then ok "stats numbers"
else bad "stats numbers" "$(cat "$TMP/out")"; fi
expect_ok "calibrate sample" $SLM route --calibrate tests/router/sample.log --target-rate 0.2 --svg "$TMP/c.svg"
if grep -q "     20%         -2.7      2    22.2%     50.0%      0.0%" "$TMP/out" && grep -q "ROC AUC 0.9500" "$TMP/out" &&
   grep -q '"decision": {"threshold": -2.7}' "$TMP/out"; then ok "calibrate numbers"
else bad "calibrate numbers" "$(cat "$TMP/out")"; fi
if grep -q "</svg>" "$TMP/c.svg" && grep -q "<polyline" "$TMP/c.svg"; then ok "calibrate svg"; else bad "calibrate svg" "no plot"; fi

: >"$TMP/empty.log"
expect_ok "stats of an empty log" $SLM route --stats "$TMP/empty.log"
if grep -q "^requests                 0" "$TMP/out"; then ok "empty log counts"; else bad "empty log counts" "$(cat "$TMP/out")"; fi

# ---- bad input: one line naming the file and line (or option), non-zero exit
printf '{"route":"local","answered_by":"local","latency_ms":1,"cost":0,"cost_all_escalate":1}\n{"route":"local"}\n' >"$TMP/bad.log"
expect_fail "stats bad line" "bad.log:2: answered_by" $SLM route --stats "$TMP/bad.log"
expect_fail "stats missing file" "nope.log: No such file" $SLM route --stats "$TMP/nope.log"
printf '{"prompt": "Once upon a time"}\n{"prompt": "x"\n' >"$TMP/in.jsonl"
expect_fail "batch bad line" "in.jsonl:2:" $R --batch "$TMP/in.jsonl" --out "$TMP/o.jsonl"
printf '{"id": 1}\n' >"$TMP/in.jsonl"
expect_fail "batch line without prompt" "in.jsonl:1: needs exactly one of" $R --batch "$TMP/in.jsonl" --out "$TMP/o.jsonl"
printf '{\n  "decision": {"threshold": -2},\n  "escalate": {"timeout": }\n}\n' >"$TMP/bad.json"
expect_fail "config bad json" "bad.json:3:" $R -p hi --config "$TMP/bad.json"
printf '{"decision": {"treshold": -2}}\n' >"$TMP/bad.json"
expect_fail "config typo" "bad.json: decision.treshold: unknown key" $R -p hi --config "$TMP/bad.json"
printf '{"rules": [{"regex": "(", "route": "escalate"}]}\n' >"$TMP/bad.json"
expect_fail "config bad regex" "bad.json: rules\[0\].regex: regex at offset 1" $R -p hi --config "$TMP/bad.json"
expect_fail "unterminated quote" "option --escalate-cmd: command: unterminated quote" $R -p hi --escalate-cmd "prog 'x"
expect_fail "bad format" "option --escalate-format: 'xml'" $R -p hi --escalate-format xml
expect_fail "unknown task" "task 'poetry' is not in the task table" $R -p hi --task poetry
expect_fail "two modes" "give exactly one of" $SLM route --stats a --calibrate b
expect_fail "no model" "-m DIR is required" $SLM route -p hi
expect_fail "calibrate prompts without model" "e2e_prompts.jsonl:1: has a prompt to run but no model" \
    $SLM route --calibrate tests/router/e2e_prompts.jsonl
expect_fail "unknown option" "unknown option '--frob'" $SLM route --frob
expect_ok "help" $SLM route --help

# ---- escalation through the CLI
P='$(touch '"$TMP"'/pwned); `rm -rf '"$TMP"'`; echo "quoted" '"'"'single'"'"' | cat > '"$TMP"'/x &'
expect_ok "no shell" $R -p "$P" --always-escalate --escalate-cmd "sh tests/router/echo.sh" --log "$TMP/route.log"
if [ "$(cat "$TMP/out")" = "$P" ] && [ ! -e "$TMP/pwned" ] && [ ! -e "$TMP/x" ]; then ok "prompt verbatim at the command"
else bad "prompt verbatim at the command" "got: $(cat "$TMP/out")"; fi
expect_ok "json request" $R -p "Once upon a time" --always-escalate --escalate-format json --escalate-cmd "sh tests/router/echo.sh"
if grep -q '"prompt":"Once upon a time","messages":\[{"role":"user","content":"Once upon a time"}\],"draft":null' "$TMP/out"
then ok "json request fields"; else bad "json request fields" "$(cat "$TMP/out")"; fi
expect_ok "chat turn" $R -p "Tell me a story" --system "Be kind." --chat-template chatml --always-escalate \
    --escalate-format json --escalate-cmd "sh tests/router/echo.sh"
if grep -q '"messages":\[{"role":"system","content":"Be kind."},{"role":"user","content":"Tell me a story"}\]' "$TMP/out" &&
   grep -q '"prompt":"<|im_start|>system\\nBe kind.<|im_end|>' "$TMP/out"; then ok "chat turn fields"
else bad "chat turn fields" "$(cat "$TMP/out")"; fi
expect_ok "fallback on failure" $R -p "Once upon a time" --always-escalate --escalate-cmd "sh tests/router/fail.sh" \
    --log "$TMP/route.log"
if grep -q "there was a little girl" "$TMP/out" && grep -q "escalation failed: command exited with status 3" "$TMP/err"
then ok "local answer returned"; else bad "local answer returned" "$(cat "$TMP/out" "$TMP/err")"; fi
expect_ok "fallback on timeout" $R -p "Once upon a time" --always-escalate --escalate-timeout 0.3 \
    --escalate-cmd "sh tests/router/slow.sh $TMP/pid" --log "$TMP/route.log"
expect_ok "fallback on missing program" $R -p "Once upon a time" --always-escalate --escalate-cmd "slm-no-such-program" \
    --log "$TMP/route.log"
if [ "$(grep -c '"answered_by":"local"' "$TMP/route.log")" -eq 3 ] && grep -q '"escalate_error":"timed out after 0.3 s"' "$TMP/route.log" &&
   grep -q "\"escalate_error\":\"command 'slm-no-such-program' not found\"" "$TMP/route.log" &&
   ! grep -q '"prompt":' "$TMP/route.log"; then ok "log says why"
else bad "log says why" "$(cat "$TMP/route.log")"; fi

# ---- end to end on stories260K
expect_ok "story stays local" $R -p "Once upon a time" --escalate-cmd "sh tests/router/answer.sh" --json
if grep -q '"route":"local"' "$TMP/out" && grep -q '"answer":", there was a little girl named Lily.' "$TMP/out"
then ok "story answer"; else bad "story answer" "$(cat "$TMP/out")"; fi
expect_ok "calibrate on prompts" $R --calibrate tests/router/e2e_prompts.jsonl --target-rate 0.5 --svg "$TMP/e2e.svg"
cp "$TMP/out" "$TMP/calib.txt"
T=$(sed -n 's/^config: "decision": {"threshold": \(.*\)}$/\1/p' "$TMP/calib.txt")
auc=$(sed -n 's/^ROC AUC \([0-9.]*\):.*/\1/p' "$TMP/calib.txt")
if [ -n "$T" ] && awk "BEGIN { exit !($auc >= 0.8) }"; then ok "calibrated threshold $T, ROC AUC $auc"
else bad "calibration" "$(cat "$TMP/calib.txt")"; fi
expect_ok "batch at the threshold" $R --threshold "$T" --batch tests/router/e2e_prompts.jsonl --out "$TMP/e2e.jsonl" \
    --escalate-cmd "sh tests/router/answer.sh" --log "$TMP/e2e.log"
far=$(grep '"id":"far-' "$TMP/e2e.jsonl" | grep -c '"route":"escalate"')
story=$(grep '"id":"story-' "$TMP/e2e.jsonl" | grep -c '"route":"local"')
remote=$(grep '"id":"far-' "$TMP/e2e.jsonl" | grep -c '"answer":"remote answer to')
if [ "$far" -ge 15 ] && [ "$story" -ge 15 ] && [ "$remote" -eq "$far" ]; then
    ok "far prompts escalated $far/20, stories kept local $story/20"
else bad "routing at the threshold" "far escalated $far/20, stories local $story/20, remote answers $remote"; fi
expect_ok "stats of the run" $SLM route --stats "$TMP/e2e.log"
if grep -q "^requests                40" "$TMP/out"; then ok "stats of the run counts"; else bad "stats of the run" "$(cat "$TMP/out")"; fi
finish
