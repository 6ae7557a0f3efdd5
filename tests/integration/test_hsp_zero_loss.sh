#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_zero_loss.sh -- the promise of blue/green reload-hsp: while a
# peer publishes thousands of TaskRequests (some retried with the same
# message_id), reload-hsp runs again and again, and still every request is
# acknowledged and answered exactly once, the broker never finds the
# request topic without a subscriber, every reload succeeds, the generation
# counts them, and the retired connectors all go away.  Once with MQTT 5,
# once (smaller) with MQTT 3.1.1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

# Run reload-hsp one after another until the file STOP exists and at least
# MIN have run (at most MAX); append each exit status to FILE and each
# stderr to FILE.err.
reload_loop() {
	local file=$1 stop=$2 min=$3 max=$4 n=0
	while ((n < max)) && { ((n < min)) || [[ ! -e $stop ]]; }; do
		ctl reload-hsp >/dev/null 2>>"$file.err"
		echo "$?" >>"$file"
		n=$((n + 1))
	done
}

# Succeeds when no hsp generation is retiring.
nothing_retiring() {
	status_is services.hsp.retiring '[]'
}

# One run: NAME, COUNT requests at RATE per second with reload-hsp running
# in a loop (at least RELOADS times) from the moment the peer is subscribed
# until it has its last result.
zero_loss() {
	local name=$1 count=$2 reloads=$3 rate=$4 peer loop n failed overlap
	local dropped
	local rcs=$T/reloads.$name
	rm -f "$T/ready" "$T/stop"
	start_helper timeout -k 2 120 "$LOADPEER" -p "$BROKER_PORT" \
	    --target "$AI_ID" --id "did:hsp:peer-$name" -n "$count" \
	    --rate "$rate" --requires-ack --duplicate-every 25 --wait 20 \
	    --ready-file "$T/ready" >"$T/peer.$name" 2>"$T/peer.$name.err"
	peer=$HELPER_PID
	wait_until 10 test -e "$T/ready" ||
		fatal "$name: loadpeer was not subscribed within 10 s" \
		    "$(cat "$T/peer.$name.err")"
	start_helper reload_loop "$rcs" "$T/stop" "$reloads" 2000
	loop=$HELPER_PID
	wait_exit "$peer" 100 || fatal "$name: loadpeer did not finish"
	LP_RC=$EXIT_STATUS
	overlap=$(wc -l <"$rcs")
	touch "$T/stop"
	wait_exit "$loop" 60 || fatal "$name: the reload loop did not finish"
	LP=$(cat "$T/peer.$name")
	LP_ERR=$(cat "$T/peer.$name.err")

	n=$(wc -l <"$rcs")
	failed=$(grep -cvx 0 "$rcs")
	note "$name: $n reloads, $overlap of them while the peer ran"
	assert_ge "$reloads" "$n" "$name: at least $reloads reload-hsp ran"
	CHECKS=$((CHECKS + 1))
	if ((failed == 0)); then
		pass "$name: every reload-hsp exited 0"
	else
		fail "$name: every reload-hsp exited 0" \
		    "$failed failed; exit statuses:" "$(sort "$rcs" | uniq -c)" \
		    "stderr:" "$(head -c 2000 "$rcs.err")"
	fi

	assert_all_answered "$count" "$name: $count requests during reloads"
	assert_fields "$name" "$LP" \
	    acked "$count" \
	    by_status.success "$count" \
	    retries_sent $((count / 25)) \
	    no_subscribers 0 \
	    puback_errors 0 \
	    publish_errors 0 \
	    payload_mismatch 0 \
	    bad_acks 0

	assert_eventually "$name: no generation left retiring" 20 nothing_retiring
	status_json
	assert_fields "$name: status" "$OUT" \
	    services.hsp.generation $((1 + n)) \
	    services.hsp.connected true \
	    services.hsp.state running \
	    services.hsp.last_reload.ok true \
	    services.hsp.retiring '[]' \
	    services.hsp.in_flight 0 \
	    services.hsp.tasks_in_flight 0 \
	    services.hsp.results_sent "$count" \
	    services.hsp.publish_failed 0 \
	    services.tool_dispatcher.completed "$count" \
	    services.tool_dispatcher.failed 0
	dropped=$(jfield services.hsp.duplicates_dropped)
	assert_ge $((count / 25)) "$dropped" \
	    "$name: duplicates_dropped >= the $((count / 25)) retries"
}

broker_start
hsp_config '"retire_timeout_s": 10'
start_daemon
wait_hsp_connected
zero_loss mqttv5 5000 50 1500
assert_daemon_alive "mqttv5: the daemon is still running"
stop_daemon "mqttv5: the daemon exits 0 on SIGTERM"

hsp_config '"protocol": "mqttv311", "retire_timeout_s": 10'
start_daemon
wait_hsp_connected
assert_json services.hsp.protocol mqttv311 "mqttv311: status says mqttv311" \
    "$(ctl -j status)"
zero_loss mqttv311 1000 10 1000
assert_daemon_alive "mqttv311: the daemon is still running"

test_done
