#!/bin/bash
#
# test_llm_secrets.sh -- LLM keys go to the back ends and nowhere else: with
# a key from api_key_env, one from api_key_file, a password in a base URL,
# and extra headers whose values come from a variable and from a file
# (distinct random strings), after requests (answered by each, failed),
# reload-llm (probes), failed reloads, a dry run that sees the header
# file changed, status and metrics, the back ends received the keys and
# header values in their headers, and none of them appears in status
# (JSON and human), metrics, the daemon's log (-v), the replies of
# hotreloadctl (plans included), or the error messages of failed
# requests.  A header that would carry the key twice fails the reload.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

ENV_KEY=$(random_token)
FILE_KEY=$(random_token)
URL_PASSWORD=$(random_token)
ENV_HEADER=$(random_token)
FILE_HEADER=$(random_token)
NEW_FILE_HEADER=$(random_token)
export HOTRELOAD_TEST_SECRET_KEY=$ENV_KEY
export HOTRELOAD_TEST_SECRET_HEADER=$ENV_HEADER
printf '%s\n' "$FILE_KEY" >"$T/file.key"
printf '%s\n' "$FILE_HEADER" >"$T/header.secret"
chmod 0600 "$T/file.key" "$T/header.secret"

llm_setup
llm_server_start E
llm_server_start F
llm_server_start U

