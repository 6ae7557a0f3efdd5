#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hostile_hsp.sh -- peers on the broker that do not play by the rules
# (DESIGN.md 7.7) cost nobody else a request, memory or the control plane:
#   - 25 requests whose callback_address the broker refuses, or that point
#     into another agent's request topic, amid 3,000: every request is
#     answered exactly once, the 25 with failure/bad_callback on their
#     default topic, nothing reaches the victim, the connector never drops;
#   - a flood of 3 x 10,000 requests with 4 KB parameters: every one
#     answered once, peak RSS under 150 MB, status answered throughout;
#     the same with hsp.max_tasks_in_flight 1, where the connector pauses
#     its intake all the time and must still answer everything once;
#   - a 30 MB message on the facts topic: with MQTT 5 the broker never
#     delivers it (the maximum packet size); with MQTT 3.1.1 it is dropped
#     before parsing (malformed.too_large); RSS stays under 200 MB;
#   - scope: a TaskRequest on the facts topic and a retained one are never
#     run; facts do not push a request out of the dedup window, so its
#     retry does not run twice; the window's bytes and the recent facts are
#     bounded.
# Figures (RSS, status round trips) are printed, not asserted on, except
# the memory bounds of the issue.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

# Peak RSS (VmHWM) and RSS of the daemon, in kB.
daemon_hwm() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status"
}

# Assert that peak RSS grew by less than MB megabytes since BEFORE (kB).
assert_hwm_growth() {
	local desc=$1 before=$2 mb=$3 after
	after=$(daemon_hwm)
	note "$desc: peak RSS $((before / 1024)) MB -> $((after / 1024)) MB"
	memory_checked || return 0
	CHECKS=$((CHECKS + 1))
	if ((after - before < mb * 1024)); then
		pass "$desc: peak RSS grew by less than $mb MB"
	else
		fail "$desc: peak RSS grew by less than $mb MB" \
		    "before ${before} kB, after ${after} kB"
	fi
}

# Run status every 100 ms until the file STOP exists; one line per call:
# "EXIT_STATUS MILLISECONDS".
status_poller() {
	local out=$1 stop=$2 t0
	while [[ ! -e $stop ]]; do
		t0=$(now_ms)
		"$HOTRELOADCTL" -s "$SOCKET" -t 30 status >/dev/null 2>&1
		printf '%s %s\n' "$?" "$(($(now_ms) - t0))" >>"$out"
		sleep 0.1
	done
}

# Check the poller's record FILE: every status answered; print the worst.
assert_status_answered() {
	local desc=$1 file=$2 calls failed worst
	calls=$(wc -l <"$file")
	failed=$(awk '$1 != 0' "$file" | wc -l)
	worst=$(sort -k2 -n "$file" | tail -n 1 | cut -d' ' -f2)
	note "$desc: $calls status calls, the slowest took ${worst:-?} ms"
	CHECKS=$((CHECKS + 1))
	if ((calls > 0 && failed == 0)); then
		pass "$desc: status answered all $calls times"
	else
		fail "$desc: status answered every time" \
		    "$failed of $calls failed"
	fi
}

# An HSP envelope on stdout: TYPE (Fact, TaskRequest), MESSAGE_ID, SENDER,
# PAYLOAD (JSON text).
envelope() {
	"$PYTHON" -E -S -c '
import json, sys
kind, mid, sender, payload = sys.argv[1:5]
print(json.dumps({
    "hsp_envelope_version": "0.1", "message_id": mid,
    "correlation_id": "corr-" + mid, "sender_ai_id": sender,
    "recipient_ai_id": sys.argv[5], "timestamp_sent": "2026-01-01T00:00:00Z",
    "message_type": "HSP::%s_v0.1" % kind, "protocol_version": "0.1",
    "communication_pattern": "request" if kind == "TaskRequest" else "publish",
    "security_parameters": None,
    "qos_parameters": {"priority": "high", "requires_ack": True,
                       "time_to_live_sec": None},
    "routing_info": None, "payload_schema_uri": None,
    "payload": json.loads(payload)}, separators=(",", ":")))
' "$@" "$AI_ID"
}

# A TaskRequest payload: REQUEST_ID from requester did:hsp:scope (echo).
request_payload() {
	printf '{"request_id":"%s","requester_ai_id":"did:hsp:scope","parameters":{"n":1},"capability_name_filter":"echo"}' "$1"
}

# Publish the text on stdin to TOPIC (QoS 1; more mosquitto_pub options).
publish() {
	local topic=$1
	shift
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$topic" -s "$@" ||
		fatal "mosquitto_pub to $topic failed"
}

# Send request REQUEST_ID with MESSAGE_ID on TOPIC (more mosquitto_pub
# options after it).
send_request() {
	envelope TaskRequest "$2" did:hsp:scope "$(request_payload "$1")" |
	    publish "$3" "${@:4}"
}

# Succeeds when FILE holds a result line for request REQUEST_ID.
answered() {
	grep -q "hsp/results/did:hsp:scope/$2 " "$1"
}

broker_start

