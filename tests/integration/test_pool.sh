#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_pool.sh -- a pool: three daemons with one ai_id and one share group
# ("pool") on one broker share one request stream.  6,000 echo requests
# stream in while scripts/rolling-reload drains, reload-hsp's, reload-llm's
# and resumes each member in turn: every request is answered exactly once,
# none is rejected, the broker never finds the group empty, and every
# member served some.  Then one member leaves the group (drain --wait) and
# joins again (resume) under load: while out, it serves nothing (also across
# a reload-hsp), the others serve everything.  A quick pass with MQTT 3.1.1.
# A daemon without a share group still rejects while draining.  And the
# script's own paths: -n, a failing reload (the member is resumed), a dead
# target caught by the preflight, a member whose reload --check fails
# (caught before any member is drained), an ssh: target.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

ROLLING=$TOP/scripts/rolling-reload
LLMSERVER=$TOP/tests/support/llmserver
AI_ID=did:hsp:pool-agent
SOLO_ID=did:hsp:solo-agent
MEMBERS=(1 2 3)
# Number of requests of the rolling-reload stream and its rate; the stream
# must outlast the rolling reload, so a slower build (SLOWDOWN, lib.sh)
# gets a longer one.
ROLL_N=${POOL_ROLL_N:-$((6000 * SLOWDOWN))}
ROLL_RATE=${POOL_ROLL_RATE:-400}
# The leave/re-join stream, which must outlast drain, reload-hsp and resume.
LEAVE_N=$((3000 * SLOWDOWN))
LEAVE_RATE=400

[[ -x $LLMSERVER ]] || fatal "$LLMSERVER is not built"
command -v curl >/dev/null || fatal "curl is needed"
[[ -x $ROLLING ]] || fatal "$ROLLING is missing or not executable"

# The rolling-reload script runs the tree's hotreloadctl.
export HOTRELOADCTL

# hotreloadctl on member I (0: the daemon without a share group).
mctl() {
	local i=$1
	shift
	timeout -k 2 "$CMD_TIMEOUT" "$HOTRELOADCTL" -s "$T/m$i.sock" "$@"
}

# The fields PATH... of member I's JSON status, one a line.
mfields() {
	local i=$1 json
	shift
	json=$(mctl "$i" -j status 2>/dev/null) || return 1
	jfields "$json" "$@"
}

# One field of member I's status.
mfield() {
	mfields "$1" "$2"
}

# Member I has LLM requests in flight.
member_llm_busy() {
	local n
	n=$(mfield "$1" services.llm.in_flight) || return 1
	[[ $n =~ ^[0-9]+$ ]] && ((n > 0))
}

# POST the JSON object SETTINGS to the LLM back end's /control.
llm_control() {
	curl -sS -f --max-time 10 -X POST -H 'Content-Type: application/json' \
	    --data-binary "$1" "http://127.0.0.1:$LLM_PORT/control" >/dev/null ||
		fatal "POST /control $1 to llmserver failed"
}

# Field PATH of member I's status is VALUE.
status_is_m() {
	[[ $(mfield "$1" "$2") == "$3" ]]
}

# Member I is connected and in the share group.
in_group() {
	[[ $(mfields "$1" services.hsp.connected services.hsp.in_group |
	    tr '\n' ' ') == "true true " ]]
}

# Member I has completed more than N requests.
completed_above() {
	local n
	n=$(mfield "$1" services.tool_dispatcher.completed) || return 1
	[[ $n =~ ^[0-9]+$ ]] && ((n > $2))
}

# The sum of tool_dispatcher.completed over the three members.
completed_sum() {
	local i n sum=0
	for i in "${MEMBERS[@]}"; do
		n=$(mfield "$i" services.tool_dispatcher.completed)
		[[ $n =~ ^[0-9]+$ ]] || n=0
		sum=$((sum + n))
	done
	echo "$sum"
}

# The sum is above N.
completed_sum_above() {
	(($(completed_sum) > $1))
}

