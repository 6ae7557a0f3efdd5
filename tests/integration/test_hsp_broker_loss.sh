#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hsp_broker_loss.sh -- the daemon runs without its broker and finds it
# again: started while the broker is down it answers on its control socket
# with hsp degraded and the cause; once the broker is up it connects on its
# own (capped back-off) and answers requests.  A broker that dies (SIGKILL)
# while idle, and again in the middle of a stream of requests, is
# reconnected to, counted in status, and serving resumes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

# Succeeds when status shows a last_error.
hsp_has_error() {
	local error
	error=$(status_field services.hsp.last_error) || return 1
	[[ -n $error && $error != null ]]
}

# Succeeds when the connector has counted more than $1 reconnections and is
# connected again.
reconnected_since() {
	local json fields
	json=$(ctl -j status 2>/dev/null) || return 1
	mapfile -t fields < <(jfields "$json" services.hsp.reconnects \
	    services.hsp.connected)
	[[ ${fields[0]-} =~ ^[0-9]+$ ]] && ((fields[0] > $1)) &&
	    [[ ${fields[1]-} == true ]]
}

# Wait up to TIMEOUT seconds until CMD... succeeds or the daemon dies;
# fatal if it died.
wait_or_die() {
	local timeout=$1 deadline
	shift
	deadline=$(($(now_ms) + timeout * 1000))
	while ! "$@" >/dev/null 2>&1; do
		if ! process_running "$DAEMON_PID"; then
			wait "$DAEMON_PID"
			local status=$?
			forget_pid "$DAEMON_PID"
			fatal "hotreloadd died (exit status $status) while" \
			    "waiting for: $*"
		fi
		(($(now_ms) >= deadline)) && return 1
		sleep 0.05
	done
}

# Succeeds when the daemon's connection to the broker holds bytes the
# daemon has not read yet.
daemon_has_backlog() {
	ss -tnpH state established "( dport = :$BROKER_PORT )" |
	    awk -v pid="pid=$DAEMON_PID," '
		index($0, pid) && $1 > 0 { found = 1 }
		END { exit !found }'
}

# The connector counts more reconnections than RECONNECTS and is connected
# again within 35 s (fatal if the daemon dies meanwhile): the check DESC.
assert_reconnects() {
	local desc=$1 reconnects=$2
	CHECKS=$((CHECKS + 1))
	if wait_or_die 35 reconnected_since "$reconnects"; then
		pass "$desc"
	else
		fail "$desc" "$(ctl -j status 2>&1 | head -c 3000)"
	fi
}

# The broker is started once to learn a free port, then stopped: the
# daemon starts without it.
broker_start
broker_ctl stop
hsp_config
start_daemon
assert_eventually "broker down: status shows the connection error" 10 hsp_has_error
status_json
assert_fields "broker down: status" "$OUT" \
    services.hsp.connected false \
    services.hsp.state degraded \
    services.hsp.generation 1 \
    services.hsp.initialized true
assert_contains "127.0.0.1:$BROKER_PORT" "$(jfield services.hsp.last_error)" \
    "broker down: last_error names the broker"
assert_daemon_alive "broker down: the daemon runs"

# The broker comes back on the same port: the daemon connects on its own
# (back-off is capped at 30 s).
broker_ctl restart
t0=$(now_ms)
assert_eventually "broker up: the daemon connects" 35 hsp_connected
note "connected $(($(now_ms) - t0)) ms after the broker came up"
status_json
assert_fields "broker up: status" "$OUT" \
    services.hsp.connected true \
    services.hsp.state running \
    services.hsp.last_error null \
    services.hsp.generation 1
loadpeer -n 100 --requires-ack
assert_all_answered 100 "broker up: 100 requests"
assert_lp acked 100 "broker up: 100 requests acknowledged"

# The broker dies while the daemon is idle.
reconnects=$(status_field services.hsp.reconnects)
broker_ctl kill
broker_ctl restart
assert_reconnects "idle broker kill: the daemon reconnects and counts it" \
    "$reconnects"
loadpeer -n 100 --requires-ack
assert_all_answered 100 "after an idle broker kill: 100 requests"

# The broker dies in the middle of a stream of requests sent as fast as
# it takes them, while the daemon is behind: it is stopped (SIGSTOP) until
# requests wait unread on its connection, the broker is killed, and the
# daemon goes on (SIGCONT) to find requests to answer and a dead broker.
# Twice, since the order in which it notices the two differs.
kill_mid_stream() {
	local round=$1 reconnects completed stream
	reconnects=$(status_field services.hsp.reconnects)
	completed=$(status_field services.tool_dispatcher.completed)
	start_helper timeout -k 2 60 "$LOADPEER" -p "$BROKER_PORT" \
	    --target "$AI_ID" --id "did:hsp:peer-stream-$round" -n 6000 \
	    --requires-ack --wait 2 \
	    >"$T/stream.$round" 2>"$T/stream.$round.err"
	stream=$HELPER_PID
	wait_or_die 20 status_at_least services.tool_dispatcher.completed \
	    $((completed + 1000)) ||
		fatal "$round: the stream was not being answered" \
		    "$(cat "$T/stream.$round.err")"
	kill -STOP "$DAEMON_PID"
	if ! wait_until 10 daemon_has_backlog; then
		kill -CONT "$DAEMON_PID"
		fatal "$round: no requests waited for the stopped daemon"
	fi
	broker_ctl kill
	kill -CONT "$DAEMON_PID"
	broker_ctl restart
	assert_reconnects "$round: the daemon reconnects and counts it" "$reconnects"
	assert_daemon_alive "$round: the daemon is still running"
	note "$round: $(grep -o 'lost the broker.*' "$LOG" | tail -n 1)"
	wait_exit "$stream" 60 || fatal "$round: the stream's loadpeer did not finish"
	# Requests the broker lost with its death, or got before the daemon
	# was subscribed again, go unanswered (nobody queues them for a clean
	# session); what was answered must be well formed.
	LP=$(cat "$T/stream.$round")
	note "$round: $(jfields "$LP" sent answered missing duplicates \
	    no_subscribers | paste -sd' ')"
	assert_lp bad 0 "$round: every result that came is well formed"
}

kill_mid_stream "broker kill mid-stream (1)"
kill_mid_stream "broker kill mid-stream (2)"
loadpeer -n 100 --requires-ack
assert_all_answered 100 "after a broker kill mid-stream: 100 more requests"
assert_lp acked 100 "after a broker kill mid-stream: 100 more acknowledged"
status_json
assert_fields "at the end: status" "$OUT" \
    services.hsp.connected true \
    services.hsp.state running \
    services.hsp.generation 1 \
    services.hsp.last_error null

test_done
