# shellcheck shell=bash
#
# hsp.sh -- what the HSP integration tests (test_hsp_*.sh) source after
# lib.sh.
#
# Gives a test its own mosquitto broker in the test's temp dir (started with
# tests/support/broker, stopped by the EXIT trap before lib.sh's cleanup
# removes the dir), a configuration with an hsp section pointing at it, the
# load peer (tests/support/loadpeer) with its report in LP, and polls on the
# daemon's status.  Every wait is a poll with a deadline.

LOADPEER=$TOP/tests/support/loadpeer
BROKER=$TOP/tests/support/broker
# The agent under test.
AI_ID=did:hsp:agent-under-test
BROKER_DIR=$T/broker
BROKER_PORT=
# The last loadpeer report (one JSON line), its exit status, and stderr.
LP=
LP_RC=
LP_ERR=
# Seconds loadpeer waits for results after its last publish.  Results come
# back within milliseconds; this only bounds a run against a dead daemon.
LP_WAIT=10

[[ -x $LOADPEER ]] ||
	fatal "$LOADPEER is not built; run \"make tests/support/loadpeer\""
command -v mosquitto_sub >/dev/null ||
	fatal "mosquitto_sub is missing (package mosquitto-clients)"

# EXIT trap: stop the daemons (so they leave the broker the way they would
# at a normal shutdown), then the broker, then lib.sh's cleanup, which
# reports and removes the temp dir.  The exit status goes through.
hsp_cleanup() {
	local status=$?
	set +e
	stop_daemons 5
	[[ -f $BROKER_DIR/mosquitto.conf ]] &&
		"$BROKER" stop "$BROKER_DIR" >/dev/null 2>&1
	(exit "$status")
	cleanup
}
trap hsp_cleanup EXIT

# Start the test's broker; sets BROKER_PORT.
broker_start() {
	BROKER_PORT=$("$BROKER" start "$BROKER_DIR") ||
		fatal "cannot start the broker"
}

# The broker: stop, restart (same port) or kill (SIGKILL).
broker_ctl() {
	"$BROKER" "$1" "$BROKER_DIR" >/dev/null ||
		fatal "broker $1 failed"
}

# hsp_config [EXTRA [CONTROL [PORT]]]: write CONFIG with ai_id AI_ID and
# an hsp section for the broker on PORT (default BROKER_PORT) with the
# further members EXTRA (JSON text); CONTROL as for write_config.
#   hsp_config '"session": "persistent"'
# shellcheck disable=SC2120  # every argument is optional
hsp_config() {
	local extra=${1-} control=${2-} port=${3-$BROKER_PORT} hsp
	hsp=$(printf '"broker": {"host": "127.0.0.1", "port": %s}' "$port")
	[[ -n $extra ]] && hsp+=", $extra"
	write_config "$control" "$(printf '"ai_id": "%s",\n  "hsp": {%s}' \
	    "$AI_ID" "$hsp")"
}

# secure_config BROKER [EXTRA]: write CONFIG with ai_id AI_ID and an hsp
# section whose broker object has the members BROKER (JSON text: host,
# port, tls, username ...), and the further hsp members EXTRA.
#   secure_config '"host": "127.0.0.1", "port": 8883, "tls": {...}'
secure_config() {
	local hsp="\"broker\": {$1}"
	[[ -n ${2-} ]] && hsp+=", $2"
	write_config '' "$(printf '"ai_id": "%s",\n  "hsp": {%s}' "$AI_ID" \
	    "$hsp")"
}

# make_pki DIR [make-pki options]: a CA with server and client
# certificates in DIR (scripts/make-pki).
make_pki() {
	local dir=$1
	shift
	"$TOP/scripts/make-pki" "$@" "$dir" >/dev/null ||
		fatal "scripts/make-pki $* $dir failed"
}

