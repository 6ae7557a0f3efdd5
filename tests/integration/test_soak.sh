#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_soak.sh -- many reloads under a steady load leak nothing and lose
# nothing: a daemon with HSP (the test's broker) and LLM (a stand-in back
# end, holding each turn 100 ms) answers a steady stream of echo and
# dialogue requests from loadpeer while SOAK_RELOAD_LLM reload-llm (1000)
# and, spread among them, SOAK_RELOAD_HSP reload-hsp (200) run.  Every
# reload succeeds and the generations advance by exactly those counts;
# every request is answered exactly once; the daemon still serves
# afterwards, retires every old generation and exits 0; and its resident
# memory (VmRSS) grows by less than 1 MiB between a warmed-up point (after
# the first tenth of the reloads) and the end.
#
# The reloads go the way an operator's script would send many: pipelined on
# one control connection per tenth (tests/support/ctlraw), each reply
# checked; starting hotreloadctl 1200 times would measure process start-up,
# not the daemon (the real hotreloadctl is what every other test drives).
#
# make check-valgrind runs this test with fewer reloads and the daemon under
# memcheck (HOTRELOADD_WRAPPER); the memory check is then reported but not
# asserted, as it is not under AddressSanitizer either: both keep freed
# memory in quarantine, so the daemon's own growth cannot be read there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

RELOAD_LLM=${SOAK_RELOAD_LLM:-1000}
RELOAD_HSP=${SOAK_RELOAD_HSP:-200}
# reload-llm per pipelined batch; the first batch is the warm-up.
BATCH=$((RELOAD_LLM / 10 > 0 ? RELOAD_LLM / 10 : 1))
# Allowed VmRSS growth, KiB.
RSS_LIMIT=1024
# Each load round: requests and rate (per second) of the echo and the
# dialogue peers.  Rounds follow one another until the reloads are done.
ECHO_ROUND=200
ECHO_RATE=100
DIALOGUE_ROUND=40
DIALOGUE_RATE=20

[[ $RELOAD_LLM =~ ^[1-9][0-9]*$ && $RELOAD_HSP =~ ^[0-9]+$ ]] ||
	fatal "SOAK_RELOAD_LLM must be a number from 1, SOAK_RELOAD_HSP from 0"

# The resident set of PID in KiB.
rss_kib() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status"
}

# One loadpeer round as peer soak-KIND-ROUND with COUNT requests at RATE
# per second (0: as fast as it goes) for the capability CAPABILITY with
# PARAMS, and further loadpeer OPTIONS; the report goes to
# $T/load.KIND.ROUND, the exit status to $T/load.KIND.ROUND.rc.
load_round() {
	local kind=$1 round=$2 capability=$3 params=$4 count=$5 rate=$6
	shift 6
	timeout -k 2 100 "$LOADPEER" -p "$BROKER_PORT" --target "$AI_ID" \
	    --id "did:hsp:soak-$kind-$round" -n "$count" --rate "$rate" \
	    --capability-name "$capability" --params "$params" --wait 30 "$@" \
	    >"$T/load.$kind.$round" 2>"$T/load.$kind.$round.err"
	echo "$?" >"$T/load.$kind.$round.rc"
}

# Rounds of load_round KIND ROUND CAPABILITY PARAMS COUNT RATE (ROUND 1,
# 2, ...), one after another, until the file $T/stop exists; round 1
# creates $T/ready.KIND once subscribed.
load_loop() {
	local kind=$1 capability=$2 params=$3 count=$4 rate=$5 round=1
	load_round "$kind" 1 "$capability" "$params" "$count" "$rate" \
	    --ready-file "$T/ready.$kind"
	while [[ ! -e $T/stop ]]; do
		round=$((round + 1))
		load_round "$kind" "$round" "$capability" "$params" "$count" \
		    "$rate"
	done
}

# Sum up the rounds of KIND: "rounds failed_rounds sent answered missing
# duplicates bad success".
load_totals() {
	"$PYTHON" -E -S -c '
import glob, json, sys
t = {"rounds": 0, "failed": 0, "sent": 0, "answered": 0, "missing": 0,
     "duplicates": 0, "bad": 0, "success": 0}
for rc in glob.glob(sys.argv[1] + ".*.rc"):
    t["rounds"] += 1
    report = rc[:-3]
    try:
        with open(rc) as f:
            ok = f.read().strip() == "0"
        with open(report) as f:
            r = json.loads(f.read())
    except (OSError, ValueError):
        ok, r = False, {}
    if not ok:
        t["failed"] += 1
    for k in ("sent", "answered", "missing", "duplicates", "bad"):
        t[k] += r.get(k, 0)
    t["success"] += r.get("by_status", {}).get("success", 0)
print(" ".join(str(t[k]) for k in ("rounds", "failed", "sent", "answered",
    "missing", "duplicates", "bad", "success")))
' "$T/load.$1"
}

