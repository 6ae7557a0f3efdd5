#!/bin/bash
#
# test_llm_ratelimit.sh -- llm.backends[].rate_limit: with
# requests_per_minute 2, the third request of the minute falls back to
# the next back end, and a request that named the back end fails with
# rate_limited; the limited back end never sees either.  tokens_per_minute
# counts the tokens the answers reported.  With max_wait_s, a request
# waits for room (about a minute here) and is answered by the back end it
# waited for; one that cannot get room within max_wait_s does not wait.
# A request still waiting when its generation is retired ends as
# "retired".  Status and metrics count what was limited.
#
# It takes a little over a minute: a limit counts a minute.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

llm_setup
llm_server_start limited
llm_server_start backup
llm_server_start tokens
llm_server_start patient
llm_server_start hasty
llm_control tokens '{"prompt_tokens": 600, "completion_tokens": 500}'

BACKENDS="$(llm_backend limited openai limited '"rate_limit": {"requests_per_minute": 2}'),
    $(llm_backend backup openai backup),
    $(llm_backend tokens openai tokens '"rate_limit": {"tokens_per_minute": 1000}'),
    $(llm_backend patient openai patient '"rate_limit": {"requests_per_minute": 1, "max_wait_s": 120}'),
    $(llm_backend hasty openai hasty '"rate_limit": {"requests_per_minute": 1, "max_wait_s": 5}')"
llm_config "\"backends\": [$BACKENDS], \"fallback\": [\"limited\", \"backup\"],
  \"probe_on_reload\": false, \"retire_timeout_s\": 1"
llm_start_daemon

# ------------------------------------------------- waiting for room (start)
# patient answers one request, then the next waits for the minute to
# pass: started now, checked at the end.
llm_ask peer-patient '{"text":"first","backend":"patient"}'
assert_json payload.backend patient "patient answers its first request" "$RESULT"
T_WAIT=$(now_ms)
LLM_WAIT=100 LLM_RUN_S=110 llm_load_bg "$T/patient.json" peer-waits 1 \
    '{"text":"second","backend":"patient"}'
WAIT_PID=$HELPER_PID
assert_eventually "the second request to patient waits for room" 10 \
    status_is 'services.llm.backends.3.rate_limit.waiting' 1
assert_eq 1 "$(llm_counter patient chat)" "patient has not seen the waiting request"

# ------------------------------------------------------- requests a minute
llm_ask peer-rl '{"text":"one"}'
assert_json payload.backend limited "request 1: limited" "$RESULT"
llm_ask peer-rl '{"text":"two"}'
assert_json payload.backend limited "request 2: limited" "$RESULT"
llm_ask peer-rl '{"text":"three"}'
assert_json status success "request 3 is answered" "$RESULT"
assert_json payload.backend backup "request 3: over limited's 2 a minute, it falls back to backup" "$RESULT"
assert_json payload.text "backup says: three" "request 3: backup's answer" "$RESULT"
assert_eq 2 "$(llm_counter limited chat)" "limited saw two requests, not the third"

# Named, there is nowhere else to go.
llm_ask_failure() {
	llm_load "$1" 1 "$2"
	wait_until 5 llm_results_count_at_least "$1" 1
	RESULT=$(llm_results "$1" | tail -n 1)
}
llm_ask_failure peer-named '{"text":"four","backend":"limited"}'
assert_json error_details.error_code rate_limited "request 4, naming limited: rate_limited" "$RESULT"
assert_eq "limited: over its rate limit of 2 requests a minute" \
    "$(jfield error_details.error_message "$RESULT")" "request 4: the message says which limit"
assert_eq 2 "$(llm_counter limited chat)" "limited never saw request 4"

