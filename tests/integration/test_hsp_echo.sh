#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_echo.sh -- the daemon answers HSP TaskRequests with the echo tool
# over a real broker: every request acknowledged and answered once, status
# counts them, adverts go out after a connect, retried requests (same
# message_id) are processed once, malformed messages are counted per kind
# and change nothing else, a filter naming no tool fails with no_capability,
# no filter means the default tool, and callback_address is honoured.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

broker_start
hsp_config
start_daemon
wait_hsp_connected

status_json
assert_fields "status at start" "$OUT" \
    services.hsp.connected true \
    services.hsp.state running \
    services.hsp.generation 1 \
    services.hsp.broker "127.0.0.1:$BROKER_PORT" \
    services.hsp.protocol mqttv5 \
    services.hsp.session clean \
    services.hsp.subscriptions.0 "hsp/requests/$AI_ID" \
    services.hsp.retiring '[]' \
    services.tool_dispatcher.tools '["echo"]' \
    services.tool_dispatcher.state running \
    services.service_discovery.state running
assert_match '^hr-.+' "$(jfield services.hsp.client_id)" "status: a client id"

# 200 requests asking for acknowledgements.
loadpeer -n 200 --requires-ack
assert_all_answered 200 "200 echo requests"
assert_fields "200 echo requests" "$LP" \
    acked 200 \
    by_status.success 200 \
    payload_mismatch 0 \
    bad_acks 0 \
    ack_duplicates 0
status_json
# The daemon hears its own advert (it subscribes to every advert).
assert_fields "status after 200 requests" "$OUT" \
    services.tool_dispatcher.completed 200 \
    services.tool_dispatcher.failed 0 \
    services.hsp.results_sent 200 \
    services.hsp.acks_sent 200 \
    services.hsp.received_by_type.TaskRequest 200 \
    services.hsp.duplicates_dropped 0 \
    services.hsp.tasks_in_flight 0
capabilities=$(jfield services.service_discovery.capabilities)
assert_match '^[1-9][0-9]*$' "$capabilities" \
    "status: service_discovery knows at least one capability ($capabilities)"

# Adverts are published after every connect, so after a reload-hsp too.
watch_topic hr-test-adverts 'hsp/capabilities/advertisements/#' 1 "$T/adverts"
watcher=$HELPER_PID
run ctl reload-hsp
assert_rc 0 "reload-hsp exits 0"
assert_watched "an advert arrives after reload-hsp" "$watcher" "$T/adverts"
assert_eq "hsp/capabilities/advertisements/$AI_ID/echo_v1" "$(watched_topic "$T/adverts")" \
    "the advert is on hsp/capabilities/advertisements/<ai_id>/<capability>"
advert=$(watched_payload "$T/adverts")
assert_fields "the advert" "$advert" \
    message_type HSP::CapabilityAdvertisement_v0.1 \
    sender_ai_id "$AI_ID" \
    recipient_ai_id all \
    communication_pattern publish \
    payload.capability_id "$AI_ID:echo_v1" \
    payload.name echo \
    payload.ai_id "$AI_ID" \
    payload.availability_status online
assert_match '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' \
    "$(jfield message_id "$advert")" "the advert's message_id is a UUID4"
status_json
assert_fields "status after reload-hsp" "$OUT" \
    services.hsp.generation 2 \
    services.hsp.connected true \
    services.hsp.last_reload.ok true
dropped_before=$(jfield services.hsp.duplicates_dropped)

# Every 10th request is sent twice with the same message_id: each is
# processed once (the second copy is acknowledged again, not answered).
loadpeer -n 200 --requires-ack --duplicate-every 10
assert_all_answered 200 "200 requests, every 10th sent twice"
assert_fields "duplicates" "$LP" \
    retries_sent 20 \
    acked 200 \
    by_status.success 200
status_json
dropped=$(($(jfield services.hsp.duplicates_dropped) - dropped_before))
assert_ge 20 "$dropped" \
    "status: duplicates_dropped grew by at least the 20 retries"
assert_json services.tool_dispatcher.completed 400 \
    "status: tool_dispatcher.completed 400 (no retry ran twice)"

# A malformed message after every 5th request, the five kinds in turn.
loadpeer -n 100 --requires-ack --malformed-every 5
assert_all_answered 100 "100 requests among malformed messages"
assert_fields "malformed" "$LP" \
    malformed_sent 20 \
    malformed_answered 0 \
    malformed_acked 0 \
    acked 100
assert_daemon_alive "malformed: the daemon is still running"
status_json
assert_fields "status after malformed messages" "$OUT" \
    services.hsp.malformed.not_json 4 \
    services.hsp.malformed.not_object 4 \
    services.hsp.malformed.bad_envelope 4 \
    services.hsp.malformed.unknown_type 4 \
    services.hsp.malformed.bad_payload 4 \
    services.hsp.connected true \
    services.tool_dispatcher.completed 500
assert_eq 5 "$(grep -c 'ignoring a malformed message' "$LOG")" \
    "malformed: the log has one line per kind"

# A capability nobody offers: a failure result with no_capability.
loadpeer -n 50 --capability-name nope
assert_all_answered 50 "capability_name_filter nope"
assert_fields "nope" "$LP" \
    by_status.failure 50 \
    by_error.no_capability 50

# By capability id.
loadpeer -n 50 --capability-id "$AI_ID:echo_v1"
assert_all_answered 50 "capability_id_filter <ai_id>:echo_v1"
assert_lp by_status.success 50 "capability id: 50 successes"

# No filter: the default tool (echo, without an LLM) answers.
loadpeer -n 50 --no-filter --params '{"text":"hello"}'
assert_all_answered 50 "no filter"
assert_lp by_status.success 50 "no filter: 50 successes from the default tool"

# callback_address: results go to the topic the request names (loadpeer
# checks each result's topic; a wrong one would count as bad).
loadpeer -n 50 --callback --requires-ack
assert_all_answered 50 "callback_address"
assert_fields "callback_address" "$LP" \
    by_status.success 50 \
    acked 50 \
    bad_reasons '{}'

status_json
assert_fields "status at the end" "$OUT" \
    services.tool_dispatcher.completed 650 \
    services.tool_dispatcher.failed 50 \
    services.tool_dispatcher.rejected 0 \
    services.hsp.results_sent 700 \
    services.hsp.publish_failed 0 \
    services.hsp.connected true
assert_daemon_alive "the daemon is still running at the end"

test_done
