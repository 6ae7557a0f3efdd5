#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_persistent.sh -- with "session": "persistent" the broker keeps
# the daemon's session while it is stopped: TaskRequests published while it
# is away are queued, and answered once it is back.  After a reload-hsp the
# connector uses the other of its two client ids ("-a"/"-b"); a restart
# must still find the session the broker kept.  MQTT 3.1.1 cannot end the
# session of a replaced connector, so a persistent session with mqttv311 is
# refused: by --check-config, at start-up, and by a reload (which changes
# nothing).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

# One stop/publish/start cycle, NAME: stop the daemon, publish 100 requests
# while it is away, start a collector for their results, start the daemon
# again, and check that every request was answered.
away_cycle() {
	local name=$1 collector
	stop_daemon "$name: the daemon exits 0 on SIGTERM" || return 1

	loadpeer -n 100 --requires-ack --id "did:hsp:peer-$name" \
	    --publish-only --state "$T/state.$name"
	assert_eq 0 "$LP_RC" "$name: loadpeer published (exit 0)"
	# no_subscribers 0: the broker kept the session's subscription.
	assert_fields "$name: published while the daemon was away" "$LP" \
	    sent 100 \
	    pubacks_missing 0 \
	    puback_errors 0 \
	    no_subscribers 0

	rm -f "$T/ready.$name"
	start_helper timeout -k 2 60 "$LOADPEER" -p "$BROKER_PORT" \
	    --collect-only 8 --state "$T/state.$name" \
	    --ready-file "$T/ready.$name" \
	    >"$T/collect.$name" 2>"$T/collect.$name.err"
	collector=$HELPER_PID
	wait_until 10 test -e "$T/ready.$name" ||
		fatal "$name: the collector did not subscribe within 10 s" \
		    "$(cat "$T/collect.$name.err")"

	start_daemon
	wait_exit "$collector" 40 || fatal "$name: the collector did not finish"
	LP_RC=$EXIT_STATUS
	LP=$(cat "$T/collect.$name")
	LP_ERR=$(cat "$T/collect.$name.err")
	assert_all_answered 100 "$name: requests sent while the daemon was away"
	assert_fields "$name: requests sent while the daemon was away" "$LP" \
	    acked 100 \
	    by_status.success 100
}

broker_start
hsp_config '"session": "persistent", "protocol": "mqttv5"'
start_daemon
wait_hsp_connected
status_json
assert_fields "status" "$OUT" \
    services.hsp.session persistent \
    services.hsp.protocol mqttv5 \
    services.hsp.connected true
first_id=$(jfield services.hsp.client_id)
assert_match '^hr-.*-[ab]$' "$first_id" \
    "the client id ends in -a or -b ($first_id)"

away_cycle restart
wait_hsp_connected
assert_eq "$first_id" "$(status_field services.hsp.client_id)" \
    "after the restart, the same client id"

# A reload moves the connector to the other id; a restart finds it.
run ctl reload-hsp
assert_rc 0 "reload-hsp exits 0"
second_id=$(status_field services.hsp.client_id)
assert_eq "${first_id%-?}" "${second_id%-?}" \
    "after reload-hsp, the same client id stem"
CHECKS=$((CHECKS + 1))
if [[ $second_id != "$first_id" && $second_id == *-[ab] ]]; then
	pass "after reload-hsp, the other letter ($second_id)"
else
	fail "after reload-hsp, the other letter" \
	    "before: $first_id" "after:  $second_id"
fi

away_cycle after-reload
wait_hsp_connected
assert_eq "$second_id" "$(status_field services.hsp.client_id)" \
    "after the restart, the session's client id"

# Twice more: back to the first letter, and a restart still finds it.
run ctl reload-hsp
assert_rc 0 "second reload-hsp exits 0"
assert_eq "$first_id" "$(status_field services.hsp.client_id)" \
    "after a second reload-hsp, the first letter again"
away_cycle after-two-reloads
wait_hsp_connected
assert_eq "$first_id" "$(status_field services.hsp.client_id)" \
    "after the restart, the session's client id again"

# Persistent with MQTT 3.1.1: refused, with the reason.
cp "$CONFIG" "$T/mqttv5.conf"
hsp_config '"session": "persistent", "protocol": "mqttv311"'
run "$HOTRELOADD" -t -c "$CONFIG"
assert_rc 1 "mqttv311: --check-config refuses a persistent session"
assert_match "^$CONFIG:[0-9]+:[0-9]+: hsp.session: .*\"mqttv5\"" "$ERR" \
    "mqttv311: --check-config names hsp.session and mqttv5"
run ctl reload-hsp
assert_rc 1 "mqttv311: reload-hsp of a persistent session exits 1"
assert_contains "hsp.session" "$ERR" "mqttv311: reload-hsp names hsp.session"
status_json
assert_fields "mqttv311: after the refused reload" "$OUT" \
    services.hsp.protocol mqttv5 \
    services.hsp.client_id "$first_id" \
    services.hsp.connected true
loadpeer -n 50 --requires-ack
assert_all_answered 50 "mqttv311: the running connector still answers"
stop_daemon "the daemon exits 0"
run timeout -k 2 10 "$HOTRELOADD" -c "$CONFIG"
assert_rc 78 "mqttv311: hotreloadd refuses to start with a persistent session (78, EX_CONFIG)"
assert_contains "hsp.session" "$ERR" "mqttv311: the start-up error names hsp.session"

test_done
