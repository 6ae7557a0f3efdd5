#!/bin/bash
#
# test_llm_options.sh -- what a dialogue request may choose: "backend" (a
# configured name: that back end alone, even one left out of fallback, and
# no other when it fails; an unknown name is refused with no_such_backend
# and reaches no back end), and its own "temperature" and "max_tokens",
# which arrive at the back end clamped (temperature from 0 to 2, and to 1
# for Anthropic; max_tokens from 1 to the back end's params.max_tokens);
# parameters of the wrong type fail with bad_request.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

llm_setup
llm_server_start first
llm_server_start spare
llm_server_start ant

# "first" caps max_tokens at 50 and has its own temperature; "spare" has
# no params; "ant" is Anthropic.  Requests go to "first" unless they name
# another: "spare" and "ant" are left out of fallback.
llm_config "\"backends\": [
    $(llm_backend first openai first '"params": {"temperature": 0.3, "max_tokens": 50}'),
    $(llm_backend spare openai spare),
    $(llm_backend ant anthropic ant)],
  \"fallback\": [\"first\"]"
llm_start_daemon

# The body of the last request back end NAME received, as sorted JSON.
last_body() {
	jpy 'd[-1]["body"]' "$(llm_requests "$1")"
}

# The members temperature and max_tokens of the last body NAME received.
last_params() {
	jpy '[d[-1]["body"].get("temperature"), d[-1]["body"].get("max_tokens")]' \
	    "$(llm_requests "$1")"
}

# --------------------------------------------------------- the back end's
llm_ask peer-o1 '{"text":"defaults"}'
assert_json payload.backend first "no backend named: the fallback order" "$RESULT"
assert_eq '[0.3,50]' "$(last_params first)" \
    "no override: the back end's temperature and max_tokens arrive"

# ------------------------------------------------------- the request's own
llm_ask peer-o2 '{"text":"own","temperature":1.25,"max_tokens":20}'
assert_eq '[1.25,20]' "$(last_params first)" \
    "temperature 1.25 and max_tokens 20 arrive as asked"

llm_ask peer-o3 '{"text":"too much","temperature":9,"max_tokens":5000}'
assert_json status success "out of range values are clamped, not refused" "$RESULT"
assert_eq '[2.0,50]' "$(last_params first)" \
    "temperature 9 arrives as 2, max_tokens 5000 as the back end's 50"

llm_ask peer-o4 '{"text":"too little","temperature":-1,"max_tokens":0}'
assert_eq '[0.0,1]' "$(last_params first)" \
    "temperature -1 arrives as 0, max_tokens 0 as 1"

# Without params.max_tokens there is no ceiling but the request's own.
llm_ask peer-o5 '{"text":"spare","backend":"spare","max_tokens":5000}'
assert_json payload.backend spare "backend spare (not in fallback) answers" "$RESULT"
assert_json payload.text "spare says: spare" "the text comes from spare" "$RESULT"
assert_eq '[null,5000]' "$(last_params spare)" \
    "spare (no params): no temperature, max_tokens 5000 as asked"

# Anthropic takes temperatures up to 1.
llm_ask peer-o6 '{"text":"anthropic","backend":"ant","temperature":1.7,"max_tokens":64}'
assert_json payload.backend ant "backend ant answers" "$RESULT"
assert_eq '[1.0,64]' "$(last_params ant)" \
    "anthropic: temperature 1.7 arrives as 1, max_tokens 64"

# ------------------------------------------------------ an unknown back end
FIRST=$(llm_counter first chat)
SPARE=$(llm_counter spare chat)
ANT=$(llm_counter ant chat)
llm_load peer-o7 1 '{"text":"where","backend":"nope"}'
assert_json by_error '{"no_such_backend":1}' "an unknown back end: error code no_such_backend"
wait_until 5 llm_results_count_at_least peer-o7 1
RESULT=$(llm_results peer-o7 | tail -n 1)
assert_json status failure "an unknown back end: status failure" "$RESULT"
assert_eq 'no back end is named "nope" (the back ends: first, spare, ant)' \
    "$(jfield error_details.error_message "$RESULT")" \
    "an unknown back end: the message names it and the back ends there are"
assert_eq "$FIRST $SPARE $ANT" \
    "$(llm_counter first chat) $(llm_counter spare chat) $(llm_counter ant chat)" \
    "an unknown back end: no back end received anything"

# -------------------------------------------- a named back end that fails
# It is the only one tried: first (in fallback) gets nothing.
llm_control spare '{"status": 503}'
FIRST=$(llm_counter first chat)
llm_ask peer-o8 '{"text":"down","backend":"spare"}'
assert_json error_details.error_code llm_unavailable \
    "a named back end answering 503: llm_unavailable" "$RESULT"
assert_eq "$FIRST" "$(llm_counter first chat)" \
    "a named back end that fails does not fall back"
llm_control spare '{"reset": true}'

# -------------------------------------------------------- wrong parameters
CHATS=$(llm_counter first chat)
for params in '{"text":"x","temperature":"hot"}' '{"text":"x","max_tokens":1.5}' \
    '{"text":"x","backend":3}' '{"text":"x","backend":""}'; do
	llm_load peer-bad 1 "$params"
	assert_json by_error '{"bad_request":1}' "$params: bad_request"
done
assert_eq "$CHATS" "$(llm_counter first chat)" "wrong parameters reach no back end"
wait_until 5 llm_results_count_at_least peer-bad 4
assert_eq 'parameter "temperature" must be a number|parameter "max_tokens" must be an integer|parameter "backend" must be the name of a back end|parameter "backend" must be the name of a back end' \
    "$(llm_results peer-bad | "$PYTHON" -E -S -c 'import json, sys
print("|".join(json.loads(l)["error_details"]["error_message"] for l in sys.stdin))')" \
    "wrong parameters: the messages name them"

# null is the same as absent.
llm_ask peer-o9 '{"text":"nulls","backend":null,"temperature":null,"max_tokens":null}'
assert_json payload.backend first "null options: the fallback order" "$RESULT"
assert_eq '[0.3,50]' "$(last_params first)" "null options: the back end's own"
assert_eq 'nulls' "$(jpy 'd["messages"][-1]["content"]' "$(last_body first)")" \
    "null options: the question arrives"

stop_daemon "the daemon exits 0 on SIGTERM" 10
test_done