# --- refused callbacks --------------------------------------------------
hsp_config
start_daemon
wait_hsp_connected
watch_topic victim-watch hsp/requests/did:hsp:victim 1 "$T/victim"
victim=$HELPER_PID
loadpeer -n 3000 --bad-callback-every 120 --callback --requires-ack
assert_all_answered 3000 "refused callbacks"
assert_fields "refused callbacks" "$LP" \
    acked 3000 \
    by_status.success 2975 \
    by_status.failure 25 \
    by_error.bad_callback 25 \
    reconnects 0
status_json
assert_fields "refused callbacks: status" "$OUT" \
    services.hsp.bad_callbacks 25 \
    services.hsp.reconnects 0 \
    services.hsp.publisher.reconnects 0 \
    services.hsp.intake.publishes_refused 0 \
    services.hsp.connected true
kill "$victim" 2>/dev/null
wait_exit "$victim" 5
CHECKS=$((CHECKS + 1))
if [[ ! -s $T/victim ]]; then
	pass "refused callbacks: nothing reached the victim's request topic"
else
	fail "refused callbacks: nothing reached the victim's request topic" \
	    "$(head -c 500 "$T/victim")"
fi

# --- a flood --------------------------------------------------------------
pad=$("$PYTHON" -E -S -c 'print("{\"pad\":\"%s\"}" % ("x" * 4000))')
flood() {
	local name=$1 count=$2 k pids=() before
	rm -f "$T/stop" "$T/polls"
	before=$(daemon_hwm)
	start_helper status_poller "$T/polls" "$T/stop"
	local poller=$HELPER_PID
	for k in 1 2 3; do
		start_helper timeout -k 2 110 "$LOADPEER" -p "$BROKER_PORT" \
		    --target "$AI_ID" --id "did:hsp:flood-$k" -n "$count" \
		    --params "$pad" --requires-ack --wait 60 \
		    >"$T/flood.$k" 2>"$T/flood.$k.err"
		pids+=("$HELPER_PID")
	done
	for k in 1 2 3; do
		wait_exit "${pids[k - 1]}" 110 ||
			fatal "$name: loadpeer $k did not finish"
		LP_RC=$EXIT_STATUS
		LP=$(cat "$T/flood.$k")
		LP_ERR=$(cat "$T/flood.$k.err")
		assert_all_answered "$count" "$name: peer $k"
		note "$name: peer $k: $(jfield requests_per_s "$LP") requests/s"
	done
	touch "$T/stop"
	wait_exit "$poller" 40
	assert_status_answered "$name" "$T/polls"
	assert_hwm_growth "$name" "$before" 150
}
flood "flood" $((10000 / SLOWDOWN))
status_json
note "flood: intake $(jfield services.hsp.intake "$OUT")"

hsp_config '"max_tasks_in_flight": 1'
run ctl reload-hsp
assert_rc 0 "reload-hsp to max_tasks_in_flight 1"
flood "flood at max_tasks_in_flight 1" $((2000 / SLOWDOWN))
status_json
pauses=$(jfield services.hsp.intake.pauses "$OUT")
note "flood at max_tasks_in_flight 1: the intake paused $pauses times"
assert_gt 0 "$pauses" "flood at max_tasks_in_flight 1: the intake paused"
assert_json services.hsp.intake.held 0 \
    "flood at max_tasks_in_flight 1: nothing left held" "$OUT"
stop_daemon "flood: the daemon exits 0 on SIGTERM"

# --- a 30 MB message ------------------------------------------------------
big=$T/big.json
"$PYTHON" -E -S -c '
import sys
n = 30 * 1024 * 1024 // 3
sys.stdout.write("{\"x\":[" + ",".join(["{}"] * n) + "]}")
' >"$big"
big_message() {
	local name=$1 before
	before=$(daemon_hwm)
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 \
	    -t hsp/knowledge/facts/big -f "$big" ||
		fatal "$name: cannot publish the 30 MB message"
	# A fact after it: once it is counted, the big one was handled.
	envelope Fact "fact-after-$name" did:hsp:big \
	    '{"id":"f1","statement_type":"natural_language","source_ai_id":"did:hsp:big","timestamp_created":"2026-01-01T00:00:00Z","confidence_score":1}' |
	    publish hsp/knowledge/facts/big
	assert_eventually "$name: the fact after it is received" 20 \
	    status_is services.hsp.received_by_type.Fact 1
	assert_daemon_alive "$name: the daemon is alive"
	assert_hwm_growth "$name" "$before" 200
}
# With PROTOCOL (mqttv5, mqttv311) the daemon counts TOO_LARGE messages
# as too large: with MQTT 5 the broker keeps the message from it.
big_message_with() {
	local protocol=$1 too_large=$2 name="30 MB message, $1"
	hsp_config "\"protocol\": \"$protocol\""
	start_daemon
	wait_hsp_connected
	big_message "$name"
	status_json
	assert_fields "$name: status" "$OUT" \
	    services.hsp.malformed.too_large "$too_large" \
	    services.hsp.malformed.not_json 0
	((too_large == 0)) ||
		assert_log "over hsp.max_message_bytes" "$name: logged"
	stop_daemon "$name: the daemon exits 0"
}
big_message_with mqttv5 0
big_message_with mqttv311 1
rm -f "$big"

