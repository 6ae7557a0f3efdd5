#!/bin/bash
#
# test_reload_transaction.sh -- a reload is a transaction (DESIGN.md 7.1):
#   - a rewritten api_key_file counts as a change: reload replaces the LLM
#     service and the back end receives the new key;
#   - --dry-run names the keys that would change (settings with values,
#     services by key only), applies nothing and contacts no back end;
#   - a reload that changes the LLM back end and, in the same edit, moves
#     the broker to a port that is down fails as a whole: every generation,
#     every limit and the route of dialogue stay as they were;
#   - --check of that edit exits 1 and changes nothing; of a good one, 0;
#   - history shows each command with origin, outcome, duration and the
#     file's SHA-256; rollback llm brings the previous back end back, and
#     rollback of what never changed is nothing_to_rollback;
#   - the keys appear in no plan, history, reply or log line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"
. "$(dirname "$0")/hsp.sh"

KEY1=$(random_token)
KEY2=$(random_token)
KEYFILE=$T/llm.key
printf '%s\n' "$KEY1" >"$KEYFILE"
chmod 0600 "$KEYFILE"

llm_setup
llm_server_start A
llm_server_start B

# The configuration: back end NAME (on server NAME, key from KEYFILE), the
# broker on PORT, control.max_clients CLIENTS.
conf() {
	local name=$1 port=$2 clients=$3
	write_config "\"max_clients\": $clients" "\"ai_id\": \"$AI_ID\",
  \"drain\": {\"timeout_s\": $LLM_DRAIN_S},
  \"hsp\": {\"broker\": {\"host\": \"127.0.0.1\", \"port\": $port},
          \"connect_timeout_s\": 2},
  \"llm\": {\"backends\": [$(llm_backend "$name" openai "$name" "\"api_key_file\": \"$KEYFILE\"")],
          \"fallback\": [\"$name\"]}"
}

# The Authorization header of the last chat request back end NAME got.
last_auth() {
	jpy '[r for r in d if r["method"] == "POST"][-1]["headers"]["authorization"]' \
	    "$(llm_requests "$1")"
}

SEEN=$T/seen.txt
: >"$SEEN"
keep() {
	printf '%s\n' "$@" >>"$SEEN"
}

conf A "$BROKER_PORT" 64
llm_start_daemon
llm_ask peer-t1 '{"text":"one"}'
assert_json payload.backend A "the first request is answered by A" "$RESULT"
assert_eq "Bearer $KEY1" "$(last_auth A)" "A received the key of the file"

# 1. The key file is rewritten; the JSON is not.
printf '%s\n' "$KEY2" >"$KEYFILE"
run ctl -j reload --dry-run
assert_rc 0 "reload --dry-run after the key file changed exits 0"
keep "$OUT" "$ERR"
assert_fields "dry run of the rotated key" "$OUT" \
    dry_run true \
    plan.services.llm.action replace \
    plan.services.llm.changed '["llm.backends[0].api_key_file"]' \
    plan.services.hsp.action keep \
    plan.settings '[]'
run ctl -j reload
assert_rc 0 "reload after the key file changed exits 0"
keep "$OUT" "$ERR"
assert_json reloaded '["llm"]' "reload replaces llm (only)"
assert_json services.llm.generation 2 "llm is generation 2" "$(ctl -j status)"
llm_ask peer-t2 '{"text":"two"}'
assert_eq "Bearer $KEY2" "$(last_auth A)" "after the reload A receives the new key"

# 2. --dry-run of an edit: B instead of A, max_clients 64 -> 128.
conf B "$BROKER_PORT" 128
before_a=$(llm_counter A requests)
before_b=$(llm_counter B requests)
run ctl -j reload --dry-run
assert_rc 0 "reload --dry-run of the edit exits 0"
keep "$OUT" "$ERR"
assert_fields "dry run of the edit" "$OUT" \
    plan.settings '[{"key":"control.max_clients","from":64,"to":128}]' \
    plan.services.llm.action replace \
    plan.services.hsp.action keep \
    plan.services.service_discovery.action keep
assert_contains '"llm.backends[0].base_url"' "$OUT" "the plan names llm.backends[0].base_url"
assert_contains '"llm.fallback[0]"' "$OUT" "the plan names llm.fallback[0]"
assert_eq "$before_a $before_b" "$(llm_counter A requests) $(llm_counter B requests)" \
    "--dry-run contacted neither back end"
status_json
assert_fields "after --dry-run" "$OUT" services.llm.generation 2 limits.max_clients 64
run ctl reload --dry-run
assert_rc 0 "reload --dry-run (human) exits 0"
keep "$OUT" "$ERR"
assert_line 'setting  control.max_clients: 64 -> 128' "$OUT" "the human plan shows the setting with its values"
assert_line 'llm +replace: .*llm\.backends\[0\]\.base_url.*' "$OUT" "the human plan shows llm replace with the keys"
assert_line 'dry run: nothing was changed' "$OUT" "the human plan says nothing was changed"

# 3. The same edit with the broker moved to a port that is down: all or
# nothing.
down=$(closed_port)
conf B "$down" 128
run ctl -j reload --check
assert_rc 1 "reload --check against a broker that is down exits 1"
keep "$OUT" "$ERR"
assert_fields "the failed check" "$OUT" \
    check true would_succeed false \
    plan.services.llm.ready true plan.services.hsp.action replace
assert_match 'refused|not connected' "$(jfield plan.services.hsp.error)" \
    "the check says why hsp is not ready"