# Write member I's configuration; HSP_EXTRA: more hsp members (JSON text).
member_config() {
	local i=$1 extra=${2-}
	write_config '' "\"ai_id\": \"$AI_ID\",
  \"drain\": {\"timeout_s\": 10},
  \"hsp\": {\"broker\": {\"host\": \"127.0.0.1\", \"port\": $BROKER_PORT},
           \"share_group\": \"pool\", \"retire_timeout_s\": 10${extra:+, $extra}},
  \"llm\": {\"backends\": [{\"name\": \"A\", \"provider\": \"openai\",
                          \"base_url\": \"http://127.0.0.1:$LLM_PORT/v1\",
                          \"model\": \"model-A\"}],
           \"fallback\": [\"A\"], \"probe_on_reload\": true}" \
	    "$T/m$i.conf" "$T/m$i.sock"
}

# Start member I (its configuration written) and wait until it is in the
# group.
member_start() {
	local i=$1
	CONFIG=$T/m$i.conf SOCKET=$T/m$i.sock LOG=$T/m$i.log start_daemon
	wait_until 10 in_group "$i" ||
		fatal "member $i is not in the share group after 10 s" \
		    "$(mctl "$i" -j status 2>&1 | head -c 2000)"
}

# Start loadpeer in the background as peer did:hsp:NAME with more ARGS
# (echo requests unless they name a capability), report to $T/lp.NAME;
# wait until it is subscribed.  Sets PEER_PID.
peer_start() {
	local name=$1 filter=(--capability-name echo)
	shift
	[[ " $* " == *" --capability-name "* ]] && filter=()
	rm -f "$T/ready.$name"
	start_helper timeout -k 2 120 "$LOADPEER" -p "$BROKER_PORT" \
	    --target "$AI_ID" --id "did:hsp:$name" "${filter[@]}" \
	    --requires-ack --wait 30 --ready-file "$T/ready.$name" "$@" \
	    >"$T/lp.$name" 2>"$T/lp.$name.err"
	PEER_PID=$HELPER_PID
	wait_until 10 test -e "$T/ready.$name" ||
		fatal "loadpeer $name was not subscribed within 10 s" \
		    "$(cat "$T/lp.$name.err")"
}

# Wait for the background loadpeer NAME; its report to LP, status LP_RC.
peer_wait() {
	local name=$1
	wait_exit "$PEER_PID" 90 || fatal "loadpeer $name did not finish"
	LP_RC=$EXIT_STATUS
	LP=$(cat "$T/lp.$name")
	LP_ERR=$(cat "$T/lp.$name.err")
}

# --------------------------------------------------------------------------
# Setup: the broker, one LLM back end, three members.

t_start=$(now_ms)
broker_start
rm -f "$T/llm.port"
start_helper "$LLMSERVER" --port-file "$T/llm.port" --name A \
    --log "$T/llm.log" >/dev/null
wait_until 10 test -s "$T/llm.port" || fatal "llmserver does not start"
LLM_PORT=$(<"$T/llm.port")

for i in "${MEMBERS[@]}"; do
	member_config "$i"
	member_start "$i"
done
status_json_m1=$(mctl 1 -j status)
assert_fields "member 1 status" "$status_json_m1" \
    services.hsp.share_group pool \
    services.hsp.in_group true \
    services.hsp.subscriptions.0 "\$share/pool/hsp/requests/$AI_ID" \
    services.llm.state running

# --------------------------------------------------------------------------
# 1. A rolling drain / reload-hsp / reload-llm / resume through the three
#    under a steady stream.

peer_start roll -n "$ROLL_N" --rate "$ROLL_RATE"
wait_until 10 completed_sum_above 200 ||
	fatal "the pool serves nothing of the stream"
t0=$(now_ms)
run "$ROLLING" --watch --timeout 10 --reload reload-hsp --reload reload-llm \
    "$T/m1.sock" "unix:$T/m2.sock" "$T/m3.sock"
note "rolling-reload of 3 members under load took $(($(now_ms) - t0)) ms"
printf '%s\n' "$OUT" | sed 's/^/#   /'
assert_rc 0 "rolling-reload through the pool exits 0"
assert_line "rolling-reload: all 3 targets done \(drain, reload-hsp, reload-llm, resume, check\) in .*" \
    "$OUT" "rolling-reload: the summary says all 3 done"