# Check the rounds of KIND: each ran (exit 0), and every request of every
# round was answered once, with a success.
assert_load() {
	local kind=$1 rounds failed sent answered missing duplicates bad success
	read -r rounds failed sent answered missing duplicates bad success \
	    < <(load_totals "$kind")
	note "$kind: $rounds rounds, $sent requests, $answered answered"
	assert_eq 0 "$failed" "$kind: every loadpeer round ran (exit 0)"
	CHECKS=$((CHECKS + 1))
	if ((sent > 0 && answered == sent && success == sent)); then
		pass "$kind: all $sent requests answered with a success"
	else
		fail "$kind: every request answered with a success" \
		    "sent $sent, answered $answered, success $success" \
		    "$(cat "$T"/load."$kind".*.err | head -c 2000)"
	fi
	assert_eq 0 "$missing" "$kind: no request lost"
	assert_eq 0 "$duplicates" "$kind: no request answered twice"
	assert_eq 0 "$bad" "$kind: no malformed result"
}

# Succeeds when neither service has a generation retiring.
nothing_retiring() {
	local json
	json=$(ctl -j status) || return 1
	[[ $(jfield services.llm.retiring "$json") == '[]' &&
	    $(jfield services.hsp.retiring "$json") == '[]' ]]
}

llm_broker_start
llm_server_start A
# llm_config's, with a small de-duplication window: the window (the last
# hsp.dedup_window message ids, 65536 by default) grows with every message
# until it is full, by design; 512 ids fill it before the warm-up point, so
# that what grows after it is not the window.
write_config "" "\"ai_id\": \"$AI_ID\",
  \"drain\": {\"timeout_s\": $LLM_DRAIN_S},
  \"hsp\": {\"broker\": {\"host\": \"127.0.0.1\", \"port\": $BROKER_PORT},
          \"dedup_window\": 512},
  \"llm\": {\"backends\": [$(llm_backend A openai A)], \"fallback\": [\"A\"]}"
llm_start_daemon
# Each dialogue turn is held 100 ms by the back end, so that reload-llm
# keeps finding turns in flight and old generations retire with work
# (the model list, the reload's probe, is answered at once).
llm_control A '{"delay_ms": 100, "models_ok": true}'

rm -f "$T/stop"
start_helper load_loop echo echo '{"text":"soak"}' "$ECHO_ROUND" "$ECHO_RATE"
ECHO_PID=$HELPER_PID
start_helper load_loop dialogue dialogue \
    '{"text":"soak","conversation_id":"soak"}' "$DIALOGUE_ROUND" \
    "$DIALOGUE_RATE"
DIALOGUE_PID=$HELPER_PID
wait_until 20 test -e "$T/ready.echo" -a -e "$T/ready.dialogue" ||
	fatal "the load peers did not subscribe within 20 s"

