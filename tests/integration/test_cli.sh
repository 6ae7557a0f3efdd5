#!/bin/bash
#
# test_cli.sh -- the command lines of hotreloadd and hotreloadctl: help,
# version, usage errors, "hotreloadd -t" on good and bad files, exit 78
# (EX_CONFIG) when started on a bad file, and the client's exit status when
# no daemon listens.
. "$(dirname "$0")/lib.sh"

version=$(cat "$TOP/VERSION")
[[ -n $version ]] || fatal "cannot read VERSION from the Makefile"

# --- hotreloadd ------------------------------------------------------------

for opt in -V --version; do
	run timeout 10 "$HOTRELOADD" "$opt"
	assert_rc 0 "hotreloadd $opt exits 0"
	assert_eq "hotreloadd $version" "$OUT" "hotreloadd $opt prints its version"
done

for opt in -h --help; do
	run timeout 10 "$HOTRELOADD" "$opt"
	assert_rc 0 "hotreloadd $opt exits 0"
	for word in -c -t -v -V; do
		assert_match "(^|[[:space:]])$word," "$OUT" \
		    "hotreloadd $opt mentions $word"
	done
	assert_match "^usage: hotreloadd" "$OUT" "hotreloadd $opt starts with usage"
done

run timeout 10 "$HOTRELOADD" --no-such-option
assert_rc 2 "hotreloadd: an unknown option is a usage error"
assert_contains "--help" "$ERR" "hotreloadd: the usage error points at --help"

run timeout 10 "$HOTRELOADD" -c "$CONFIG" extra
assert_rc 2 "hotreloadd: an extra argument is a usage error"
assert_contains '"extra"' "$ERR" "hotreloadd names the unexpected argument"

# -t on the shipped configuration.
run timeout 10 "$HOTRELOADD" -t -c "$TOP/conf/hotreloadd.conf"
assert_rc 0 "hotreloadd -t accepts the shipped conf/hotreloadd.conf"
assert_contains "configuration OK" "$OUT" "hotreloadd -t says the file is OK"

# -t on a file with a typo in a key: FILE:LINE:COLUMN, the key path and a
# suggestion.
cat >"$T/typo.conf" <<EOF
{
  "control": {
    "sockte": "$T/x.sock"
  }
}
EOF
run timeout 10 "$HOTRELOADD" -t -c "$T/typo.conf"
assert_rc 1 "hotreloadd -t: an unknown key is an error"
assert_match "^$T/typo.conf:[0-9]+:[0-9]+: control\.sockte: unknown key \(did you mean \"socket\"\?\)\$" \
    "$ERR" "hotreloadd -t reports FILE:LINE:COLUMN: control.sockte: unknown key (did you mean \"socket\"?)"
assert_eq "$T/typo.conf:3:5: control.sockte: unknown key (did you mean \"socket\"?)" \
    "$ERR" "hotreloadd -t points at line 3, column 5 (where the key is)"
assert_not_contains "configuration OK" "$OUT" "hotreloadd -t does not call a bad file OK"

# -t on a file that is not JSON: the position of the syntax error.
cat >"$T/syntax.conf" <<EOF
{
  "control": {
    "socket": "$T/x.sock",
  }
}
EOF
run timeout 10 "$HOTRELOADD" -t -c "$T/syntax.conf"
assert_rc 1 "hotreloadd -t: invalid JSON is an error"
assert_match "^$T/syntax.conf:4:[0-9]+: invalid JSON" "$ERR" \
    "hotreloadd -t reports the line and column of a syntax error"

# -t lists every error of a file at once, in file order.
cat >"$T/multi.conf" <<EOF
{
  "control": {
    "sockte": "$T/x.sock",
    "max_clients": 0,
    "queue_depth": "many"
  },
  "drian": {}
}
EOF
run timeout 10 "$HOTRELOADD" -t -c "$T/multi.conf"
assert_rc 1 "hotreloadd -t: a file with several errors fails"
assert_match "^$T/multi.conf:3:[0-9]+: control\.sockte: " "$(line_of 1 "$ERR")" \
    "hotreloadd -t: first error is control.sockte (line 3)"
assert_match "^$T/multi.conf:4:[0-9]+: control\.max_clients: " "$(line_of 2 "$ERR")" \
    "hotreloadd -t: second error is control.max_clients (line 4)"
assert_match "^$T/multi.conf:5:[0-9]+: control\.queue_depth: " "$(line_of 3 "$ERR")" \
    "hotreloadd -t: third error is control.queue_depth (line 5)"