# listener_file NAME LINE...: write $T/NAME.conf for "broker start
# --listener" (its port is then in $BROKER_DIR/NAME.port) and add it to
# LISTENERS.
LISTENERS=()
listener_file() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$T/$name.conf"
	LISTENERS+=(--listener "$T/$name.conf")
}

# Start the test's broker with the listeners of LISTENERS; sets BROKER_PORT
# (the plain, anonymous one).
broker_start_listeners() {
	BROKER_PORT=$("$BROKER" start "${LISTENERS[@]}" "$BROKER_DIR") ||
		fatal "cannot start the broker"
}

# The port of listener NAME.
listener_port() {
	cat "$BROKER_DIR/$1.port"
}

# Succeeds when the hsp connector is connected and subscribed.
hsp_connected() {
	status_is services.hsp.connected true
}

# Wait up to TIMEOUT seconds (default 10) for the connector to be up.
# shellcheck disable=SC2120  # TIMEOUT is optional
wait_hsp_connected() {
	local timeout=${1-10}
	wait_until "$timeout" hsp_connected ||
		fatal "hsp did not connect within $timeout s" \
		    "$(ctl -j status 2>&1 | head -c 3000)"
}

# Run loadpeer against the test's broker and agent with ARGS; the report
# goes to LP, the exit status to LP_RC, stderr to LP_ERR.
loadpeer() {
	timeout -k 2 120 "$LOADPEER" -p "$BROKER_PORT" --target "$AI_ID" \
	    --wait "$LP_WAIT" "$@" >"$T/lp.out" 2>"$T/lp.err"
	LP_RC=$?
	LP=$(cat "$T/lp.out")
	LP_ERR=$(cat "$T/lp.err")
}

# Field PATH of the loadpeer report in LP equals EXPECTED.
assert_lp() {
	assert_json "$1" "$2" "$3" "$LP"
}

# Check a loadpeer report (LP, or $3): N requests sent, each answered
# exactly once, with well-formed results.
assert_all_answered() {
	local n=$1 desc=$2 report=${3-$LP}
	CHECKS=$((CHECKS + 1))
	if [[ $LP_RC == 0 ]]; then
		pass "$desc: loadpeer ran (exit 0)"
	else
		fail "$desc: loadpeer ran (exit 0)" "exit status: $LP_RC" \
		    "stderr: ${LP_ERR:0:2000}"
	fi
	assert_fields "$desc" "$report" sent "$n" answered "$n" missing 0 \
	    duplicates 0 bad 0
}

# Start mosquitto_sub as client id ID on FILTER, printing "topic payload"
# of the first COUNT messages to FILE; return once the broker has logged its
# subscription.  Sets HELPER_PID.
watch_topic() {
	local id=$1 filter=$2 count=$3 file=$4
	# -R: what is published from now on, not the retained adverts.
	start_helper mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -i "$id" \
	    -q 1 -v -R -t "$filter" -C "$count" -W 20 >"$file" 2>&1
	wait_until 10 grep -qF -- "$id 1 $filter" \
	    "$BROKER_DIR/mosquitto.log" ||
		fatal "mosquitto_sub $id did not subscribe to $filter"
}

# The watch_topic helper PID got its messages: it ends within 15 s.  DESC
# is the check; FILE, what the helper printed, shows when it fails.
assert_watched() {
	local desc=$1 pid=$2 file=$3
	CHECKS=$((CHECKS + 1))
	if wait_helper "$pid" 15; then
		pass "$desc"
	else
		fail "$desc" "$(cat "$file")"
	fi
}

# The process started as PID ends within TIMEOUT seconds (it is reaped).
wait_helper() {
	local pid=$1 timeout=$2
	if ! wait_exit "$pid" "$timeout"; then
		kill "$pid" 2>/dev/null
		wait_exit "$pid" 5
		return 1
	fi
}

# The payload of line N (default 1) of a watch_topic FILE.
watched_payload() {
	sed -n "${2-1}p" "$1" | cut -d' ' -f2-
}

