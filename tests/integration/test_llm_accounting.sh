#!/bin/bash
#
# test_llm_accounting.sh -- tokens, cost and latency per back end: after N
# answered requests the token counters (status and
# hotreload_llm_tokens_total) hold exactly what the back ends' usage
# reported, the cost is those tokens at the configured prices, and the
# latency histogram (hotreload_llm_request_duration_seconds) has counted
# exactly the answers, in the right buckets; a failed request counts in
# none of them.  hotreloadctl status shows a line per back end (health,
# requests, errors, p50 latency, tokens).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

llm_setup
llm_server_start paid
llm_server_start slow
# Fixed usage, so that the sums are known: paid reports 1000 prompt and
# 500 answer tokens an answer, slow 200 and 100 (and takes 600 ms).
llm_control paid '{"prompt_tokens": 1000, "completion_tokens": 500}'
llm_control slow '{"prompt_tokens": 200, "completion_tokens": 100, "delay_ms": 600}'

llm_config "\"backends\": [
    $(llm_backend paid openai paid '"cost": {"input_per_1k": 0.5, "output_per_1k": 2}'),
    $(llm_backend slow anthropic slow '"cost": {"input_per_1k": 1, "output_per_1k": 3}')],
  \"fallback\": [\"paid\"]"
llm_start_daemon

# Four answers from paid, two from slow.
for i in 1 2 3 4; do
	llm_ask peer-acc "{\"text\":\"paid $i\"}"
	assert_json payload.usage '{"completion_tokens":500,"prompt_tokens":1000,"total_tokens":1500}' \
	    "answer $i reports paid's usage" "$RESULT"
done
llm_ask peer-acc '{"text":"slow 1","backend":"slow"}'
llm_ask peer-acc '{"text":"slow 2","backend":"slow"}'

# A failed request (HTTP 400) uses no tokens and is no answer.
llm_control paid '{"fail_next": 1, "status": 400}'
llm_ask peer-acc '{"text":"refused"}'
assert_json error_details.error_code bad_request "paid answering 400: bad_request" "$RESULT"

# ------------------------------------------------------------------ status
status_json
PAID=$(jpy '[b for b in d["services"]["llm"]["backends"] if b["name"] == "paid"][0]')
SLOW=$(jpy '[b for b in d["services"]["llm"]["backends"] if b["name"] == "slow"][0]')
assert_fields "status of paid" "$PAID" \
    requests 5 errors 1 tokens_in 4000 tokens_out 2000 cost 6.0
assert_fields "status of slow" "$SLOW" \
    requests 2 errors 0 tokens_in 400 tokens_out 200 cost 1.0
assert_true "slow's p50 latency is at least its 600 ms delay" \
    "$PYTHON" -c "import sys, json; sys.exit(not json.loads(sys.argv[1])['p50_latency_ms'] >= 600)" "$SLOW"
assert_true "paid's p50 latency is a number below slow's" \
    "$PYTHON" -c "import sys, json; a, b = (json.loads(x)['p50_latency_ms'] for x in sys.argv[1:]); sys.exit(not 0 <= a < b)" "$PAID" "$SLOW"

# ----------------------------------------------------------------- metrics
run ctl metrics
assert_rc 0 "metrics"
assert_line 'hotreload_llm_tokens_total\{backend="paid",kind="input"\} 4000' "$OUT" \
    "metrics: paid's input tokens are 4 x 1000"
assert_line 'hotreload_llm_tokens_total\{backend="paid",kind="output"\} 2000' "$OUT" \
    "metrics: paid's output tokens are 4 x 500"
assert_line 'hotreload_llm_tokens_total\{backend="slow",kind="input"\} 400' "$OUT" \
    "metrics: slow's input tokens are 2 x 200"
assert_line 'hotreload_llm_tokens_total\{backend="slow",kind="output"\} 200' "$OUT" \
    "metrics: slow's output tokens are 2 x 100"
assert_line 'hotreload_llm_cost_total\{backend="paid"\} 6' "$OUT" \
    "metrics: paid's cost is 4000 x 0.5/1000 + 2000 x 2/1000"
assert_line 'hotreload_llm_cost_total\{backend="slow"\} 1' "$OUT" \
    "metrics: slow's cost is 400 x 1/1000 + 200 x 3/1000"
assert_line '# TYPE hotreload_llm_request_duration_seconds histogram' "$OUT" \
    "metrics: the latency is a histogram"
assert_line 'hotreload_llm_request_duration_seconds_count\{backend="paid"\} 4' "$OUT" \
    "metrics: paid's histogram counts its 4 answers (not the refused one)"
assert_line 'hotreload_llm_request_duration_seconds_bucket\{backend="paid",le="\+Inf"\} 4' "$OUT" \
    "metrics: paid's +Inf bucket holds its 4 answers"
assert_line 'hotreload_llm_request_duration_seconds_count\{backend="slow"\} 2' "$OUT" \
    "metrics: slow's histogram counts its 2 answers"
assert_line 'hotreload_llm_request_duration_seconds_bucket\{backend="slow",le="0.5"\} 0' "$OUT" \
    "metrics: none of slow's 600 ms answers is in the 0.5 s bucket"
assert_line 'hotreload_llm_request_duration_seconds_bucket\{backend="slow",le="\+Inf"\} 2' "$OUT" \
    "metrics: both are in +Inf"
assert_line 'hotreload_llm_request_duration_seconds_sum\{backend="slow"\} (1\.[2-9]|[2-9]\.|[1-9][0-9]+\.)[0-9]*' "$OUT" \
    "metrics: slow's sum is at least 2 x 0.6 s"
# Buckets are cumulative: never fewer in a larger one.
assert_eq "" "$(printf '%s\n' "$OUT" | "$PYTHON" -E -S -c '
import re, sys
last = {}
for line in sys.stdin:
    m = re.match(r"hotreload_llm_request_duration_seconds_bucket\{backend=\"(\w+)\",le=\"([^\"]+)\"\} (\d+)$", line)
    if m:
        if int(m.group(3)) < last.get(m.group(1), 0):
            print(line.strip())
        last[m.group(1)] = int(m.group(3))
')" "metrics: the buckets are cumulative"

# ------------------------------------------------------- hotreloadctl status
run ctl status
assert_rc 0 "status (human)"
assert_line 'LLM BACKEND +HEALTH +REQUESTS +ERRORS +P50 +TOKENS IN +TOKENS OUT' "$OUT" \
    "status: the back ends' table has its titles"
assert_line 'paid +healthy +5 +1 +[0-9.]+ ms +4000 +2000' "$OUT" \
    "status: paid's line (health, requests, errors, p50, tokens)"
assert_line 'slow +healthy +2 +0 +([6-9][0-9]{2}|[0-9]{4,}) ms +400 +200' "$OUT" \
    "status: slow's line, its p50 at least 600 ms"

stop_daemon "the daemon exits 0 on SIGTERM" 10
test_done
