#!/bin/bash
#
# test_llm_fallback.sh -- fallback between LLM back ends: the next back end
# answers when the first one answers 500 or 429, refuses the connection, or
# hangs past timeout_s before any header; three failures in a row cool a
# back end down (not healthy, cooled_down_until set, skipped); a 400 is the
# request's fault: bad_request, no fallback, the next back end receives
# nothing; with nothing left the request fails llm_unavailable or
# llm_timeout; max_in_flight 1 runs one request, queues one and refuses the
# next with "overloaded".  Every configuration is applied with reload-llm
# (probe_on_reload false), so each case starts from fresh counters.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

# Every answer here comes within a few hundred ms (1 s timeouts at most).
LLM_WAIT=3

llm_setup
llm_server_start good
llm_server_start bad
llm_server_start dead
DEAD_URL=$(llm_url dead)
llm_server_stop dead		# its port is now closed

# The llm members for the back ends given as JSON objects.
llm_members() {
	local names=() b
	for b in "$@"; do
		[[ $b =~ \"name\":\ \"([^\"]+)\" ]] && names+=("\"${BASH_REMATCH[1]}\"")
	done
	local IFS=,
	printf '"backends": [%s], "fallback": [%s], "probe_on_reload": false' \
	    "$*" "${names[*]}"
}

# How many chats back end NAME received whose last message is TEXT.
sent_to() {
	jpy "sum(1 for r in d if r['method'] == 'POST' and r['body']['messages'][-1]['content'] == '$2')" \
	    "$(llm_requests "$1")"
}

GEN=1
# Apply a configuration with the back ends given (JSON objects) in that
# fallback order: reload-llm, or the first start.
use() {
	llm_config "$(llm_members "$@")"
	if [[ -z $DAEMON_PID ]]; then
		llm_start_daemon
		return
	fi
	run ctl -j reload-llm
	GEN=$((GEN + 1))
	assert_json generation "$GEN" "reload-llm to generation $GEN"
}

GOOD=$(llm_backend good openai good)
BAD=$(llm_backend bad openai bad)
DEAD="{\"name\": \"dead\", \"provider\": \"openai\", \"base_url\": \"$DEAD_URL/v1\", \"model\": \"model-dead\"}"

# text backend generation of RESULT, or status and error code on failure.
outcome() {
	jpy '" ".join(str(x) for x in ((d["payload"]["text"], d["payload"]["backend"], d["payload"]["llm_generation"]) if d.get("status") == "success" else (d.get("status", "no-result"), (d.get("error_details") or {}).get("error_code"))))' "$RESULT"
}

# ---- 500, then cool-down after 3 failures in a row
llm_control bad '{"status": 500}'
use "$BAD" "$GOOD"
# A watcher of the llm service sees the cool-down (hotreloadctl watch).
ctl -j watch --service llm >"$T/watch.json" 2>&1 &
WATCHER=$!
llm_ask peer-500a '{"text":"one"}'
assert_eq "good says: one good 1" "$(outcome)" "bad answers 500: good answers"
B=$(status_backend bad)
assert_eq "1 1 false null" "$(jpy '"%s %s %s %s" % (d["requests"], d["errors"], json.dumps(d["healthy"]), json.dumps(d["cooled_down_until"]))' "$B")" \
    "after one 500: bad has 1 request, 1 error, is not healthy, is not cooled down"
assert_match 'HTTP 500' "$(jfield last_error "$B")" "bad's last_error says HTTP 500"
assert_eq "1 0 true" "$(jpy '"%s %s %s" % (d["requests"], d["errors"], json.dumps(d["healthy"]))' "$(status_backend good)")" \
    "good has 1 request, no error, is healthy"

llm_load peer-500b 2 '{"text":"two"}'
assert_json by_status '{"success":2,"failure":0,"rejected":0,"other":0}' "two more with bad answering 500: both succeed"
wait_until 5 llm_results_count_at_least peer-500b 2
assert_eq "2 success good 1 -" "$(llm_summary peer-500b)" "both answered by good"
assert_eq 3 "$(llm_counter bad chat)" "bad was tried 3 times"
B=$(status_backend bad)
assert_eq "3 3 false" "$(jpy '"%s %s %s" % (d["requests"], d["errors"], json.dumps(d["healthy"]))' "$B")" \
    "after 3 failures in a row: bad has 3 requests, 3 errors, is not healthy"
assert_match '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "$(jfield cooled_down_until "$B")" \
    "after 3 failures in a row: bad's cooled_down_until is set"
assert_json services.llm.state running "llm state stays running (good is healthy)" "$(ctl -j status)"
assert_log "cooling it down" "the log says bad is cooled down"
cooled_event() {
	grep -q '"backend":"bad","event":"cooled_down"' "$T/watch.json"
}
assert_eventually "a watcher sees bad cooled down" 5 cooled_event
kill "$WATCHER"
wait "$WATCHER" 2>/dev/null
assert_contains '"type":"llm"' "$(grep cooled_down "$T/watch.json")" \
    "the cool-down is an llm event"
assert_contains '"reason":"HTTP 500' "$(grep cooled_down "$T/watch.json")" \
    "the cool-down event says why"

llm_ask peer-500c '{"text":"four"}'
assert_eq "good says: four good 1" "$(outcome)" "while bad cools down: good answers"
assert_eq 3 "$(llm_counter bad chat)" "while bad cools down it is not tried"
run ctl metrics
assert_line 'hotreload_llm_requests_total\{backend="bad"\} 3' "$OUT" "metrics: 3 requests to bad"
assert_line 'hotreload_llm_requests_total\{backend="good"\} 4' "$OUT" "metrics: 4 requests to good"
assert_line 'hotreload_llm_errors_total\{backend="bad"\} 3' "$OUT" "metrics: 3 errors of bad"
assert_line 'hotreload_llm_backend_healthy\{backend="bad"\} 0' "$OUT" "metrics: bad not healthy"
assert_line 'hotreload_llm_backend_healthy\{backend="good"\} 1' "$OUT" "metrics: good healthy"

# ---- 429
llm_control bad '{"status": 429}'
use "$BAD" "$GOOD"
llm_ask peer-429 '{"text":"rate"}'
assert_eq "good says: rate good $GEN" "$(outcome)" "bad answers 429: good answers"
B=$(status_backend bad)
assert_eq "1 1" "$(jpy '"%s %s" % (d["requests"], d["errors"])' "$B")" "after a 429: bad has 1 request and 1 error"
assert_match 'HTTP 429' "$(jfield last_error "$B")" "bad's last_error says HTTP 429"

# ---- connection refused
use "$DEAD" "$GOOD"
llm_ask peer-refused '{"text":"knock"}'
assert_eq "good says: knock good $GEN" "$(outcome)" "dead refuses the connection: good answers"
B=$(status_backend dead)
assert_eq "1 1 false" "$(jpy '"%s %s %s" % (d["requests"], d["errors"], json.dumps(d["healthy"]))' "$B")" \
    "after a refused connection: dead has 1 request, 1 error, is not healthy"
assert_match "(Connection refused|Couldn't connect|Failed to connect)" "$(jfield last_error "$B")" \
    "dead's last_error says the connection failed"

# ---- 400: the request's fault, no fallback
llm_control bad '{"status": 400}'
use "$BAD" "$GOOD"
llm_ask peer-400 '{"text":"malformed"}'
assert_eq "failure bad_request" "$(outcome)" "bad answers 400: failure bad_request"
assert_match 'bad.*HTTP 400' "$(jpy 'd["error_details"]["error_message"]' "$RESULT")" \
    "the error message names bad and HTTP 400"
assert_eq 0 "$(sent_to good malformed)" "after a 400 the second back end received no request"
assert_eq "1 1 true" "$(jpy '"%s %s %s" % (d["requests"], d["errors"], json.dumps(d["healthy"]))' "$(status_backend bad)")" \
    "after a 400: bad has 1 request, 1 error, and is still healthy (the request was at fault)"
assert_json requests 0 "after a 400: good has no request" "$(status_backend good)"

# ---- nothing left: llm_unavailable
llm_control bad '{"status": 503}'
use "$BAD"
llm_ask peer-none '{"text":"anyone"}'
assert_eq "failure llm_unavailable" "$(outcome)" "the only back end answers 503: failure llm_unavailable"
assert_match 'bad.*HTTP 503' "$(jpy 'd["error_details"]["error_message"]' "$RESULT")" \
    "the error message names bad and HTTP 503"

# ---- hang before any header, timeout_s 1
llm_control bad '{"reset": true, "hang": true}'
BAD_SLOW=$(llm_backend bad openai bad '"timeout_s": 1')
use "$BAD_SLOW" "$GOOD"
t0=$(now_ms)
llm_ask peer-hang '{"text":"patience"}'
elapsed=$(($(now_ms) - t0))
assert_eq "good says: patience good $GEN" "$(outcome)" "bad hangs past timeout_s: good answers"
assert_match '^(1[0-9]{3}|[2-4][0-9]{3})$' "$elapsed" "the fallback came after bad's 1 s timeout (${elapsed} ms)"
B=$(status_backend bad)
assert_eq "1 1" "$(jpy '"%s %s" % (d["requests"], d["errors"])' "$B")" "after the timeout: bad has 1 request and 1 error"
assert_match '[Tt]ime(d)? ?out' "$(jfield last_error "$B")" "bad's last_error says it timed out"

use "$BAD_SLOW"
llm_ask peer-hang1 '{"text":"alone"}'
assert_eq "failure llm_timeout" "$(outcome)" "the only back end hangs: failure llm_timeout"
assert_match 'bad' "$(jpy 'd["error_details"]["error_message"]' "$RESULT")" "the timeout message names bad"
assert_eventually "bad saw both hanging requests abandoned by the client" 5 \
    llm_counter_at_least bad dropped 2
llm_control bad '{"reset": true}'

# ---- max_in_flight 1: one runs, one waits, the third is refused
llm_control good '{"delay_ms": 1000}'
use "$(llm_backend good openai good '"max_in_flight": 1')"
llm_load peer-busy 3 '{"text":"busy"}'
assert_json by_status '{"success":2,"failure":1,"rejected":0,"other":0}' \
    "max_in_flight 1, 3 at once: 2 succeed (1 running, 1 waiting), 1 fails"
assert_json by_error '{"overloaded":1}' "max_in_flight 1, 3 at once: the failure is overloaded"
wait_until 5 llm_results_count_at_least peer-busy 3
assert_eq "1 failure - - overloaded
2 success good $GEN -" "$(llm_summary peer-busy)" "the two successes come from good on generation $GEN"
assert_eq 2 "$(sent_to good busy)" "good received exactly 2 requests"
assert_eq "2 0 0" "$(jpy '"%s %s %s" % (d["requests"], d["in_flight"], d["waiting"])' "$(status_backend good)")" \
    "status: good has 2 requests, none in flight or waiting"
llm_control good '{"reset": true}'

test_done
