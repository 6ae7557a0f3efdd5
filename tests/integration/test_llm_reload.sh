#!/bin/bash
#
# test_llm_reload.sh -- reload-llm never fails a request: 25 dialogue
# requests held 3 s by back end A are in flight when the configuration
# replaces A by B and reload-llm runs; the command returns at once
# (generation 2, previous_in_flight 25), the 25 requests are all answered
# by A on generation 1, new requests go to B on generation 2, and the old
# generation leaves llm.retiring once its work is done.  A conversation
# begun on A goes on on B with its history (both turns from one requester:
# a conversation is its requester's, test_hostile_stores).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

# A holds the batch this long: the status right after the reload must find
# it still held, so a slower build (SLOWDOWN, lib.sh) holds it longer.
DELAY_MS=$((3000 * SLOWDOWN))
BATCH=25

llm_setup
llm_server_start A
llm_server_start B

llm_config "\"backends\": [$(llm_backend A openai A)], \"fallback\": [\"A\"]"
llm_start_daemon

# Turn 1 of conversation c7, on A.
llm_ask peer-c7 '{"text":"what is seven","conversation_id":"c7"}'
assert_json payload.text "A says: what is seven" "turn 1 of c7 is answered by A" "$RESULT"
assert_json payload.llm_generation 1 "turn 1 of c7 is on generation 1" "$RESULT"

# 25 requests held by A.
llm_control A "{\"delay_ms\": $DELAY_MS}"
llm_load_bg "$T/batch.json" peer-batch "$BATCH" '{"text":"slow one"}'
BATCH_PID=$HELPER_PID
assert_eventually "A holds the $BATCH requests" 10 llm_counter_at_least A delayed "$BATCH"
assert_json services.llm.in_flight "$BATCH" "status: llm.in_flight is $BATCH before the reload" \
    "$(ctl -j status)"

# Replace A by B and reload.
llm_config "\"backends\": [$(llm_backend B openai B)], \"fallback\": [\"B\"]"
t0=$(now_ms)
run ctl -j reload-llm
elapsed=$(($(now_ms) - t0))
assert_rc 0 "reload-llm with $BATCH requests in flight exits 0"
assert_lt $((DELAY_MS * 6 / 10)) "$elapsed" \
    "reload-llm returns at once (A holds requests for $DELAY_MS ms)" ms
assert_json service llm "reload-llm: service llm"
assert_json reloaded true "reload-llm: reloaded true"
assert_json generation 2 "reload-llm: generation 2"
assert_json previous_generation 1 "reload-llm: previous_generation 1"
assert_json previous_in_flight "$BATCH" "reload-llm: previous_in_flight $BATCH"

status_json
assert_json services.llm.generation 2 "status right after: llm generation 2"
assert_json services.llm.retiring "[{\"generation\":1,\"in_flight\":$BATCH}]" \
    "status right after: generation 1 retiring with $BATCH in flight"
assert_json services.llm.fallback '["B"]' "status right after: fallback is [B]"
assert_json services.llm.backends.0.name B "status right after: the current back end is B"
assert_json services.llm.last_reload.ok true "status right after: last_reload ok"

# The batch ends on A, generation 1, every request a success.
llm_load_wait "$BATCH_PID" "$T/batch.json"
assert_rc 0 "the batch's loadpeer completes"
assert_json answered "$BATCH" "all $BATCH requests in flight during the reload are answered"
assert_json missing 0 "no request in flight during the reload is missing"
assert_json duplicates 0 "no request in flight during the reload is answered twice"
assert_json by_status "{\"success\":$BATCH,\"failure\":0,\"rejected\":0,\"other\":0}" \
    "all $BATCH succeed"
wait_until 5 llm_results_count_at_least peer-batch "$BATCH"
assert_eq "$BATCH success A 1 -" "$(llm_summary peer-batch)" \
    "all $BATCH were answered by A on llm_generation 1"
assert_eq "$BATCH" "$(jpy 'sum(1 for r in d if r["body"]["messages"][-1]["content"] == "slow one")' "$(llm_requests A)")" \
    "A received the $BATCH requests once each"
assert_eventually "llm.retiring empties once the old generation's work is done" 5 \
    status_is services.llm.retiring '[]'
assert_json services.llm.in_flight 0 "status: nothing in flight" "$(ctl -j status)"

# New requests go to B, generation 2.
llm_load peer-new 10 '{"text":"fast one"}'
assert_json by_status '{"success":10,"failure":0,"rejected":0,"other":0}' "10 new requests succeed"
wait_until 5 llm_results_count_at_least peer-new 10
assert_eq "10 success B 2 -" "$(llm_summary peer-new)" "the 10 new requests are answered by B on llm_generation 2"
assert_eq 0 "$(jpy 'sum(1 for r in d if r["body"]["messages"][-1]["content"] == "fast one")' "$(llm_requests A)")" \
    "A received none of the new requests"

# Turn 2 of c7, on B, carries turn 1 (asked on A) as history.
llm_forget B
llm_ask peer-c7 '{"text":"and eight","conversation_id":"c7"}'
assert_json payload.text "B says: and eight" "turn 2 of c7 is answered by B" "$RESULT"
assert_json payload.llm_generation 2 "turn 2 of c7 is on generation 2" "$RESULT"
assert_json payload.conversation_id c7 "turn 2 of c7: conversation_id c7" "$RESULT"
assert_eq '[{"content":"what is seven","role":"user"},{"content":"A says: what is seven","role":"assistant"},{"content":"and eight","role":"user"}]' \
    "$(jpy 'd[-1]["body"]["messages"]' "$(llm_requests B)")" \
    "turn 2 on B carries turn 1 and A's answer: the history survives the reload"

status_json
assert_json services.dialogue_manager.conversations 1 "status: one conversation"
assert_json services.dialogue_manager.turns $((2 + BATCH + 10)) "status: every turn counted"
assert_json services.dialogue_manager.failed 0 "status: no failed turn"
assert_json services.llm.backends.0.requests 11 "status: B has 11 requests"
assert_json services.llm.backends.0.errors 0 "status: B has no errors"
run ctl metrics
assert_line 'hotreload_llm_requests_total\{backend="B"\} 11' "$OUT" "metrics: B has 11 requests"
assert_not_contains 'backend="A"' "$OUT" "metrics: A is gone from the current generation"

test_done