# The topic of line N (default 1) of a watch_topic FILE.
watched_topic() {
	sed -n "${2-1}p" "$1" | cut -d' ' -f1
}

# Print a free TCP port on 127.0.0.1 that nothing listens on (the kernel
# picks it from the ephemeral range, so the broker script never takes it).
closed_port() {
	"$PYTHON" -E -S -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# --- for the tests that abuse the control socket with reloads ---------------

# 1 while broker_signal has the broker stopped.
BROKER_STOPPED=0

# Stop (STOP) or continue (CONT) the broker's process: while it is
# stopped, the kernel still accepts TCP connections for it, so a new
# connector's CONNACK, and with it a reload-hsp, waits until it continues.
broker_signal() {
	kill "-$1" "$(cat "$BROKER_DIR/mosquitto.pid")" ||
		fatal "cannot send SIG$1 to the broker"
	if [[ $1 == STOP ]]; then BROKER_STOPPED=1; else BROKER_STOPPED=0; fi
}

# EXIT trap of a test that stops the broker (broker_signal): a stopped
# broker would hold up hsp_cleanup, so it is continued first.
#   trap hsp_cleanup_stopped_broker EXIT
hsp_cleanup_stopped_broker() {
	local status=$?
	((BROKER_STOPPED)) && kill -CONT "$(cat "$BROKER_DIR/mosquitto.pid")"
	(exit "$status")
	hsp_cleanup
}

# Print "RUNNING PENDING CONNECTED" of a fresh status.
queue_state() {
	local json
	json=$(ctl -t 5 -j status) || return 1
	jfields "$json" queue.running.command queue.pending \
	    clients.connected | paste -sd' '
}

# Succeeds when queue_state prints $1.
queue_state_is() {
	[[ $(queue_state) == "$1" ]]
}

# Start N hotreloadctl COMMAND in the background, each writing
# $T/$PREFIX.I.{out,err,rc}.
start_clients() {
	local prefix=$1 n=$2 i
	shift 2
	CLIENT_PIDS=()
	for ((i = 0; i < n; i++)); do
		(
			ctl "$@" >"$T/$prefix.$i.out" 2>"$T/$prefix.$i.err"
			echo $? >"$T/$prefix.$i.rc"
		) &
		CLIENT_PIDS+=($!)
	done
}

# How many of the N clients PREFIX have ended.
clients_done() {
	local prefix=$1 n=$2 i done=0
	for ((i = 0; i < n; i++)); do
		[[ -s $T/$prefix.$i.rc ]] && done=$((done + 1))
	done
	echo "$done"
}

# Sum up how the N clients PREFIX ended: "ok=K queue_full=M" (other
# endings as "exit-S:first words of stderr"), sorted.  Builtins only: 60
# forks take seconds on a loaded machine.
client_outcomes() {
	local prefix=$1 n=$2 i rc err key
	local -A tally=()
	for ((i = 0; i < n; i++)); do
		rc='' err=''
		{ read -r rc <"$T/$prefix.$i.rc"; } 2>/dev/null
		{ IFS= read -r err <"$T/$prefix.$i.err"; } 2>/dev/null
		if [[ $rc == 0 ]]; then
			key=ok
		elif [[ $rc == 1 && $err == "hotreloadctl: queue_full: "* ]]; then
			key=queue_full
		else
			err=${err:0:60}
			key="exit-${rc:-none}:${err// /_}"
		fi
		tally[$key]=$((${tally[$key]-0} + 1))
	done
	for key in "${!tally[@]}"; do
		printf '%s=%s\n' "$key" "${tally[$key]}"
	done | sort | paste -sd' '
}

# Count of OUTCOME (ok, queue_full) in an outcome summary.
outcome_count() {
	local re="(^| )$2=([0-9]+)"
	if [[ $1 =~ $re ]]; then echo "${BASH_REMATCH[2]}"; else echo 0; fi
}
