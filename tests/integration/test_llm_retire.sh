#!/bin/bash
#
# test_llm_retire.sh -- llm.retire_timeout_s bounds a retiring generation:
# back end A hangs, 3 requests wait on it, reload-llm to B returns at once;
# about retire_timeout_s (2 s) later the 3 requests end as failures with
# error code "retired" (never dropped, never left hanging), their
# transfers are closed, llm.retiring empties, and new requests are
# answered by B.  At SIGTERM, a request still held by a back end after
# drain.timeout_s gets a failure result too, before the daemon exits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

RETIRE_S=2
LLM_DRAIN_S=1

llm_setup
llm_server_start A
llm_server_start B

llm_config "\"backends\": [$(llm_backend A openai A)], \"fallback\": [\"A\"], \"retire_timeout_s\": $RETIRE_S"
llm_start_daemon

llm_control A '{"hang": true}'
llm_load_bg "$T/held.json" peer-held 3 '{"text":"are you there"}'
HELD_PID=$HELPER_PID
assert_eventually "A holds the 3 requests" 10 llm_counter_at_least A hanging 3
assert_json services.llm.in_flight 3 "status: 3 LLM requests in flight" "$(ctl -j status)"

llm_config "\"backends\": [$(llm_backend B openai B)], \"fallback\": [\"B\"], \"retire_timeout_s\": $RETIRE_S"
t0=$(now_ms)
run ctl -j reload-llm
elapsed=$(($(now_ms) - t0))
assert_rc 0 "reload-llm away from a hanging back end exits 0"
assert_lt 1000 "$elapsed" "reload-llm returns at once" ms
assert_json generation 2 "reload-llm: generation 2"
assert_json previous_in_flight 3 "reload-llm: previous_in_flight 3"
assert_json services.llm.retiring '[{"generation":1,"in_flight":3}]' \
    "status: generation 1 retiring with 3 in flight" "$(ctl -j status)"

# New work goes to B meanwhile.
llm_ask peer-during '{"text":"meanwhile"}'
assert_eq "B says: meanwhile B 2" \
    "$(jpy '" ".join(str(d["payload"][k]) for k in ("text", "backend", "llm_generation"))' "$RESULT")" \
    "while generation 1 retires, a new request is answered by B on generation 2"

# The retire deadline fails the 3 with "retired".
assert_eventually "the 3 held requests get a result" $((RETIRE_S + 5)) \
    llm_results_count_at_least peer-held 3
ended=$(($(now_ms) - t0))
CHECKS=$((CHECKS + 1))
if ((ended >= RETIRE_S * 1000 - 300 && ended < RETIRE_S * 1000 + 2500)); then
	pass "they end about retire_timeout_s after the reload (${ended} ms)"
else
	fail "they end about retire_timeout_s after the reload" "after ${ended} ms (retire_timeout_s ${RETIRE_S})"
fi
assert_eq "3 failure - - retired" "$(llm_summary peer-held)" \
    "the 3 end as failures with error code retired"
assert_match 'retire' "$(jpy 'd["error_details"]["error_message"]' "$(llm_results peer-held | head -n 1)")" \
    "the error message says the generation was retired"
llm_load_wait "$HELD_PID" "$T/held.json"
assert_json answered 3 "loadpeer: the 3 are answered"
assert_json duplicates 0 "loadpeer: none twice"
assert_json by_error '{"retired":3}' "loadpeer: 3 failed with retired"

assert_eventually "llm.retiring empties" 5 status_is services.llm.retiring '[]'
status_json
assert_json services.llm.in_flight 0 "status: no LLM request in flight"
assert_json services.dialogue_manager.failed 3 "status: 3 failed dialogue turns"
assert_eventually "A sees the 3 transfers closed by the daemon" 5 \
    llm_counter_at_least A dropped 3
assert_log "ended as retired" "the log says requests ended as retired"

# After the retirement, B answers.
llm_load peer-after 5 '{"text":"after"}'
assert_json by_status '{"success":5,"failure":0,"rejected":0,"other":0}' "5 new requests succeed"
wait_until 5 llm_results_count_at_least peer-after 5
assert_eq "5 success B 2 -" "$(llm_summary peer-after)" "the 5 are answered by B on generation 2"
assert_eq 3 "$(llm_counter A chat)" "A received only the 3 held requests"
llm_control A '{"reset": true}'

# SIGTERM while B holds a request past drain.timeout_s: the requester gets
# a failure, not silence (a stop never drops work silently).
llm_control B '{"hang": true}'
llm_load_bg "$T/stop.json" peer-stop 1 '{"text":"hold on"}'
STOP_PID=$HELPER_PID
assert_eventually "B holds the request" 10 llm_counter_at_least B hanging 1
t0=$(now_ms)
kill -TERM "$DAEMON_PID"
CHECKS=$((CHECKS + 1))
if wait_exit "$DAEMON_PID" 15 && [[ $EXIT_STATUS == 0 ]]; then
	pass "SIGTERM with a held LLM request: exit 0 after $(($(now_ms) - t0)) ms (drain.timeout_s $LLM_DRAIN_S)"
else
	fail "SIGTERM with a held LLM request: exit 0" "exit status: ${EXIT_STATUS:-still running}"
fi
assert_eventually "SIGTERM with a held LLM request: the requester gets a result" 3 \
    llm_results_count_at_least peer-stop 1
assert_eq failure "$(jpy 'd["status"]' "$(llm_results peer-stop | head -n 1)" 2>/dev/null)" \
    "SIGTERM with a held LLM request: the result is a failure"
assert_eventually "B sees the held transfer closed" 5 llm_counter_at_least B dropped 1
kill "$STOP_PID" 2>/dev/null
llm_control B '{"reset": true}'

test_done
