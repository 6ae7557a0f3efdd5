#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hostile_handover.sh -- results that finished while the broker was
# away are not lost when reload-hsp retires the connector that holds them
# (issue 11, finding 4).  Ten dialogue requests are held by the back end;
# the broker dies; the requests finish, so their results (and nothing
# else) wait in the connector, which keeps trying to reconnect.  The
# operator moves the agent to another broker with reload-hsp: the new
# connector comes up there, the old one is retired in its back-off, and
# hands its ten unacknowledged results to the new one, which publishes
# them.  Each result arrives exactly once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

COUNT=10
DELAY_MS=$((2000 * SLOWDOWN))

llm_setup
llm_server_start A
backends="\"backends\": [$(llm_backend A openai A)], \"fallback\": [\"A\"]"
llm_config "$backends"
llm_start_daemon

# Ten requests the back end holds; the peer only publishes them.
llm_control A "{\"delay_ms\": $DELAY_MS}"
run timeout -k 2 30 "$LOADPEER" -p "$BROKER_PORT" --target "$AI_ID" \
    --id did:hsp:handover -n "$COUNT" --capability-name dialogue \
    --params '{"text":"held"}' --publish-only
assert_rc 0 "the peer published $COUNT requests"
assert_eventually "the back end holds the $COUNT requests" 10 \
    llm_counter_at_least A delayed "$COUNT"

# The broker dies; the results are made while it is away.
"$BROKER" kill "$BROKER_DIR" >/dev/null || fatal "cannot kill the broker"
assert_eventually "the $COUNT requests finish while the broker is away" \
    $((10 + DELAY_MS / 1000)) \
    status_is services.hsp.tasks_in_flight 0
status_json
pending=$(jfield services.hsp.pubacks_pending "$OUT")
note "results and acknowledgements waiting in the connector: $pending"
assert_json services.hsp.connected false \
    "status: the connector is not connected" "$OUT"

# Another broker, a subscriber on it, and reload-hsp to it.
BROKER_DIR=$T/broker2
BROKER_PORT=$("$BROKER" start --no-persistence "$BROKER_DIR") ||
	fatal "the second broker does not start"
llm_results_start
llm_config "$backends"
run ctl reload-hsp
assert_rc 0 "reload-hsp to the second broker succeeds"
assert_eventually "the $COUNT results arrive on the second broker" 10 \
    llm_results_count_at_least handover "$COUNT"
assert_log "handed" "the retired connector says it handed its queue over"
status_json
assert_ge "$COUNT" "$(jfield services.hsp.intake.handed_over "$OUT")" \
    "status: the new connector counts what it took over"
answers=$(llm_summary handover)
assert_eq "$COUNT success A 1 -" "$answers" \
    "each request is answered once, with success, by back end A"
ids=$(llm_results handover | "$PYTHON" -E -S -c '
import json, sys
ids = [json.loads(line)["request_id"] for line in sys.stdin]
print(len(ids), len(set(ids)))')
assert_eq "$COUNT $COUNT" "$ids" "$COUNT results, $COUNT distinct requests"

test_done
