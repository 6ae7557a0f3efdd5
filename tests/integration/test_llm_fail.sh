#!/bin/bash
#
# test_llm_fail.sh -- a failed LLM reload keeps the running service: the
# new configuration's first back end fails its probe (HTTP 500 on the model
# list, or a closed port), a key variable is not set, the file is not JSON
# or has an unknown key: reload-llm exits 1 naming the back end and the
# cause, the generation does not change, last_reload says it failed, and
# the old back end still answers.  A back end other than the first failing
# its probe does not stop the reload.  "reload" and SIGHUP replace the LLM
# service when its section changed, and only then.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

llm_setup
llm_server_start A
llm_server_start P
llm_server_start Z
ZURL=$(llm_url Z)
llm_server_stop Z		# Z's port is now closed

CONFIG_A="\"backends\": [$(llm_backend A openai A)], \"fallback\": [\"A\"]"
llm_config "$CONFIG_A"
llm_start_daemon

# A request is answered by A on generation GEN (DESC says when).
answered_by_a() {
	local gen=$1 desc=$2
	llm_ask "peer-$3" '{"text":"still there?"}'
	assert_eq "A says: still there? A $gen" \
	    "$(jpy '" ".join(str(d["payload"][k]) for k in ("text", "backend", "llm_generation"))' "$RESULT")" \
	    "$desc: A answers on generation $gen"
}

# The status shows generation GEN with back ends A only.
unchanged() {
	local gen=$1 desc=$2
	status_json
	assert_fields "$desc" "$OUT" \
	    services.llm.generation "$gen" \
	    services.llm.state running \
	    services.llm.backends.0.name A \
	    services.llm.backends.1 '<missing>' \
	    services.llm.fallback '["A"]'
}

answered_by_a 1 "at start" start

# ---- the first back end's model list answers 500
llm_control P '{"models_status": 500}'
llm_config "\"backends\": [$(llm_backend P openai P), $(llm_backend A openai A)], \"fallback\": [\"P\", \"A\"]"
run ctl reload-llm
assert_rc 1 "reload-llm with a first back end whose probe gets HTTP 500 exits 1"
assert_match '^hotreloadctl: reload_failed: .*back end P .*HTTP 500' "$ERR" \
    "reload-llm, probe HTTP 500: stderr names back end P and the cause"
assert_eq 1 "$(llm_counter P models)" "the probe asked P for its model list once"
assert_eq 0 "$(llm_counter P chat)" "the probe sent P no chat"
unchanged 1 "after the failed probe"
assert_json services.llm.last_reload.ok false "after the failed probe: last_reload.ok false"
assert_match 'back end P .*HTTP 500' "$(jfield services.llm.last_reload.error)" \
    "after the failed probe: last_reload.error names P and HTTP 500"
answered_by_a 1 "after the failed probe" probe500

run ctl -j reload-llm
assert_rc 1 "reload-llm -j, probe HTTP 500: exits 1"
assert_json code reload_failed "reload-llm -j, probe HTTP 500: error code reload_failed"
assert_match 'back end P .*HTTP 500' "$(jfield message)" "reload-llm -j, probe HTTP 500: the message names P and HTTP 500"

PROBES=$(llm_counter P models)

# ---- the first back end's port is closed
llm_config "\"backends\": [{\"name\": \"Z\", \"provider\": \"openai\", \"base_url\": \"$ZURL/v1\", \"model\": \"m\"}, $(llm_backend A openai A)], \"fallback\": [\"Z\", \"A\"]"
run ctl reload-llm
assert_rc 1 "reload-llm with a first back end on a closed port exits 1"
assert_match "^hotreloadctl: reload_failed: .*back end Z .*(Connection refused|Could not connect|Couldn't connect|Failed to connect)" "$ERR" \
    "reload-llm, closed port: stderr names back end Z and the connection failure"
unchanged 1 "after the closed port"
assert_json services.llm.last_reload.ok false "after the closed port: last_reload.ok false"
answered_by_a 1 "after the closed port" closed

# ---- the key variable is not set
unset HOTRELOAD_TEST_NO_SUCH_KEY
llm_config "\"backends\": [$(llm_backend A openai A '"api_key_env": "HOTRELOAD_TEST_NO_SUCH_KEY"')], \"fallback\": [\"A\"]"
run ctl reload-llm
assert_rc 1 "reload-llm with an unset api_key_env variable exits 1"
assert_match '^hotreloadctl: reload_failed: .*HOTRELOAD_TEST_NO_SUCH_KEY' "$ERR" \
    "reload-llm, unset key variable: stderr names the variable"
unchanged 1 "after the unset key variable"

