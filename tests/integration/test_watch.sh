#!/bin/bash
#
# test_watch.sh -- hotreloadctl watch (DESIGN.md 7.2): a watcher sees
# hello first, then every state-changing command start and end, the
# reload phases of each service, drain and resume, and the connector's
# connections, numbered in order; --service keeps one service's events;
# a watcher outlives control.idle_timeout_s; one that stops reading costs
# at most control.watch_buffer_bytes and is told what it missed with a
# "lagged" event; at shutdown it gets its final line and exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hsp.sh"

broker_start
hsp_config "" '"idle_timeout_s": 1, "watch_buffer_bytes": 4096'
start_daemon
wait_hsp_connected

# Without ctl's timeout: a watch runs as long as the daemon.
start_helper "$HOTRELOADCTL" -s "$SOCKET" -j watch >"$T/all.json" 2>"$T/all.err"
WATCH_ALL=$HELPER_PID
start_helper "$HOTRELOADCTL" -s "$SOCKET" -j watch --service llm \
    >"$T/llm.json" 2>"$T/llm.err"
WATCH_LLM=$HELPER_PID
start_helper "$HOTRELOADCTL" -s "$SOCKET" watch >"$T/human.txt" 2>"$T/human.err"
WATCH_HUMAN=$HELPER_PID
hello_seen() {
	grep -q '"type":"hello"' "$T/all.json" &&
	    grep -q '"type":"hello"' "$T/llm.json" &&
	    grep -q ' hello ' "$T/human.txt"
}
assert_eventually "the three watchers get their hello" 5 hello_seen

run ctl reload-hsp
assert_rc 0 "reload-hsp exits 0"
# A reload-hsp that fails: the broker port is down.
cp "$CONFIG" "$T/good.conf"
hsp_config "" '"idle_timeout_s": 1, "watch_buffer_bytes": 4096' "$(closed_port)"
run ctl reload-hsp
assert_rc 1 "reload-hsp to a closed port exits 1"
cp "$T/good.conf" "$CONFIG"
# The broker goes away and comes back (the same port): the connector
# reconnects.
broker_ctl restart
reconnected() {
	grep -q '"event":"disconnected"' "$T/all.json" && hsp_connected
}
assert_eventually "the connector reconnects after the broker restarts" 20 \
    reconnected
run ctl drain
assert_rc 0 "drain exits 0"
run ctl resume
assert_rc 0 "resume exits 0"
sleep 2		# past control.idle_timeout_s (1 s)
assert_true "the watchers outlive control.idle_timeout_s" \
    kill -0 "$WATCH_ALL" "$WATCH_LLM" "$WATCH_HUMAN"

# A watcher that stops reading: its own connection, not read for a while.
"$PYTHON" -E -S - "$SOCKET" "$T/slow.go" >"$T/slow.out" 2>&1 <<'EOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"id":"slow","cmd":"watch"}\n')
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
s.settimeout(3)
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
lines = data.split(b"\n")
lagged = [l for l in lines if b'"type":"lagged"' in l]
print("lines %d lagged %d" % (len(lines), len(lagged)))
for l in lagged:
    print(l.decode())
EOF
SLOW=$!
sleep 0.5
# About 1.2 KB of events a reload: far more than the socket buffers and
# control.watch_buffer_bytes (4096) hold.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"
}
rss_before=$(rss_kb)
for ((i = 0; i < 1500; i++)); do
	ctl reload-hsp >/dev/null || break
done
assert_eq 1500 "$i" "1500 reload-hsp while the slow watcher does not read"
growth=$(($(rss_kb) - rss_before))
if memory_checked; then
	assert_lt 3072 "$growth" "the unread watcher costs the daemon less than 3 MiB" kB
else
	note "VmRSS grew by $growth kB (not checked under a sanitizer or valgrind)"
fi
: >"$T/slow.go"
wait "$SLOW"
slow=$(cat "$T/slow.out")
assert_match 'lagged [1-9]' "$slow" "the slow watcher is told it lagged"
dropped=$(jfield event.dropped "$(printf '%s\n' "$slow" | grep -m1 '"type":"lagged"')")
assert_gt 0 "$dropped" "the lagged event counts the events dropped" events
assert_daemon_alive "the daemon is fine after the slow watcher"