assert_fields "a failed check is not a failed reload" "$(ctl -j status)" \
    services.hsp.last_reload.ok true services.llm.generation 2
run ctl reload
assert_rc 1 "reload with the broker down exits 1"
keep "$OUT" "$ERR"
assert_contains "reload_failed: hsp: " "$ERR" "the error names hsp"
assert_contains "nothing was changed" "$ERR" "the error says nothing was changed"
status_json
assert_fields "after the failed reload" "$OUT" \
    services.llm.generation 2 services.hsp.generation 1 \
    services.llm.backends.0.name A limits.max_clients 64 \
    services.hsp.connection up
llm_ask peer-t3 '{"text":"three"}'
assert_json payload.backend A "after the failed reload dialogue still goes to A" "$RESULT"
assert_json payload.llm_generation 2 "... on generation 2" "$RESULT"

# 4. The good edit: the check passes and changes nothing, then it applies.
conf B "$BROKER_PORT" 128
run ctl -j reload --check
assert_rc 0 "reload --check of the good edit exits 0"
keep "$OUT" "$ERR"
assert_fields "the good check" "$OUT" would_succeed true plan.services.llm.ready true
assert_json services.llm.generation 2 "after --check llm is still generation 2" "$(ctl -j status)"
run ctl -j reload
assert_rc 0 "reload of the good edit exits 0"
keep "$OUT" "$ERR"
assert_fields "the good reload's result" "$OUT" reloaded '["llm"]' \
    settings '["control.max_clients"]'
status_json
assert_fields "after the good reload" "$OUT" \
    services.llm.generation 3 limits.max_clients 128 \
    services.llm.backends.0.name B config.source file
SHA=$(sha256sum "$CONFIG" | cut -d' ' -f1)
assert_fields "status config digests" "$OUT" \
    config.running_sha256 "$SHA" config.file_sha256 "$SHA"
llm_ask peer-t4 '{"text":"four"}'
assert_json payload.backend B "after the reload dialogue goes to B" "$RESULT"

# 5. History, newest first.
run ctl -j history
assert_rc 0 "history exits 0"
keep "$OUT"
assert_fields "the last command in history" "$OUT" \
    entries.0.command reload entries.0.ok true entries.0.error null \
    entries.0.origin.uid "$(id -u)" entries.0.config_sha256 "$SHA" \
    entries.0.generations.llm 3
assert_fields "the check before it" "$OUT" entries.1.command reload \
    entries.1.ok true entries.1.args '{"check":true}' entries.0.args '{}'
assert_fields "the failed reload" "$OUT" \
    entries.2.ok false entries.2.error.code reload_failed \
    entries.2.generations.llm 2
assert_fields "the failed check (the command itself succeeded)" "$OUT" \
    entries.3.ok true entries.3.command reload
assert_eq startup "$(jpy 'd["entries"][-1]["origin"]')" "the oldest entry is the start-up"
assert_eq 1 "$(jpy 'len([e for e in d["entries"] if e["command"] == "startup"])')" \
    "one start-up entry"
run ctl -j history --limit 2
assert_eq 2 "$(jpy 'len(d["entries"])')" "history --limit 2 gives 2 entries"
run ctl history
assert_rc 0 "history (human) exits 0"
keep "$OUT"
assert_line ' *[0-9]+  [-0-9T:.]+Z  reload +uid [0-9]+ pid [0-9]+ +ok .* ms  sha256:[0-9a-f]{12}' \
    "$OUT" "the human history has one line per command"
assert_line ' *[0-9]+  [-0-9T:.]+Z  reload --check +uid [0-9]+ pid [0-9]+ +ok .*' \
    "$OUT" "the human history shows a check as reload --check"

# 6. Rollback.
run ctl -j rollback hsp
assert_rc 1 "rollback hsp (never changed) exits 1"
assert_json code nothing_to_rollback "rollback hsp: nothing_to_rollback"
run ctl -j rollback llm
assert_rc 0 "rollback llm exits 0"
keep "$OUT" "$ERR"
assert_fields "rollback llm" "$OUT" service llm generation 4
llm_ask peer-t5 '{"text":"five"}'
assert_json payload.backend A "after rollback llm dialogue goes to A again" "$RESULT"
assert_eq "Bearer $KEY2" "$(last_auth A)" "... with the key the file holds now"
status_json
assert_fields "status after rollback" "$OUT" config.source rollback \
    config.file_sha256 "$SHA"
run ctl -j reload-llm
assert_rc 0 "reload-llm after the rollback exits 0"
assert_json config.source file "status: after reload-llm the source is the file again" \
    "$(ctl -j status)"
llm_ask peer-t6 '{"text":"six"}'
assert_json payload.backend B "reload-llm reads the file: dialogue goes to B" "$RESULT"
conf A "$BROKER_PORT" 64
run ctl reload
assert_rc 0 "reload of the first configuration again exits 0"
assert_line 'settings: control.max_clients' "$OUT" "the human reload names the settings that changed"
run ctl -j rollback
assert_rc 0 "rollback (whole) exits 0"
assert_fields "rollback (whole)" "$OUT" reloaded '["llm"]' \
    settings '["control.max_clients"]'
status_json
assert_fields "status after the whole rollback" "$OUT" \
    services.llm.backends.0.name B limits.max_clients 128 config.source rollback

for secret in "$KEY1" "$KEY2"; do
	assert_not_contains "$secret" "$(cat "$SEEN")" \
	    "a key is in no plan, check, history or reply"
	assert_not_contains "$secret" "$(cat "$LOG")" "a key is not in the log"
done

test_done