# ---- not JSON
llm_config "$CONFIG_A"
printf '{ "llm": ' >>"$CONFIG"
run ctl reload-llm
assert_rc 1 "reload-llm of a file that is not JSON exits 1"
assert_match "^hotreloadctl: reload_failed: $CONFIG:[0-9]+:[0-9]+: " "$ERR" \
    "reload-llm, not JSON: stderr names the file and the position"
unchanged 1 "after the file that is not JSON"

# ---- an unknown key in a back end
llm_config "\"backends\": [$(llm_backend A openai A '"modle": "typo"')], \"fallback\": [\"A\"]"
run ctl reload-llm
assert_rc 1 "reload-llm with an unknown back-end key exits 1"
assert_match 'llm\.backends\[0\]\.modle' "$ERR" "reload-llm, unknown key: stderr names llm.backends[0].modle"
unchanged 1 "after the unknown key"
answered_by_a 1 "after the bad files" badfiles
assert_eq "$PROBES" "$(llm_counter P models)" "the bad files and the closed port probed nothing on P"

# ---- a back end other than the first fails its probe: the reload goes on
llm_config "\"backends\": [$(llm_backend A openai A), $(llm_backend P openai P)], \"fallback\": [\"A\", \"P\"]"
run ctl -j reload-llm
assert_rc 0 "reload-llm where only the second back end's probe fails exits 0"
assert_json generation 2 "it makes generation 2"
assert_eq $((PROBES + 1)) "$(llm_counter P models)" "P's model list was probed"
P_STATUS=$(status_backend P)
assert_json healthy false "status: P, whose probe failed, is not healthy" "$P_STATUS"
assert_match 'HTTP 500' "$(jfield last_error "$P_STATUS")" "status: P's last_error says HTTP 500"
assert_json services.llm.last_reload.ok true "status: last_reload.ok true again" "$(ctl -j status)"
answered_by_a 2 "with P second" psecond
assert_eq 0 "$(llm_counter P chat)" "P received no chat"

# ---- reload: the llm section changed
llm_config "$CONFIG_A"
run ctl -j reload
assert_rc 0 "reload with a changed llm section exits 0"
assert_eq '["llm"]' "$(jpy 'd["reloaded"]')" "reload: llm is reloaded"
assert_eq true "$(jpy '"hsp" in d["unchanged"] and "llm" not in d["unchanged"]')" "reload: hsp unchanged"
assert_json services.llm.generation 3 "after reload: llm generation 3" "$(ctl -j status)"
answered_by_a 3 "after reload" reload3

# ---- reload: only the control section changed
llm_config "$CONFIG_A" "" '"queue_depth": 8'
run ctl -j reload
assert_rc 0 "reload without an llm change exits 0"
assert_eq '[]' "$(jpy 'd["reloaded"]')" "reload without an llm change: nothing reloaded"
assert_eq true "$(jpy '"llm" in d["unchanged"]')" "reload without an llm change: llm unchanged"
assert_json services.llm.generation 3 "after reload without an llm change: generation still 3" "$(ctl -j status)"

# ---- reload: the llm section changed, the probe fails
llm_config "\"backends\": [$(llm_backend P openai P), $(llm_backend A openai A)], \"fallback\": [\"P\", \"A\"]" "" '"queue_depth": 8'
run ctl reload
assert_rc 1 "reload whose llm probe fails exits 1"
assert_match 'back end P .*HTTP 500' "$ERR" "reload whose llm probe fails: stderr names P and HTTP 500"
unchanged 3 "after the failed reload"
answered_by_a 3 "after the failed reload" reloadfail

# ---- SIGHUP with a changed llm section
llm_config "\"backends\": [$(llm_backend A openai A '"timeout_s": 30')], \"fallback\": [\"A\"]" "" '"queue_depth": 8'
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP with a changed llm section: generation 4" 10 \
    status_is services.llm.generation 4
assert_json services.llm.last_reload.ok true "SIGHUP: last_reload ok" "$(ctl -j status)"
answered_by_a 4 "after SIGHUP" hup4

# ---- SIGHUP without an llm change (the queue depth shows it was applied)
llm_config "\"backends\": [$(llm_backend A openai A '"timeout_s": 30')], \"fallback\": [\"A\"]" "" '"queue_depth": 5'
kill -HUP "$DAEMON_PID"
assert_eventually "SIGHUP without an llm change: the new queue depth is applied" 10 \
    status_is queue.depth 5
assert_json services.llm.generation 4 "SIGHUP without an llm change: generation still 4" "$(ctl -j status)"
answered_by_a 4 "after SIGHUP without an llm change" hupsame

test_done