for i in "${MEMBERS[@]}"; do
	for cmd in reload-hsp reload-llm; do
		assert_line "\[$i/3\] [^ ]*m$i\.sock: $cmd --check: ok, the reload would succeed \(.*" \
		    "$OUT" "rolling-reload: $cmd --check on member $i before the first drain"
	done
	assert_line "\[$i/3\] [^ ]*m$i\.sock: status check: ok, not draining, hsp connected, in share group pool \(.*" \
	    "$OUT" "rolling-reload: member $i passed the status check"
done
# --watch: each member's events follow its steps.
assert_eq 3 "$(grep -cE '^  \| [0-9T:.-]+Z  command  start drain from ' <<<"$OUT")" \
    "rolling-reload --watch: the drain of each of the 3 members was watched"
assert_eq 3 "$(grep -cE '^  \| [0-9T:.-]+Z  reload   hsp +gen [0-9]+ +swap' <<<"$OUT")" \
    "rolling-reload --watch: each member's hsp swap was watched"
assert_eq 3 "$(grep -cE '^  \| [0-9T:.-]+Z  hsp      joined_group ' <<<"$OUT")" \
    "rolling-reload --watch: each member joining its share group again was watched"
last_check=$(grep -n -e ' --check: ' <<<"$OUT" | tail -n 1 | cut -d: -f1)
first_drain=$(grep -n -e ': drain --wait' <<<"$OUT" | head -n 1 | cut -d: -f1)
assert_gt "${last_check:-0}" "${first_drain:-0}" \
    "rolling-reload: every check came before the first drain"
CHECKS=$((CHECKS + 1))
if process_running "$PEER_PID"; then
	pass "the rolling reload ended while the stream still ran"
else
	fail "the rolling reload ended while the stream still ran" \
	    "loadpeer had finished: the reloads were not all under load"
fi

peer_wait roll
assert_all_answered "$ROLL_N" "rolling reload: $ROLL_N requests"
assert_fields "rolling reload" "$LP" \
    acked "$ROLL_N" \
    by_status.success "$ROLL_N" \
    by_status.rejected 0 \
    no_subscribers 0 \
    puback_errors 0 \
    payload_mismatch 0

sum=0
for i in "${MEMBERS[@]}"; do
	OUT=$(mctl "$i" -j status)
	assert_fields "rolling reload: member $i" "$OUT" \
	    draining false \
	    services.hsp.generation 2 \
	    services.hsp.in_group true \
	    services.hsp.connected true \
	    services.llm.generation 2 \
	    services.llm.last_reload.ok true \
	    services.tool_dispatcher.rejected 0 \
	    services.tool_dispatcher.failed 0
	n=$(jfield services.tool_dispatcher.completed)
	assert_gt 0 "$n" "rolling reload: member $i completed some"
	[[ $n =~ ^[0-9]+$ ]] && sum=$((sum + n))
	note "member $i completed $n"
done
assert_ge "$ROLL_N" "$sum" "rolling reload: the members completed every request"

# --------------------------------------------------------------------------
# 2. One member leaves the group and joins again under load.

base1=$(mfield 1 services.tool_dispatcher.completed)
peer_start leave -n "$LEAVE_N" --rate "$LEAVE_RATE"
assert_eventually "leave: member 1 serves the stream" 5 completed_above 1 "$base1"
run mctl 1 -j drain --wait
assert_rc 0 "leave: drain --wait on member 1 exits 0"
assert_fields "leave: drain" "$OUT" draining true drained true
OUT=$(mctl 1 -j status)
assert_fields "leave: member 1 drained" "$OUT" \
    draining true \
    services.hsp.in_group false \
    services.hsp.connected true \
    services.hsp.in_flight 0
c1=$(jfield services.tool_dispatcher.completed)
# A connector built while the member drains stays out of the group.
run mctl 1 reload-hsp
assert_rc 0 "leave: reload-hsp on the drained member exits 0"
assert_eventually "leave: the new connector is up" 5 \
    status_is_m 1 services.hsp.connected true
