#!/bin/bash
#
# test_hsp_network.sh -- the daemon in a network of agents (DESIGN.md 7.4,
# HSP.md 8), with a peer that speaks as the existing agents do (written
# here from HSP.md 8 with mosquitto_pub and mosquitto_sub):
#   - a subscriber that connects after the daemon receives its retained
#     "online" adverts at once, one topic per capability;
#   - the adverts come again every hsp.advert_interval_s;
#   - after kill -9 the retained adverts say "offline" (the wills), and
#     after a clean stop too; with a share_group neither happens;
#   - a request whose recipient_ai_id is the request topic is answered;
#     its ACK carries the request's correlation_id, target_message_id the
#     message_id; loadpeer, which matches on target_message_id, gets every
#     ACK;
#   - an advert without availability_status is "online" in
#     hotreloadctl agents, which filters by capability.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

PEER=did:hsp:legacy-peer
ADVERTS=hsp/capabilities/advertisements/$AI_ID
broker_start

# The retained messages under the daemon's advert topics: "TOPIC STATUS"
# lines, sorted (mosquitto_sub --retained-only ends after them).
retained_adverts() {
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -v --retained-only \
	    -W 2 -t "$ADVERTS/#" 2>/dev/null |
	while read -r topic payload; do
		printf '%s %s\n' "${topic#"$ADVERTS/"}" \
		    "$(jfield payload.availability_status "$payload")"
	done | sort
}

# Succeeds when the retained adverts are exactly EXPECTED.
retained_is() {
	[[ $(retained_adverts) == "$1" ]]
}

hsp_config '"advert_interval_s": 1'
start_daemon
wait_hsp_connected

# 1. A late subscriber gets the retained adverts at once.
assert_eventually "a late subscriber receives the retained echo advert, online" 5 \
    retained_is "echo_v1 online"
OUT=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -v --retained-only \
    -W 2 -t "$ADVERTS/#" 2>/dev/null)
assert_contains '"capability_id":"'"$AI_ID"':echo_v1"' "$OUT" \
    "the retained advert is the echo capability's"
assert_contains '"message_type":"HSP::CapabilityAdvertisement_v0.1"' "$OUT" \
    "the retained message is a CapabilityAdvertisement"

# 2. Adverts repeat every interval (1 s): at least 3 in 4.5 s besides the
# retained one.
n=$(timeout 4.5 mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 \
    -t "$ADVERTS/echo_v1" 2>/dev/null | wc -l)
assert_ge 4 "$n" "adverts repeat every advert_interval_s (1 s): received in 4.5 s" adverts

# 3. A peer as the existing agents are: recipient_ai_id is the topic, a
# correlation id of its own, and it waits for the ACK on that id.
MID=legacy-msg-1
CID=legacy-corr-1
request=$(printf '{"hsp_envelope_version":"0.1","message_id":"%s","correlation_id":"%s",
"sender_ai_id":"%s","recipient_ai_id":"hsp/requests/%s","timestamp_sent":"2026-12-02T10:00:00Z",
"message_type":"HSP::TaskRequest_v0.1","protocol_version":"0.1","communication_pattern":"request",
"security_parameters":null,"qos_parameters":{"priority":"high","requires_ack":true},
"routing_info":null,"payload_schema_uri":null,"payload":{"request_id":"legacy-req-1",
"requester_ai_id":"%s","capability_name_filter":"echo","parameters":{"x":1},
"callback_address":"hsp/results/%s/legacy-req-1"}}' \
    "$MID" "$CID" "$PEER" "$AI_ID" "$PEER" "$PEER" | tr -d '\n')
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -C 1 -W 10 \
    -t "hsp/acks/$PEER" >"$T/ack.json" 2>/dev/null &
ACK_PID=$!
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -C 1 -W 10 \
    -t "hsp/results/$PEER/#" >"$T/result.json" 2>/dev/null &
RESULT_PID=$!
sleep 0.5	# the subscribers' SUBACKs
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "hsp/requests/$AI_ID" \
    -m "$request"
