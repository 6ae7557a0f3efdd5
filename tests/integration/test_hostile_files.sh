#!/bin/bash
#
# test_hostile_files.sh -- files an operator (or someone who can write where
# the files are) got wrong (DESIGN.md section 7.7, "Files"):
#  (a) a FIFO in place of the configuration file, of an llm api_key_file,
#      of hsp.broker.password_file and of hsp.broker.tls.ca_file:
#      hotreloadd -t, hotreloadd -c, reload, reload-llm and reload-hsp fail at once with an error naming the file
#      and "not a regular file (a FIFO)", where open() used to wait for a
#      writer with the loop frozen; the daemon keeps answering and no
#      generation changes;
#  (b) a key or password file readable by every user (0644) is used, with a
#      warning naming the file and its mode, once per load;
#  (c) a configuration over 1 MiB (CONFIG_MAX_FILE_BYTES) is refused by -t
#      and by reload, naming the limit; the running configuration stays.
# Every client call is bounded (-t), and every FIFO is opened by the test
# afterwards, so that a daemon that did block in open() fails the checks
# instead of hanging the test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

# Seconds a client waits for an answer: far more than a refusal takes.
WAIT=5
KEY=$T/a.key
PASSWORD=$T/broker.pw

# hotreloadctl with a short timeout.
hctl() {
	ctl -t "$WAIT" "$@"
}

# Field PATH of a fresh status, or "<no answer>".
field() {
	local json
	json=$(hctl -j status 2>/dev/null) || { echo "<no answer>"; return; }
	jfield "$1" "$json"
}

# Open FIFO for reading and writing and close it again: a daemon blocked
# in open() on it goes on (and reads an empty file).  Never blocks.
fifo_release() {
	exec 3<>"$1"
	exec 3>&-
}

# Lines of the log that contain TEXT.
log_count() {
	grep -cF -- "$1" "$LOG"
}

write_hostile_config() {
	llm_config "\"backends\": [$(llm_backend a openai A \
	    "\"api_key_file\": \"$KEY\"")]" "" '"queue_depth": 4'
	# The broker takes anyone; the password is only read and sent.
	sed -i "s|\"port\": $BROKER_PORT}|\"port\": $BROKER_PORT, \"username\": \"hr\", \"password_file\": \"$PASSWORD\"}|" \
	    "$CONFIG"
	grep -qF "\"password_file\": \"$PASSWORD\"" "$CONFIG" ||
		fatal "cannot add password_file to the configuration"
}

llm_setup
llm_server_start A
printf 'key-%s\n' "$(random_token)" >"$KEY"
printf 'pw-%s\n' "$(random_token)" >"$PASSWORD"
chmod 0600 "$KEY" "$PASSWORD"
write_hostile_config
llm_start_daemon
assert_eq 0 "$(log_count "readable by every user")" \
    "start with 0600 files: no warning about their mode"
llm_gen=$(field services.llm.generation)
hsp_gen=$(field services.hsp.generation)
note "start: llm generation $llm_gen, hsp generation $hsp_gen"

# --- (b) readable by every user: a warning per load, naming file and mode.
chmod 0644 "$KEY" "$PASSWORD"
run hctl reload-llm
assert_rc 0 "reload-llm with a 0644 key file exits 0 (a warning, not an error)"
assert_line ".*llm\.backends\[0\]\.api_key_file $KEY: readable by every user \(mode 0644\); chmod 0600.*" \
    "$(cat "$LOG")" "the log warns about the key file, naming it and its mode"
run hctl reload-hsp
assert_rc 0 "reload-hsp with a 0644 password file exits 0"
assert_line ".*hsp\.broker\.password_file $PASSWORD: readable by every user \(mode 0644\); chmod 0600.*" \
    "$(cat "$LOG")" "the log warns about the password file, naming it and its mode"
key_warnings=$(log_count "api_key_file $KEY: readable by every user")
pw_warnings=$(log_count "password_file $PASSWORD: readable by every user")
note "warnings after one reload-llm and one reload-hsp: key file $key_warnings, password file $pw_warnings"
assert_eq 1 "$key_warnings" "one warning for the key file per load"
assert_eq 1 "$pw_warnings" "one warning for the password file per load"
chmod 0600 "$KEY" "$PASSWORD"
llm_gen=$(field services.llm.generation)
hsp_gen=$(field services.hsp.generation)

# --- (a) FIFOs.
# The configuration file.
mv "$CONFIG" "$T/saved.conf"
mkfifo "$CONFIG"
start=$(now_ms)
run hctl reload
note "reload with a FIFO as the configuration: exit $RC after $(($(now_ms) - start)) ms: $ERR"
fifo_release "$CONFIG"
assert_rc 1 "reload with a FIFO as the configuration exits 1"
assert_match "^hotreloadctl: reload_failed: .*$CONFIG: not a regular file \(a FIFO\)" "$ERR" \
    "reload: the error names the file and says it is a FIFO"
assert_eq 4 "$(field queue.depth)" "the daemon answers status; queue depth still 4"
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP with a FIFO as the configuration: logged" 5 \
    grep -qF "$CONFIG: not a regular file (a FIFO)" "$LOG"