stop_daemon "the daemon stops"
wait "$WATCH_ALL"
assert_eq 0 "$?" "watch -j exits 0 when the daemon shuts down"
wait "$WATCH_LLM"
wait "$WATCH_HUMAN"
assert_eq 0 "$?" "watch (human) exits 0 when the daemon shuts down"
forget_pid "$WATCH_ALL"
forget_pid "$WATCH_LLM"
forget_pid "$WATCH_HUMAN"

# What the first watcher saw, one event a line: "seq type detail".
"$PYTHON" -E -S - "$T/all.json" >"$T/all.txt" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    if not line.startswith('{"'):
        continue
    e = json.loads(line)
    detail = {
        "command": lambda: "%s %s %s" % (e["phase"], e["cmd"], e.get("ok", "")),
        "reload": lambda: "%s %s %s" % (e["service"], e["generation"], e["phase"]),
        "drain": lambda: "%s %s" % (e["draining"], e["in_flight"]),
        "hsp": lambda: "%s %s" % (e["event"], e["generation"]),
    }.get(e["type"], lambda: "")()
    print(e["seq"], e["type"], detail.strip())
EOF
events=$(cut -d' ' -f2- "$T/all.txt")
assert_eq hello "$(head -n 1 "$T/all.txt" | cut -d' ' -f2)" "the first event is hello"
assert_eq "" "$(awk 'NR > 1 && $1 <= prev { print } { prev = $1 }' "$T/all.txt")" \
    "the events are numbered in increasing order"
for want in "command start reload-hsp" "reload hsp 2 build" "hsp connected 0" \
    "reload hsp 2 ready" "reload hsp 2 swap" "reload hsp 1 retiring" \
    "reload hsp 1 retired" "command end reload-hsp True" \
    "reload hsp 3 failed" "command end reload-hsp False" \
    "hsp disconnected 2" "hsp retrying 2" "hsp connected 2" \
    "drain True 0" "drain False 0" "command start shutdown" \
    "reload hsp 1502 retired"; do
	assert_line "$want" "$events" "the watcher saw: $want"
done
# The order of one reload: build, ready, swap, the old one retiring.
order=$(grep -E 'reload hsp (1|2) ' "$T/all.txt" | head -n 5 | cut -d' ' -f5 |
    tr '\n' ' ')
assert_eq "build ready swap retiring retired " "$order" \
    "a reload's phases come in order"
assert_contains '"ended": "shutting_down"' "$(cat "$T/all.json")" \
    "the final line says the daemon shut down"
# Two watchers see the same sequence (the llm one, less the hsp events;
# each has its own hello).
same=$("$PYTHON" -E -S -c '
import json, sys
def events(path, keep):
    out = []
    for line in open(path):
        if line.startswith("{\""):
            e = json.loads(line)
            if keep(e) and e["type"] != "hello":
                out.append((e["seq"], e["type"], e.get("phase"), e.get("cmd")))
    return out
a = events(sys.argv[1], lambda e: e.get("service") in (None, "llm"))
b = events(sys.argv[2], lambda e: True)
print("same" if a == b else "differ: %s / %s" % (a[:5], b[:5]))
' "$T/all.json" "$T/llm.json")
assert_eq same "$same" "two watchers see the same events in the same order"
assert_not_contains '"type":"reload","seq"' "$(grep '"service":"hsp"' "$T/llm.json")" \
    "watch --service llm sees no hsp reload"
assert_contains '"cmd":"reload-hsp"' "$(cat "$T/llm.json")" \
    "watch --service llm still sees the commands"
assert_line '[0-9T:.-]+Z  reload   hsp +gen 2 +swap' "$(cat "$T/human.txt")" \
    "the human form: the time first, then the type"
assert_line 'watch ended: shutting_down' "$(cat "$T/human.txt")" \
    "the human form ends with the shutdown"

run ctl watch --service nope
assert_rc 2 "watch --service nope is a usage error"

test_done