wait "$ACK_PID" "$RESULT_PID"
ACK=$(cat "$T/ack.json")
RESULT=$(cat "$T/result.json")
assert_fields "the ACK of a topic-recipient request" "$ACK" \
    correlation_id "$CID" payload.target_message_id "$MID" payload.status received
assert_fields "the result of a topic-recipient request" "$RESULT" \
    correlation_id "$CID" payload.status success payload.request_id legacy-req-1

# loadpeer matches ACKs on target_message_id and checks the correlation id.
loadpeer --count 200 --requires-ack
assert_eq 0 "$LP_RC" "loadpeer exits 0"
assert_lp acked 200 "loadpeer: every one of 200 requests acknowledged"
assert_lp bad_acks 0 "loadpeer: no ACK rejected (correlation id, target)"

# 4. An advert as the existing agents send it: no availability_status.
advert=$(printf '{"hsp_envelope_version":"0.1","message_id":"legacy-adv-1","correlation_id":null,
"sender_ai_id":"%s","recipient_ai_id":"all","timestamp_sent":"2026-12-02T10:00:00Z",
"message_type":"HSP::CapabilityAdvertisement_v0.1","protocol_version":"0.1",
"communication_pattern":"publish","security_parameters":null,"qos_parameters":{"priority":"low","requires_ack":false},
"routing_info":null,"payload_schema_uri":null,"payload":{"capability_id":"%s:sum_v1","ai_id":"%s",
"name":"sum","description":"adds","version":"2.1","parameters":{"a":"number"},"returns":"number"}}' \
    "$PEER" "$PEER" "$PEER" | tr -d '\n')
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 \
    -t "hsp/capabilities/advertisements/$PEER" -m "$advert"
peer_known() {
	[[ $(ctl -j agents --capability sum) == *"$PEER"* ]]
}
assert_eventually "agents lists the legacy peer" 5 peer_known
run ctl -j agents --capability sum
assert_rc 0 "agents --capability sum exits 0"
assert_fields "agents --capability sum" "$OUT" \
    agents.0.ai_id "$PEER" agents.0.capabilities.0.name sum \
    agents.0.capabilities.0.version 2.1 \
    agents.0.capabilities.0.availability_status online \
    agents.1 '<missing>'
run ctl -j agents --capability no-such-capability
assert_json agents '[]' "agents --capability no-such-capability lists nobody"
run ctl agents
assert_rc 0 "agents (human) exits 0"
assert_line "$PEER +[0-9]+ s ago +$PEER:sum_v1 +sum +2\.1 +online" "$OUT" \
    "the human agents table has the peer's capability"
assert_line " +[0-9]+ s ago +$AI_ID:echo_v1 +echo +1\.0 +online|$AI_ID +[0-9]+ s ago +$AI_ID:echo_v1 +echo +1\.0 +online" \
    "$OUT" "the daemon's own retained advert is in discovery too"
run ctl agents --capability ''
assert_rc 2 "agents --capability '' is a usage error"

# 5. kill -9: the broker publishes the wills, the adverts say offline.
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
forget_pid "$DAEMON_PID"
assert_eventually "after kill -9 the retained adverts say offline (the wills)" 5 \
    retained_is $'dialogue_v1 offline\necho_v1 offline'

# 6. Started again: online; a clean stop says offline.
start_daemon
wait_hsp_connected
assert_eventually "started again, the retained echo advert is online" 5 \
    retained_is $'dialogue_v1 offline\necho_v1 online'
stop_daemon "a clean stop exits 0"
assert_eventually "after a clean stop the retained adverts say offline" 5 \
    retained_is $'dialogue_v1 offline\necho_v1 offline'

# 7. In a share group: no will, no offline at stop (the others serve it).
hsp_config '"advert_interval_s": 1, "share_group": "pool"'
start_daemon
wait_hsp_connected
assert_eventually "a pool member's echo advert is online" 5 \
    retained_is $'dialogue_v1 offline\necho_v1 online'
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
forget_pid "$DAEMON_PID"
sleep 1
assert_eq $'dialogue_v1 offline\necho_v1 online' "$(retained_adverts)" \
    "after kill -9 of a pool member its advert stays online (no will)"

test_done