# The reloads, in batches: reload-llm FIRST to LAST, each followed by the
# reload-hsp that keep them spread evenly (hsp_sent of them so far), sent
# on one connection; the replies are checked to be ok, in order, each with
# the next generation of its service.  Adds the good replies to llm_ok and
# hsp_ok, a description of the first bad one to bad_reply.
reload_batch() {
	local first=$1 last=$2 i lines=0 rc counts
	for ((i = first; i <= last; i++)); do
		printf '{"v":1,"id":"llm-%d","cmd":"reload-llm"}\n' "$i"
		lines=$((lines + 1))
		while ((hsp_sent < i * RELOAD_HSP / RELOAD_LLM)); do
			hsp_sent=$((hsp_sent + 1))
			printf '{"v":1,"id":"hsp-%d","cmd":"reload-hsp"}\n' "$hsp_sent"
			lines=$((lines + 1))
		done
	done >"$T/batch.in"
	timeout -k 2 200 "$PYTHON" -E -S "$CTLRAW" -s "$SOCKET" -t 180 \
	    stdin read "$lines" <"$T/batch.in" >"$T/batch.out" 2>"$T/batch.err"
	rc=$?
	counts=$("$PYTHON" -E -S -c '
import json, sys
good = {"llm": 0, "hsp": 0}
bad = ""
with open(sys.argv[1]) as f:
    sent = [json.loads(line) for line in f]
with open(sys.argv[2]) as f:
    replies = f.read().splitlines()
for request, line in zip(sent, replies):
    service, n = request["id"].split("-")
    try:
        r = json.loads(line)
        ok = (r["id"] == request["id"] and r["ok"] is True and
              r["result"]["service"] == service and
              r["result"]["reloaded"] is True and
              r["result"]["generation"] == int(n) + 1)
    except (ValueError, KeyError, TypeError):
        ok = False
    if ok:
        good[service] += 1
    elif not bad:
        bad = "reply to %s: %s" % (request["id"], line[:500])
print(good["llm"], good["hsp"], bad)
' "$T/batch.in" "$T/batch.out")
	read -r n_llm n_hsp bad <<<"$counts"
	llm_ok=$((llm_ok + n_llm))
	hsp_ok=$((hsp_ok + n_hsp))
	if [[ -z $bad_reply && ($rc != 0 || -n $bad) ]]; then
		bad_reply="batch llm-$first..llm-$last: ctlraw exit $rc; ${bad:-}"
		bad_reply+=" $(head -c 500 "$T/batch.err")"
	fi
}

llm_ok=0
hsp_ok=0
hsp_sent=0
bad_reply=
rss_warm=
rss_trace=
t0=$(now_ms)
for ((first = 1; first <= RELOAD_LLM; first += BATCH)); do
	last=$((first + BATCH - 1 < RELOAD_LLM ? first + BATCH - 1 : RELOAD_LLM))
	reload_batch "$first" "$last"
	rss=$(rss_kib "$DAEMON_PID")
	rss_trace+=" $last:$rss"
	[[ -z $rss_warm ]] && rss_warm=$rss
done
rss_end=$(rss_kib "$DAEMON_PID")
elapsed=$(($(now_ms) - t0))
touch "$T/stop"
note "$RELOAD_LLM reload-llm and $RELOAD_HSP reload-hsp in $((elapsed / 1000)) s"
note "VmRSS (KiB) after reload-llm N, as N:KiB:$rss_trace"
note "VmRSS after $BATCH reload-llm: ${rss_warm:-?} KiB; at the end: ${rss_end:-?} KiB"

assert_eq "$RELOAD_LLM" "$llm_ok" \
    "every reload-llm succeeds, each with the next generation"
assert_eq "$RELOAD_HSP" "$hsp_ok" \
    "every reload-hsp succeeds, each with the next generation"
[[ -n $bad_reply ]] && note "first bad reply: $bad_reply"

wait_exit "$ECHO_PID" 60 || fatal "the echo load did not finish"
wait_exit "$DIALOGUE_PID" 60 || fatal "the dialogue load did not finish"
assert_load echo
assert_load dialogue

assert_eventually "no generation left retiring" 30 nothing_retiring
status_json
assert_fields "status" "$OUT" \
    services.llm.generation $((1 + RELOAD_LLM)) \
    services.llm.last_reload.ok true \
    services.llm.retiring '[]' \
    services.llm.in_flight 0 \
    services.hsp.generation $((1 + RELOAD_HSP)) \
    services.hsp.last_reload.ok true \
    services.hsp.connected true \
    services.hsp.retiring '[]' \
    services.hsp.in_flight 0 \
    services.hsp.publish_failed 0 \
    services.tool_dispatcher.failed 0 \
    services.dialogue_manager.failed 0

# Still serving: one more round of each on the last generations.
load_round after-echo 1 echo '{"text":"after"}' 20 0
assert_load after-echo
load_round after-dialogue 1 dialogue '{"text":"after","conversation_id":"soak"}' 5 0
assert_load after-dialogue

CHECKS=$((CHECKS + 1))
if [[ -z $rss_warm || -z $rss_end ]]; then
	fail "VmRSS read at warm-up and at the end" "warm-up: $rss_warm, end: $rss_end"
elif ! memory_checked; then
	pass "VmRSS growth $((rss_end - rss_warm)) KiB (not asserted: the daemon runs under a sanitizer or a wrapper)"
elif ((rss_end - rss_warm < RSS_LIMIT)); then
	pass "VmRSS grows by $((rss_end - rss_warm)) KiB, less than $RSS_LIMIT KiB"
else
	fail "VmRSS grows by less than $RSS_LIMIT KiB" \
	    "after $BATCH reload-llm: $rss_warm KiB; at the end: $rss_end KiB"
fi

assert_daemon_alive "the daemon is still running"
stop_daemon "the daemon exits 0 on SIGTERM" 10

test_done