# --- scope --------------------------------------------------------------
# A retained request, published before the daemon starts.
send_request retained-1 m-retained "hsp/requests/$AI_ID" -r
hsp_config '"dedup_window": 4, "dedup_window_bytes": 65536'
start_daemon
wait_hsp_connected
watch_topic scope-watch 'hsp/results/did:hsp:scope/#' 3 "$T/scope"
scope=$HELPER_PID
# A request on the facts topic (every pool member gets those).
send_request facts-1 m-facts hsp/knowledge/facts/x
# A request, ten facts, then its retry with the same message_id.
send_request retry-1 m-retry "hsp/requests/$AI_ID"
for i in $(seq 1 10); do
	envelope Fact "fact-$i" did:hsp:scope \
	    '{"id":"f","statement_type":"natural_language","source_ai_id":"did:hsp:scope","timestamp_created":"2026-01-01T00:00:00Z","confidence_score":1}' |
	    publish hsp/knowledge/facts/x
done
send_request retry-1 m-retry "hsp/requests/$AI_ID"
# Two more, the second the sentinel: once it is answered, so is the rest.
send_request other-1 m-other "hsp/requests/$AI_ID"
send_request sentinel-1 m-sentinel "hsp/requests/$AI_ID"
wait_helper "$scope" 20
assert_eventually "scope: the sentinel is answered" 10 answered "$T/scope" sentinel-1
for id in retained-1 facts-1; do
	CHECKS=$((CHECKS + 1))
	if ! answered "$T/scope" $id; then
		pass "scope: $id was not run"
	else
		fail "scope: $id was not run" "$(cat "$T/scope")"
	fi
done
CHECKS=$((CHECKS + 1))
if [[ $(grep -c "hsp/results/did:hsp:scope/retry-1 " "$T/scope") == 1 ]]; then
	pass "scope: the retry after ten facts ran once"
else
	fail "scope: the retry after ten facts ran once" "$(cat "$T/scope")"
fi
# Long message ids: the window keeps to its bytes.
long_id=$("$PYTHON" -E -S -c 'print("L" * 8000)')
for i in $(seq 1 20); do
	send_request "long-$i" "$long_id-$i" "hsp/requests/$AI_ID"
done
# And a fact with a 100 KB statement.
stmt=$("$PYTHON" -E -S -c 'print("s" * 100000)')
envelope Fact fact-long did:hsp:scope \
    "{\"id\":\"f\",\"statement_type\":\"natural_language\",\"source_ai_id\":\"did:hsp:scope\",\"timestamp_created\":\"2026-01-01T00:00:00Z\",\"confidence_score\":1,\"statement_nl\":\"$stmt\"}" |
    publish hsp/knowledge/facts/x
assert_eventually "scope: the long requests are handled" 10 \
    status_is services.hsp.received_by_type.Fact 11
status_json
assert_fields "scope: status" "$OUT" \
    services.hsp.requests_wrong_topic 1 \
    services.hsp.requests_retained 1 \
    services.hsp.duplicates_dropped 1 \
    services.hsp.dedup.max_bytes 65536
bytes=$(jfield services.hsp.dedup.bytes "$OUT")
held=$(jfield services.hsp.dedup.held "$OUT")
note "scope: the dedup window holds $held ids in $bytes bytes"
CHECKS=$((CHECKS + 1))
if [[ $bytes =~ ^[0-9]+$ ]] && ((bytes <= 65536 && held < 20)); then
	pass "scope: the dedup window keeps to dedup_window_bytes"
else
	fail "scope: the dedup window keeps to dedup_window_bytes" \
	    "bytes $bytes, ids $held"
fi
stmt_length=$(jpy 'len(d["services"]["hsp"]["recent_facts"][-1]["statement_nl"])')
assert_le 256 "$stmt_length" "scope: status keeps at most 256 bytes of a statement"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -r -n \
    -t "hsp/requests/$AI_ID"

# --- a refusal at reconnection ---------------------------------------------
# The broker comes back without anonymous access (a revoked credential):
# status names the refusal, not "disconnected", and each refused attempt
# starts one back-off, not two.
sed -i 's/^allow_anonymous true$/allow_anonymous false/' \
    "$BROKER_DIR/mosquitto.conf"
broker_ctl restart
refused() {
	[[ $(grep -c "cannot connect: .*refused the connection: Not authorized" \
	    "$LOG") -ge 2 ]]
}
assert_eventually "refusal: two refused attempts are logged" 15 refused
status_json
assert_match "refused the connection: Not authorized" \
    "$(jfield services.hsp.last_error "$OUT")" \
    "refusal: status names the broker's refusal"
CHECKS=$((CHECKS + 1))
if ! grep -q "cannot connect: .*: disconnected" "$LOG"; then
	pass "refusal: no second failure is reported for the same attempt"
else
	fail "refusal: no second failure is reported for the same attempt" \
	    "$(grep "cannot connect" "$LOG" | tail -n 6)"
fi

test_done