others0=$(( $(completed_sum) - c1 ))
sleep 1	# a window to see that nothing more reaches member 1
OUT=$(mctl 1 -j status)
assert_fields "leave: member 1 after reload-hsp and 1 s" "$OUT" \
    services.hsp.generation 3 \
    services.hsp.in_group false \
    services.tool_dispatcher.completed "$c1" \
    services.tool_dispatcher.rejected 0
others1=$(( $(completed_sum) - $(jfield services.tool_dispatcher.completed) ))
assert_gt 100 $((others1 - others0)) \
    "leave: the others served the stream meanwhile"
CHECKS=$((CHECKS + 1))
if process_running "$PEER_PID"; then
	pass "leave: the stream still runs at resume"
else
	fail "leave: the stream still runs at resume" "loadpeer had finished"
fi
run mctl 1 -j resume
assert_rc 0 "leave: resume on member 1 exits 0"
assert_json services.hsp.in_group true "leave: resume answers once member 1 is in the group" \
    "$(mctl 1 -j status)"
assert_eventually "leave: member 1 completes more after resume" 5 \
    completed_above 1 "$c1"
peer_wait leave
assert_all_answered "$LEAVE_N" "leave: $LEAVE_N requests"
assert_fields "leave" "$LP" \
    acked "$LEAVE_N" \
    by_status.rejected 0 \
    by_status.success "$LEAVE_N" \
    no_subscribers 0

# --------------------------------------------------------------------------
# 2b. Work a member holds when it leaves is served, and drain --wait waits
#     for it: dialogue requests the back end holds for HOLD_MS.

HOLD_MS=1500
llm_control '{"delay_ms": '"$HOLD_MS"'}'
held0=$(mfield 1 services.dialogue_manager.turns)
peer_start held -n 12 --capability-name dialogue --params '{"text":"slow"}'
assert_eventually "held: member 1 holds dialogue requests" 5 \
    member_llm_busy 1
t0=$(now_ms)
run mctl 1 -j drain --wait
elapsed=$(($(now_ms) - t0))
assert_rc 0 "held: drain --wait on member 1 exits 0"
assert_fields "held: drain" "$OUT" draining true drained true
assert_ge 300 "$elapsed" "held: drain --wait waited for the held requests" ms
assert_fields "held: member 1 drained" "$(mctl 1 -j status)" \
    services.hsp.in_group false \
    services.llm.in_flight 0 \
    services.hsp.tasks_in_flight 0
peer_wait held
assert_all_answered 12 "held: 12 dialogue requests"
assert_fields "held" "$LP" by_status.success 12 by_status.rejected 0
assert_gt 0 "$(( $(mfield 1 services.dialogue_manager.turns) - held0 ))" \
    "held: member 1 answered the ones it held"
llm_control '{"delay_ms": 0}'
run mctl 1 resume
assert_rc 0 "held: resume on member 1 exits 0"

# --------------------------------------------------------------------------
# 3. MQTT 3.1.1: the members switch protocol by a rolling reload-hsp, then
#    500 requests while member 2 leaves and joins again.

for i in "${MEMBERS[@]}"; do
	member_config "$i" '"protocol": "mqttv311"'
done
run "$ROLLING" --reload reload-hsp "$T/m1.sock" "$T/m2.sock" "$T/m3.sock"
assert_rc 0 "mqttv311: rolling reload-hsp to MQTT 3.1.1 exits 0"
for i in "${MEMBERS[@]}"; do
	assert_fields "mqttv311: member $i" "$(mctl "$i" -j status)" \
	    services.hsp.protocol mqttv311 \
	    services.hsp.in_group true
done
base2=$(mfield 2 services.tool_dispatcher.completed)
peer_start v311 -n 500 --rate 250 --protocol 311
assert_eventually "mqttv311: member 2 serves the stream" 5 completed_above 2 "$base2"
run mctl 2 drain --wait
assert_rc 0 "mqttv311: drain --wait on member 2 exits 0"
assert_json services.hsp.in_group false "mqttv311: member 2 left the group" \
    "$(mctl 2 -j status)"
c2=$(mfield 2 services.tool_dispatcher.completed)
sleep 0.5
assert_eq "$c2" "$(mfield 2 services.tool_dispatcher.completed)" \
    "mqttv311: member 2 serves nothing while out of the group"
