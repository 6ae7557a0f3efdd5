#!/bin/bash
#
# test_reload.sh -- "hotreloadctl reload" and SIGHUP: a valid change is
# applied (queue depth, socket mode), a bad file (invalid JSON, unknown key,
# deleted file) fails with a clear error and changes nothing, the daemon
# keeps serving; reload-llm and reload-hsp without those services say
# not_configured.
. "$(dirname "$0")/lib.sh"

# Prints the queue depth and limits.queue_depth of a fresh status.
depths() {
	local json
	json=$(ctl -j status) || return 1
	printf '%s %s\n' "$(jfield queue.depth "$json")" \
	    "$(jfield limits.queue_depth "$json")"
}

# Succeeds when status shows queue depth $1.
depth_is() {
	[[ $(depths) == "$1 $1" ]]
}

# The count of config reloads with result $1 in the metrics.
config_reloads() {
	ctl metrics | sed -n "s/^hotreload_reloads_total{service=\"config\",result=\"$1\"} //p"
}

write_config '"mode": "0666", "queue_depth": 16'
start_daemon
assert_eq "16 16" "$(depths)" "start: queue depth 16"

# A valid change.
write_config '"mode": "0666", "queue_depth": 4'
run ctl reload
assert_rc 0 "reload of a valid change exits 0"
assert_line "reloaded: none" "$OUT" "reload, human form: nothing to replace"
assert_eq "4 4" "$(depths)" "after reload: queue.depth and limits.queue_depth are 4"
assert_eq 1 "$(config_reloads ok)" "metrics: one config reload ok"
assert_eq 0 "$(config_reloads failed)" "metrics: no config reload failed"
run ctl metrics
assert_line "hotreload_queue_limit 4" "$OUT" "metrics: hotreload_queue_limit 4"

run ctl -j reload
assert_rc 0 "reload -j exits 0"
assert_json reloaded '[]' "reload -j: no service reloaded"
assert_json unchanged '[]' "reload -j: no service unchanged (none configured)"
assert_match '^[0-9]+$' "$(jfield duration_ms)" "reload -j: duration_ms is a number"

# Invalid JSON: exit 1, the error names the file and the position, nothing
# changes.
cat >"$CONFIG" <<EOF
{
  "control": {
    "socket": "$SOCKET",
    "queue_depth": 2,
  }
}
EOF
run ctl reload
assert_rc 1 "reload of invalid JSON exits 1"
assert_match "^hotreloadctl: reload_failed: $CONFIG:5:[0-9]+: invalid JSON" "$ERR" \
    "reload of invalid JSON: reload_failed, the file, line 5 and a column"
assert_contains "nothing was changed" "$ERR" "reload of invalid JSON says nothing changed"
assert_eq "4 4" "$(depths)" "after a failed reload: queue depth still 4"
assert_eq 1 "$(config_reloads failed)" "metrics: one config reload failed"
assert_eq 2 "$(config_reloads ok)" "metrics: still two config reloads ok"

run ctl -j reload
assert_rc 1 "reload -j of invalid JSON exits 1"
assert_json code reload_failed "reload -j of invalid JSON: the error object on stdout"

# An unknown key: the error names the key path.
write_config '"mode": "0666", "queue_depht": 2'
run ctl reload
assert_rc 1 "reload with an unknown key exits 1"
assert_match "^hotreloadctl: reload_failed: $CONFIG:[0-9]+:[0-9]+: control\.queue_depht: unknown key" \
    "$ERR" "reload with an unknown key names control.queue_depht and its position"
assert_eq "4 4" "$(depths)" "after a reload with an unknown key: queue depth still 4"

# A value out of range.
write_config '"mode": "0666", "queue_depth": 0'
run ctl reload
assert_rc 1 "reload with queue_depth 0 exits 1"
assert_contains "control.queue_depth" "$ERR" "reload with queue_depth 0 names the key"
assert_eq "4 4" "$(depths)" "after a reload with queue_depth 0: queue depth still 4"

# The file is gone.
rm -f "$CONFIG"
run ctl reload
assert_rc 1 "reload without a config file exits 1"
assert_match "^hotreloadctl: reload_failed: .*$CONFIG.*(No such file|cannot open)" "$ERR" \
    "reload without a config file: a clear error naming the file"
run ctl -j status
assert_rc 0 "the daemon still serves after a reload of a deleted file"
assert_json queue.depth 4 "after a reload of a deleted file: queue depth still 4"

# SIGHUP with a valid change.
write_config '"mode": "0666", "queue_depth": 8'
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP: status shows queue depth 8" 10 depth_is 8
assert_log "SIGHUP" "SIGHUP: the log says so"

# SIGHUP with a bad file: the daemon lives on, the log has the error.
failed_before=$(config_reloads failed)
printf '{ "control": { "socket": "%s", "queue_depth": 3, } }\n' "$SOCKET" >"$CONFIG"
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP with a bad file: the failure is counted" 10 \
    eval "[[ \$(config_reloads failed) == $((failed_before + 1)) ]]"
assert_log "$CONFIG:1:" "SIGHUP with a bad file: the log has the error and its position"
assert_daemon_alive "SIGHUP with a bad file: the daemon is still running"
assert_eq "8 8" "$(depths)" "SIGHUP with a bad file: queue depth still 8"

# reload-llm and reload-hsp: those services are not configured.
write_config '"mode": "0666", "queue_depth": 8'
for cmd in reload-llm reload-hsp; do
	run ctl "$cmd"
	assert_rc 1 "$cmd without the service exits 1"
	assert_match "^hotreloadctl: not_configured: " "$ERR" "$cmd says not_configured"
	run ctl -j "$cmd"
	assert_json code not_configured "$cmd -j: error code not_configured"
done
status_json
assert_json services.llm.generation 0 "reload-llm left llm at generation 0"
assert_json services.hsp.state not_configured "reload-hsp left hsp not configured"

# reload-llm validates the whole file first, like reload.
printf '{ "control": { "socket": "%s", "bogus": 1 } }\n' "$SOCKET" >"$CONFIG"
run ctl reload-llm
assert_rc 1 "reload-llm with a bad file exits 1"
assert_contains "reload_failed" "$ERR" "reload-llm with a bad file: reload_failed"
assert_contains "control.bogus" "$ERR" "reload-llm with a bad file names the key"

# control.mode is applied to the socket by reload.
assert_eq 666 "$(stat -c %a "$SOCKET")" "socket mode 666 before the change"
write_config '"mode": "0600", "queue_depth": 8'
run ctl reload
assert_rc 0 "reload with mode 0600 exits 0"
assert_eq 600 "$(stat -c %a "$SOCKET")" "reload applied mode 0600 to the socket"
write_config '"mode": "0640", "queue_depth": 8'
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP applied mode 0640 to the socket" 10 \
    eval "[[ \$(stat -c %a '$SOCKET') == 640 ]]"

# A changed socket path is not applied (needs a restart): still reachable.
write_config '"mode": "0640", "queue_depth": 8' '' "$CONFIG" "$T/other.sock"
run ctl reload
assert_rc 0 "reload with a new socket path exits 0"
run ctl status
assert_rc 0 "the daemon still answers on the old socket"
assert_absent "$T/other.sock" "a new socket path is not bound before a restart"

test_done