fifo_release "$CONFIG"
run timeout -k 1 "$WAIT" "$HOTRELOADD" -t -c "$CONFIG"
fifo_release "$CONFIG"
assert_rc 1 "hotreloadd -t on a FIFO exits 1"
assert_eq "$CONFIG: not a regular file (a FIFO)" "$ERR" "hotreloadd -t: the error"
run timeout -k 1 "$WAIT" "$HOTRELOADD" -c "$CONFIG"
fifo_release "$CONFIG"
assert_rc 78 "hotreloadd -c on a FIFO does not start (exit 78)"
assert_contains "$CONFIG: not a regular file (a FIFO)" "$ERR" "hotreloadd -c: the error"
rm -f "$CONFIG"
mv "$T/saved.conf" "$CONFIG"

# The llm key file.
rm -f "$KEY"
mkfifo "$KEY"
run hctl reload-llm
note "reload-llm with a FIFO as api_key_file: exit $RC: $ERR"
fifo_release "$KEY"
assert_rc 1 "reload-llm with a FIFO as api_key_file exits 1"
assert_contains "llm.backends[0].api_key_file $KEY: not a regular file (a FIFO)" "$ERR" \
    "reload-llm: the error names the file and says it is a FIFO"
assert_eq "$llm_gen" "$(field services.llm.generation)" \
    "the daemon answers status; llm generation still $llm_gen"

# The broker password file.
rm -f "$PASSWORD"
mkfifo "$PASSWORD"
run hctl reload-hsp
note "reload-hsp with a FIFO as password_file: exit $RC: $ERR"
fifo_release "$PASSWORD"
assert_rc 1 "reload-hsp with a FIFO as password_file exits 1"
assert_contains "hsp.broker.password_file $PASSWORD: not a regular file (a FIFO)" "$ERR" \
    "reload-hsp: the error names the file and says it is a FIFO"
assert_eq "$hsp_gen" "$(field services.hsp.generation)" \
    "the daemon answers status; hsp generation still $hsp_gen"

# Regular files again: taken.
rm -f "$KEY" "$PASSWORD"
printf 'key-%s\n' "$(random_token)" >"$KEY"
printf 'pw-%s\n' "$(random_token)" >"$PASSWORD"
chmod 0600 "$KEY" "$PASSWORD"
run hctl reload-llm
assert_rc 0 "reload-llm with a regular key file again exits 0"
run hctl reload-hsp
assert_rc 0 "reload-hsp with a regular password file again exits 0"

# A TLS file, which libmosquitto would open itself.
hsp_gen=$(field services.hsp.generation)
CA=$T/ca.pem
mkfifo "$CA"
sed -i "s|\"password_file\": \"$PASSWORD\"}|\"password_file\": \"$PASSWORD\", \"tls\": {\"ca_file\": \"$CA\"}}|" \
    "$CONFIG"
grep -qF "\"ca_file\": \"$CA\"" "$CONFIG" ||
	fatal "cannot add tls.ca_file to the configuration"
run hctl reload-hsp
note "reload-hsp with a FIFO as tls.ca_file: exit $RC: $ERR"
fifo_release "$CA"
assert_rc 1 "reload-hsp with a FIFO as tls.ca_file exits 1"
assert_contains "hsp.broker.tls.ca_file $CA: not a regular file (a FIFO)" "$ERR" \
    "reload-hsp: the error names the TLS file and says it is a FIFO"
assert_eq "$hsp_gen" "$(field services.hsp.generation)" \
    "the daemon answers status; hsp generation still $hsp_gen"
write_hostile_config
run hctl reload-hsp
assert_rc 0 "reload-hsp without the TLS file again exits 0"

# --- (c) a configuration over the limit: 2 MB of valid JSON.
BIG=$T/big.conf
{
	head -c -2 "$CONFIG"	# without the closing "}\n"
	head -c 2000000 /dev/zero | tr '\0' ' '
	printf '}\n'
} >"$BIG"
note "big configuration: $(stat -c %s "$BIG") bytes"
run timeout -k 1 "$WAIT" "$HOTRELOADD" -t -c "$BIG"
assert_rc 1 "hotreloadd -t on a 2 MB configuration exits 1"
assert_eq "$BIG: too large (more than 1048576 bytes)" "$ERR" \
    "hotreloadd -t: the error names the file and the limit"
cp "$CONFIG" "$T/saved.conf"
cp "$BIG" "$CONFIG"
run hctl reload
assert_rc 1 "reload of a 2 MB configuration exits 1"
assert_match "^hotreloadctl: reload_failed: .*$CONFIG: too large \(more than 1048576 bytes\)" \
    "$ERR" "reload: the error names the file and the limit"
assert_eq 4 "$(field queue.depth)" "the running configuration stays (queue depth 4)"
cp "$T/saved.conf" "$CONFIG"
run hctl reload
assert_rc 0 "reload of the normal file again exits 0"

stop_daemon "the daemon exits 0 on SIGTERM" 10
test_done