assert_match "^$T/multi.conf:7:[0-9]+: drian: unknown key \(did you mean \"drain\"\?\)" \
    "$(line_of 4 "$ERR")" "hotreloadd -t: fourth error is the unknown key drian (line 7)"

# -t on a file that does not exist.
run timeout 10 "$HOTRELOADD" -t -c "$T/missing.conf"
assert_rc 1 "hotreloadd -t: a missing file is an error"
assert_contains "$T/missing.conf" "$ERR" "hotreloadd -t names the missing file"

# -t: a missing required section.
printf '{}\n' >"$T/empty.conf"
run timeout 10 "$HOTRELOADD" -t -c "$T/empty.conf"
assert_rc 1 "hotreloadd -t: a file without control is an error"
assert_contains "control: required key is missing" "$ERR" \
    "hotreloadd -t says that control is required"

# A daemon started on a bad file does not start, with EX_CONFIG (78): the
# units' RestartPreventExitStatus=78 then stops systemd from retrying; the
# same for a file that is missing.  Other start-up failures stay 1
# (test_lifecycle).
run timeout 10 "$HOTRELOADD" -c "$T/typo.conf"
assert_rc 78 "hotreloadd refuses to start on a bad file (exit 78, EX_CONFIG)"
assert_contains "control.sockte" "$ERR" "hotreloadd says why it does not start"
run timeout 10 "$HOTRELOADD" -c "$T/missing.conf"
assert_rc 78 "hotreloadd refuses to start without its file (exit 78)"

# --- hotreloadctl ------------------------------------------------------------

for opt in -V --version; do
	run timeout 10 "$HOTRELOADCTL" "$opt"
	assert_rc 0 "hotreloadctl $opt exits 0"
	assert_eq "hotreloadctl $version" "$OUT" "hotreloadctl $opt prints its version"
done

run timeout 10 "$HOTRELOADCTL" -h
assert_rc 0 "hotreloadctl -h exits 0"
for word in status drain resume reload-llm reload-hsp reload version metrics \
    --socket --json --timeout HOTRELOAD_SOCKET; do
	assert_match "(^|[[:space:]])$word([[:space:],]|\$)" "$OUT" \
	    "hotreloadctl -h mentions $word"
done

run timeout 10 "$HOTRELOADCTL" -s "$SOCKET" frobnicate
assert_rc 2 "hotreloadctl: an unknown command is a usage error"
assert_contains 'unknown command "frobnicate"' "$ERR" \
    "hotreloadctl names the unknown command"

run timeout 10 "$HOTRELOADCTL" -s "$SOCKET"
assert_rc 2 "hotreloadctl: no command is a usage error"

run timeout 10 "$HOTRELOADCTL" --no-such-option status
assert_rc 2 "hotreloadctl: an unknown option is a usage error"

run timeout 10 "$HOTRELOADCTL" -s "$SOCKET" status --json
assert_rc 2 "hotreloadctl: an option after the command is a usage error"

run timeout 10 "$HOTRELOADCTL" -s "$SOCKET" status now
assert_rc 2 "hotreloadctl: an argument to status is a usage error"

run timeout 10 "$HOTRELOADCTL" -s "$SOCKET" -t abc status
assert_rc 2 "hotreloadctl: -t with a non-number is a usage error"

run timeout 10 "$HOTRELOADCTL" -s "$SOCKET" drain --timeout -1
assert_rc 2 "hotreloadctl: drain --timeout -1 is a usage error"

run timeout 10 "$HOTRELOADCTL" -s "$SOCKET" drain --bogus
assert_rc 2 "hotreloadctl: drain --bogus is a usage error"

# No daemon: 69, and the message names the socket.
run timeout 10 "$HOTRELOADCTL" -s "$SOCKET" status
assert_rc 69 "hotreloadctl status without a daemon exits 69"
assert_contains "$SOCKET" "$ERR" "hotreloadctl names the socket it cannot reach"
assert_match "^hotreloadctl: " "$ERR" "hotreloadctl prefixes its error with its name"

# The same through HOTRELOAD_SOCKET.
HOTRELOAD_SOCKET=$T/env.sock run timeout 10 "$HOTRELOADCTL" status
assert_rc 69 "hotreloadctl status via HOTRELOAD_SOCKET without a daemon exits 69"
assert_contains "$T/env.sock" "$ERR" "hotreloadctl uses the socket of HOTRELOAD_SOCKET"

test_done