run mctl 2 resume
assert_rc 0 "mqttv311: resume on member 2 exits 0"
assert_json services.hsp.in_group true "mqttv311: member 2 is in the group again" \
    "$(mctl 2 -j status)"
peer_wait v311
assert_all_answered 500 "mqttv311: 500 requests"
assert_fields "mqttv311" "$LP" acked 500 by_status.rejected 0 \
    by_status.success 500

# --------------------------------------------------------------------------
# 4. Without a share group, drain still rejects; and the script's other
#    paths, on that daemon.

write_config '' "\"ai_id\": \"$SOLO_ID\",
  \"drain\": {\"timeout_s\": 5},
  \"hsp\": {\"broker\": {\"host\": \"127.0.0.1\", \"port\": $BROKER_PORT}}" \
    "$T/m0.conf" "$T/m0.sock"
CONFIG=$T/m0.conf SOCKET=$T/m0.sock LOG=$T/m0.log start_daemon
assert_eventually "solo: connected" 10 status_is_m 0 services.hsp.connected true
assert_fields "solo: status" "$(mctl 0 -j status)" \
    services.hsp.share_group null \
    services.hsp.in_group false \
    services.hsp.subscriptions.0 "hsp/requests/$SOLO_ID"
run mctl 0 drain --wait
assert_rc 0 "solo: drain --wait exits 0"
solo_n=40
run timeout -k 2 60 "$LOADPEER" -p "$BROKER_PORT" --target "$SOLO_ID" \
    --id did:hsp:solo-peer -n "$solo_n" --requires-ack --wait 10
LP=$OUT LP_RC=$RC LP_ERR=$ERR
assert_all_answered "$solo_n" "solo, draining: $solo_n requests"
assert_fields "solo, draining" "$LP" \
    by_status.rejected "$solo_n" \
    by_error.draining "$solo_n" \
    by_status.success 0
assert_fields "solo, draining: status" "$(mctl 0 -j status)" \
    services.tool_dispatcher.rejected "$solo_n" \
    services.tool_dispatcher.completed 0

run mctl 0 resume
assert_rc 0 "solo: resume exits 0"

# A member that does not answer is found before anything is drained.
run "$ROLLING" "$T/m0.sock" "$T/nobody.sock"
assert_rc 1 "preflight: a dead target fails the run"
assert_contains "FAILED at $T/nobody.sock, step preflight status: no target was touched" \
    "$OUT" "preflight: the message names the target and the step"
assert_contains "cannot reach the daemon" "$OUT" "preflight: it says why"
assert_not_contains ": drain --wait" "$(grep -F "[1/2]" <<<"$OUT")" \
    "preflight: the first target was not drained"

# A draining member fails the preflight too (it is out of service).
run mctl 0 drain
run "$ROLLING" "$T/m0.sock"
assert_rc 1 "preflight: a draining member fails the preflight"
assert_contains "draining is true" "$OUT" "preflight: it says the member is draining"

# -n runs nothing.
run "$ROLLING" -n "$T/m0.sock"
assert_rc 0 "-n exits 0"
assert_contains "$HOTRELOADCTL -s $T/m0.sock drain --wait" "$OUT" "-n prints the drain"
assert_contains "$HOTRELOADCTL -s $T/m0.sock reload" "$OUT" "-n prints the default reload"
assert_contains "$HOTRELOADCTL -s $T/m0.sock -j reload --check" "$OUT" "-n prints the check"
assert_eq true "$(mfield 0 draining)" "-n did not resume the daemon"

# Over "ssh": a stand-in ssh runs the remote command line with sh -c.
cat >"$T/fakessh" <<'EOF'
#!/bin/sh
host=$1
shift
printf '%s\n' "$host" >>"${0%/*}/fakessh.hosts"
exec /bin/sh -c "$*"
EOF
chmod +x "$T/fakessh"
run mctl 0 resume
run env ROLLING_RELOAD_SSH="$T/fakessh" "$ROLLING" --timeout 5 "ssh:ops@solo:$T/m0.sock"
assert_rc 0 "ssh: rolling reload through a stand-in ssh exits 0"
assert_line "\[1/1\] ssh:ops@solo:$T/m0.sock: status check: ok, not draining, hsp connected \(no share group\) \(.*" \
    "$OUT" "ssh: the status check passed"