# ------------------------------------------------------ tokens a minute
llm_ask peer-tok '{"text":"t1","backend":"tokens"}'
assert_json payload.usage.total_tokens 1100 "tokens: the first answer reports 1100 tokens" "$RESULT"
llm_ask_failure peer-tok2 '{"text":"t2","backend":"tokens"}'
assert_json error_details.error_code rate_limited "tokens: over 1000 tokens a minute, rate_limited" "$RESULT"
assert_eq "tokens: over its rate limit of 1000 tokens a minute" \
    "$(jfield error_details.error_message "$RESULT")" "tokens: the message says which limit"
assert_eq 1 "$(llm_counter tokens chat)" "tokens saw one request"

# ------------------------------------------ room too far for max_wait_s
llm_ask peer-hasty '{"text":"h1","backend":"hasty"}'
t0=$(now_ms)
llm_ask_failure peer-hasty2 '{"text":"h2","backend":"hasty"}'
assert_json error_details.error_code rate_limited "hasty: room in a minute is beyond max_wait_s 5: rate_limited" "$RESULT"
assert_lt 4000 "$(($(now_ms) - t0))" "hasty: it does not wait for max_wait_s" ms
assert_eq 1 "$(llm_counter hasty chat)" "hasty saw one request"

# ------------------------------------------------------- status, metrics
status_json
assert_fields "status of limited" "$(jpy '[b for b in d["services"]["llm"]["backends"] if b["name"] == "limited"][0]')" \
    rate_limit.requests_per_minute 2 \
    rate_limit.tokens_per_minute null \
    rate_limit.max_wait_s 0 \
    rate_limit.requests_last_minute 2 \
    rate_limit.waiting 0 \
    rate_limit.limited 2 \
    requests 2
assert_fields "status of tokens" "$(jpy '[b for b in d["services"]["llm"]["backends"] if b["name"] == "tokens"][0]')" \
    rate_limit.tokens_per_minute 1000 \
    rate_limit.tokens_last_minute 1100 \
    rate_limit.limited 1
run ctl metrics
assert_line 'hotreload_llm_rate_limited_total\{backend="limited"\} 2' "$OUT" \
    "metrics: limited passed over twice"
assert_line 'hotreload_llm_rate_limited_total\{backend="backup"\} 0' "$OUT" \
    "metrics: backup never"

# ------------------------------------------------ waiting for room (end)
assert_eventually "the request waiting for patient is answered within 100 s" 100 \
    llm_results_count_at_least peer-waits 1
waited=$(($(now_ms) - T_WAIT))
RESULT=$(llm_results peer-waits | tail -n 1)
assert_json payload.text "patient says: second" "it is answered by patient, which it waited for" "$RESULT"
assert_ge 50000 "$waited" "it waited for the minute of the first request to pass" ms
assert_eq 2 "$(llm_counter patient chat)" "patient saw it once its minute had passed"
llm_load_wait "$WAIT_PID" "$T/patient.json"

# ---------------------------------------- waiting when the generation goes
# patient is full again: a request waits, then reload-llm retires the
# generation, whose retire_timeout_s (1 s) ends the request as retired.
llm_load_bg "$T/retired.json" peer-retired 1 '{"text":"third","backend":"patient"}'
RETIRED_PID=$HELPER_PID
assert_eventually "a third request to patient waits" 10 \
    status_is 'services.llm.backends.3.rate_limit.waiting' 1
run ctl reload-llm
assert_rc 0 "reload-llm while a request waits for room"
assert_eventually "the waiting request ends" 10 llm_results_count_at_least peer-retired 1
assert_eq "1 failure - - retired" "$(llm_summary peer-retired)" \
    "the request waiting on the retired generation ends as retired"
assert_eq 2 "$(llm_counter patient chat)" "patient never saw it"
llm_load_wait "$RETIRED_PID" "$T/retired.json"

# The new generation counts afresh: patient answers at once.
llm_ask peer-fresh '{"text":"fresh","backend":"patient"}'
assert_json payload.text "patient says: fresh" "generation 2 starts from an empty minute" "$RESULT"

stop_daemon "the daemon exits 0 on SIGTERM" 10
test_done