E_URL=$(llm_url E)/v1
# U's base URL has user:password; curl turns them into a Basic header.
U_URL=http://user:$URL_PASSWORD@127.0.0.1:${LLM_PORT[U]}/v1
BACKENDS="\"backends\": [
    {\"name\": \"envb\", \"provider\": \"openai\", \"base_url\": \"$E_URL\", \"model\": \"m-env\", \"api_key_env\": \"HOTRELOAD_TEST_SECRET_KEY\",
     \"headers\": {\"X-Env-Secret\": {\"env\": \"HOTRELOAD_TEST_SECRET_HEADER\"}, \"X-Plain\": \"visible\"}},
    {\"name\": \"fileb\", \"provider\": \"anthropic\", \"base_url\": \"$(llm_url F)\", \"model\": \"m-file\", \"api_key_file\": \"$T/file.key\",
     \"headers\": {\"X-File-Secret\": {\"file\": \"$T/header.secret\"}}},
    {\"name\": \"urlb\", \"provider\": \"openai\", \"base_url\": \"$U_URL\", \"model\": \"m-url\"}
  ]"
# Write the configuration with the fallback order given.
order() {
	local list
	list=$(printf '"%s",' "$@")
	llm_config "$BACKENDS, \"fallback\": [${list%,}]"
}
order envb fileb urlb
llm_start_daemon

# Everything the daemon said, gathered here.
SEEN=$T/seen.txt
: >"$SEEN"
keep() {
	printf '%s\n' "$@" >>"$SEEN"
}

# Each back end answers in turn (first in the fallback order; every
# reload-llm probes the three with their keys).
llm_ask peer-s1 '{"text":"first","conversation_id":"s"}'
assert_json payload.backend envb "answered by envb (key from api_key_env)" "$RESULT"
keep "$RESULT"

order fileb urlb envb
run ctl -j reload-llm
assert_rc 0 "reload-llm to fileb first exits 0"
keep "$OUT" "$ERR"
llm_ask peer-s2 '{"text":"second","conversation_id":"s"}'
assert_json payload.backend fileb "answered by fileb (key from api_key_file)" "$RESULT"
keep "$RESULT"

order urlb envb fileb
run ctl -j reload-llm
assert_rc 0 "reload-llm to urlb first exits 0"
keep "$OUT" "$ERR"
llm_ask peer-s3 '{"text":"third","conversation_id":"s"}'
assert_json payload.backend urlb "answered by urlb (password in the URL)" "$RESULT"
keep "$RESULT"

# Requests that fail (401: the key refused; 400): their error messages.
llm_control U '{"status": 401}'
llm_ask peer-s4 '{"text":"fourth"}'
assert_json error_details.error_code bad_request "urlb answering 401: bad_request" "$RESULT"
keep "$RESULT"
order envb fileb urlb
run ctl -j reload-llm
keep "$OUT" "$ERR"
llm_control E '{"status": 401}'
llm_ask peer-s5 '{"text":"fifth"}'
assert_json error_details.error_code bad_request "envb answering 401: bad_request" "$RESULT"
keep "$RESULT"
llm_control E '{"reset": true}'
llm_control U '{"reset": true}'

# The back ends got the keys, and the header values.
assert_json 0.headers.authorization "Bearer $ENV_KEY" "envb received Authorization: Bearer <api_key_env key>" "$(llm_requests E)"
assert_json 0.headers.x-api-key "$FILE_KEY" "fileb received x-api-key: <api_key_file key>" "$(llm_requests F)"
assert_fields "envb's extra headers" "$(llm_requests E)" \
    0.headers.x-env-secret "$ENV_HEADER" 0.headers.x-plain visible
assert_json 0.headers.x-file-secret "$FILE_HEADER" "fileb received X-File-Secret: <the file's line>" "$(llm_requests F)"
assert_match '^Basic ' "$(jfield 0.headers.authorization "$(llm_requests U)")" \
    "urlb received the URL's user and password as Basic authorization"

# reload-llm probed every back end with its key and headers.
assert_fields "the probe of envb" "$(jpy '[r for r in d if r["method"] == "GET"][-1]' "$(llm_requests E)")" \
    headers.authorization "Bearer $ENV_KEY" headers.x-env-secret "$ENV_HEADER"
assert_fields "the probe of fileb" "$(jpy '[r for r in d if r["method"] == "GET"][-1]' "$(llm_requests F)")" \
    headers.x-api-key "$FILE_KEY" headers.x-file-secret "$FILE_HEADER"

# The header file rewritten: a dry run names the key that changed, not
# the value; the reload replaces the service, whose requests carry the
# new value.
printf '%s\n' "$NEW_FILE_HEADER" >"$T/header.secret"
run ctl -j reload --dry-run
assert_rc 0 "reload --dry-run with a rewritten header file exits 0"
assert_contains 'llm.backends[1].headers.X-File-Secret.file' "$OUT" \
    "the dry run names the header file's key as changed"
keep "$OUT" "$ERR"
run ctl reload --dry-run
keep "$OUT" "$ERR"
run ctl -j reload
assert_rc 0 "reload with a rewritten header file exits 0"
keep "$OUT" "$ERR"
assert_json reloaded '["llm"]' "the reload replaces the LLM service"
llm_forget F
order fileb urlb envb
run ctl -j reload-llm
keep "$OUT" "$ERR"
llm_ask peer-s6 '{"text":"sixth"}'
assert_json payload.backend fileb "answered by fileb after the header file changed" "$RESULT"
assert_json 0.headers.x-file-secret "$NEW_FILE_HEADER" "fileb now sends the file's new line" \
    "$(jpy '[r for r in d if r["method"] == "POST"]' "$(llm_requests F)")"
order envb fileb urlb
run ctl -j reload-llm
keep "$OUT" "$ERR"

# A header file that cannot be read, or holds no valid header value,
# fails the reload, naming the key and the file, never the value.
mv "$T/header.secret" "$T/header.away"
run ctl reload-llm
assert_rc 1 "reload-llm with a missing header file exits 1"
assert_contains "llm.backends[1].headers.X-File-Secret.file $T/header.secret" "$ERR" \
    "the failed reload names the header's key and file"
keep "$OUT" "$ERR"
printf '%s \n' "$FILE_HEADER" >"$T/header.secret"
chmod 0600 "$T/header.secret"
run ctl reload-llm
assert_rc 1 "reload-llm with a header value ending in a space exits 1"
assert_contains "llm.backends[1].headers.X-File-Secret.file: the value read is not a valid header value" "$ERR" \
    "the failed reload says the value is not a valid header value"
keep "$OUT" "$ERR"
mv "$T/header.away" "$T/header.secret"

# The key's own header cannot be given as well as the key.
llm_config "\"backends\": [
    {\"name\": \"twice\", \"provider\": \"openai\", \"base_url\": \"$E_URL\", \"model\": \"m\",
     \"api_key_env\": \"HOTRELOAD_TEST_SECRET_KEY\",
     \"headers\": {\"authorization\": {\"env\": \"HOTRELOAD_TEST_SECRET_HEADER\"}}}]"
run ctl reload-llm
assert_rc 1 "reload-llm with a key and an Authorization header exits 1"
assert_contains "llm.backends[0].headers.authorization.env: the API key goes in this header" "$ERR" \
    "the failed reload says the key goes in that header"
keep "$OUT" "$ERR"
order envb fileb urlb

# A failed reload: the first back end's probe is refused (401).
llm_control E '{"models_status": 401}'
run ctl reload-llm
assert_rc 1 "reload-llm whose probe gets 401 exits 1"
assert_contains "envb" "$ERR" "the failed reload names envb"
keep "$OUT" "$ERR"
run ctl -j reload-llm
keep "$OUT" "$ERR"
llm_control E '{"reset": true}'

# A failed reload: the key file is unreadable.
mv "$T/file.key" "$T/file.key.away"
run ctl reload-llm
assert_rc 1 "reload-llm with a missing key file exits 1"
assert_contains "$T/file.key" "$ERR" "the failed reload names the key file"
keep "$OUT" "$ERR"
mv "$T/file.key.away" "$T/file.key"

# Status, human and JSON; metrics.
run ctl -j status
assert_rc 0 "status -j"
keep "$OUT"
assert_eq "env file none" "$(jpy '" ".join(b["auth"] for b in d["services"]["llm"]["backends"])')" \
    "status shows where each key comes from (env, file, none), not the key"
assert_eq '[{"X-Env-Secret":"env","X-Plain":"literal"},{"X-File-Secret":"file"},{}]' \
    "$(jpy '[b["headers"] for b in d["services"]["llm"]["backends"]]')" \
    "status shows the header names and where their values come from"
assert_eq "http://127.0.0.1:${LLM_PORT[U]}/v1" "$(jpy '[b for b in d["services"]["llm"]["backends"] if b["name"] == "urlb"][0]["url"]')" \
    "status shows urlb's URL without its user and password"
run ctl status
assert_rc 0 "status (human)"
keep "$OUT"
run ctl -j metrics
keep "$OUT"
run ctl metrics
assert_rc 0 "metrics"
keep "$OUT"
assert_line 'hotreload_llm_requests_total\{backend="envb"\} [0-9]+' "$OUT" "metrics list envb"

# The log, everything the daemon said, must not hold any of the secrets.
for secret in "$ENV_KEY" "$FILE_KEY" "$URL_PASSWORD" "$ENV_HEADER" \
    "$FILE_HEADER" "$NEW_FILE_HEADER"; do
	case $secret in
	"$ENV_KEY") what="the api_key_env key" ;;
	"$FILE_KEY") what="the api_key_file key" ;;
	"$ENV_HEADER") what="the header value from a variable" ;;
	"$FILE_HEADER") what="the header value from a file" ;;
	"$NEW_FILE_HEADER") what="the header file's new value" ;;
	*) what="the password in the base URL" ;;
	esac
	assert_not_contains "$secret" "$(cat "$SEEN")" \
	    "$what is in no result, error message, status, metrics or ctl reply"
	assert_not_contains "$secret" "$(cat "$LOG")" "$what is not in the daemon's log (-v)"
done
assert_log "probe of back end envb" "the log has the failed probe (so it was looked at)"

test_done