assert_eq 6 "$(grep -cx 'ops@solo' "$T/fakessh.hosts")" \
    "ssh: every step went to host ops@solo (preflight, reload --check, drain, reload, resume, check)"

# A member whose reload would fail (its file moves the broker to a port
# where nothing listens) is found by reload --check before any member is
# drained, also those before it in the list; the others are checked too.
cp "$T/m0.conf" "$T/m0.conf.good"
sed "s/\"port\": $BROKER_PORT/\"port\": $(closed_port)/" "$T/m0.conf.good" >"$T/m0.conf"
gens_m0=$(mfields 0 services.hsp.generation | tr '\n' ' ')
gens_m1=$(mfields 1 services.hsp.generation services.llm.generation | tr '\n' ' ')
run "$ROLLING" "$T/m1.sock" "$T/m0.sock"
assert_rc 1 "failing check: rolling-reload exits 1"
assert_line "\[1/2\] $T/m1\.sock: reload --check: ok, the reload would succeed \(.*" \
    "$OUT" "failing check: member 1 passed its check"
assert_line "\[2/2\] $T/m0\.sock: reload --check: FAILED: the reload would fail: hsp: .*(refused|not connected).*" \
    "$OUT" "failing check: the line names the target, the part and why"
assert_contains "FAILED: the check failed on $T/m0.sock (reload); no target was touched" \
    "$ERR" "failing check: the message on stderr says no target was touched"
assert_not_contains ": drain --wait" "$OUT" "failing check: no member was drained"
assert_eq "$gens_m1" "$(mfields 1 services.hsp.generation services.llm.generation | tr '\n' ' ')" \
    "failing check: member 1 untouched (generations)"
assert_fields "failing check: member 1 still serving" "$(mctl 1 -j status)" \
    draining false services.hsp.in_group true
assert_eq "$gens_m0" "$(mfields 0 services.hsp.generation | tr '\n' ' ')" \
    "failing check: the solo daemon untouched (generation)"
run "$ROLLING" --no-check -n "$T/m1.sock" "$T/m0.sock"
assert_not_contains "--check" "$OUT" "--no-check: no check is run"
cp "$T/m0.conf.good" "$T/m0.conf"

# A reload that fails: the member is resumed, the next one not touched.
# The check finds a broken file first; --no-check gets to the reload.
printf '{ "control": ' >"$T/m0.conf"
c_m1=$(mfield 1 services.hsp.generation)
run "$ROLLING" "$T/m0.sock" "$T/m1.sock"
assert_rc 1 "broken file: rolling-reload exits 1"
assert_line "\[1/2\] $T/m0\.sock: reload --check: FAILED: the daemon answered with an error \(exit 1\): reload_failed: .*" \
    "$OUT" "broken file: reload --check says why"
assert_not_contains ": drain --wait" "$OUT" "broken file: no member was drained"
run "$ROLLING" --no-check "$T/m0.sock" "$T/m1.sock"
assert_rc 1 "failing reload: rolling-reload exits 1"
assert_line "\[1/2\] $T/m0\.sock: reload: FAILED: the daemon answered with an error \(exit 1\).*" \
    "$OUT" "failing reload: the step line names target, step and why"
assert_line "\[1/2\] $T/m0\.sock: resume \(after the failure\): ok .*" \
    "$OUT" "failing reload: the member is resumed"
assert_contains "FAILED at $T/m0.sock, step reload, after" "$ERR" \
    "failing reload: the message on stderr names target and step"
assert_contains "not started: $T/m1.sock" "$OUT" "failing reload: member 1 not started"
assert_not_contains "[2/2] $T/m1.sock: drain" "$OUT" "failing reload: member 1 not drained"
assert_eq false "$(mfield 0 draining)" "failing reload: the solo daemon is not left draining"
assert_eq "$c_m1" "$(mfield 1 services.hsp.generation)" "failing reload: member 1 untouched"

note "test_pool ran for $(($(now_ms) - t_start)) ms"
test_done
