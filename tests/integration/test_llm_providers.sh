#!/bin/bash
#
# test_llm_providers.sh -- the dialogue tool over HSP, answered through each
# LLM provider (openai with a ".../v1" base URL and a key from api_key_env,
# ollama with a ".../" base URL, anthropic with a key from api_key_file,
# azure_openai, google and cohere with keys, every params key and extra
# headers): the result payload (text, backend, model, llm_generation,
# usage, conversation_id) and what the back end received (path, query,
# model, stream, messages, where the system prompt goes, the parameters
# under the provider's names, the key and extra headers); the probe of
# reload-llm reads each provider's model list.  Also: a request without
# "text" fails with bad_request and reaches no back end; without a filter,
# and by capability id, the dialogue tool answers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

SYSTEM_PROMPT="You are terse."
OPENAI_KEY=$(random_token)
ANTHROPIC_KEY=$(random_token)
CLOUD_KEY=$(random_token)
export HOTRELOAD_TEST_OPENAI_KEY=$OPENAI_KEY
export HOTRELOAD_TEST_CLOUD_KEY=$CLOUD_KEY
printf '%s\n' "$ANTHROPIC_KEY" >"$T/anthropic.key"
# Every parameter, and an extra header, for the providers added last.
PARAMS='"params": {"temperature": 1.5, "top_p": 0.5, "max_tokens": 77,
    "stop": ["END", "##"], "seed": 42, "presence_penalty": 0.25,
    "frequency_penalty": -0.5},
  "headers": {"X-Title": "hotreload test"},
  "api_key_env": "HOTRELOAD_TEST_CLOUD_KEY"'

llm_setup
llm_server_start oai
llm_server_start oll
llm_server_start ant
llm_server_start az
llm_server_start goo
llm_server_start coh

# Start a daemon whose only back end is NAME (provider PROVIDER, more
# members EXTRA) on the server of the same name.
start_with() {
	llm_config "\"backends\": [$(llm_backend "$1" "$2" "$1" "${3-}")], \"fallback\": [\"$1\"]"
	llm_start_daemon
}

# The result payload of a dialogue turn: text, backend, model, generation,
# usage, conversation id.
check_result() {
	local name=$1 text=$2 conv=$3
	assert_fields "$name result" "$RESULT" \
	    status success \
	    payload.text "$name says: $text" \
	    payload.backend "$name" \
	    payload.model "model-$name" \
	    payload.llm_generation 1 \
	    payload.conversation_id "$conv"
	assert_eq true "$(jpy 'sorted(d["payload"]["usage"]) == ["completion_tokens", "prompt_tokens", "total_tokens"] and all(isinstance(v, int) and v > 0 for v in d["payload"]["usage"].values()) and d["payload"]["usage"]["total_tokens"] == d["payload"]["usage"]["prompt_tokens"] + d["payload"]["usage"]["completion_tokens"]' "$RESULT")" \
	    "$name: usage has prompt, completion and total tokens (positive, total = the sum)"
}

# ------------------------------------------------------------------ openai
start_with oai openai '"api_key_env": "HOTRELOAD_TEST_OPENAI_KEY"'
llm_ask peer-oai "{\"text\":\"hello openai\",\"conversation_id\":\"conv-oai\",\"system\":\"$SYSTEM_PROMPT\"}"
check_result oai "hello openai" conv-oai

REQS=$(llm_requests oai)
assert_eq 1 "$(jpy 'len(d)' "$REQS")" "openai: the back end received one request"
assert_fields "openai request" "$REQS" \
    0.method POST \
    0.path /v1/chat/completions \
    0.body.model model-oai \
    0.body.stream false \
    0.headers.authorization "Bearer $OPENAI_KEY" \
    0.headers.content-type application/json \
    0.headers.x-api-key '<missing>'
assert_eq "[{\"content\":\"$SYSTEM_PROMPT\",\"role\":\"system\"},{\"content\":\"hello openai\",\"role\":\"user\"}]" \
    "$(jpy 'd[0]["body"]["messages"]' "$REQS")" \
    "openai: the system prompt is the first message, then the user's"

# No "text": bad_request, and no back end is asked.
CHATS=$(llm_counter oai chat)
llm_load peer-notext 1 '{"conversation_id":"conv-x"}'
assert_rc 0 "a request without text: loadpeer runs"
assert_json by_status '{"success":0,"failure":1,"rejected":0,"other":0}' "a request without text fails"
assert_json by_error '{"bad_request":1}' "a request without text: error code bad_request"
wait_until 5 llm_results_count_at_least peer-notext 1
assert_match 'text' "$(jpy 'd["error_details"]["error_message"]' "$(llm_results peer-notext)")" \
    "a request without text: the error message names the parameter"
assert_eq "$CHATS" "$(llm_counter oai chat)" "a request without text reaches no back end"

# An empty text is no better.
llm_load peer-emptytext 1 '{"text":""}'
assert_json by_error '{"bad_request":1}' "a request with an empty text fails with bad_request"
assert_eq "$CHATS" "$(llm_counter oai chat)" "a request with an empty text reaches no back end"

# No filter: the default tool is dialogue when llm is configured.
llm_ask peer-default '{"text":"no filter"}' --no-filter
assert_json status success "no filter: success" "$RESULT"
assert_json payload.text "oai says: no filter" "no filter: the dialogue tool answered" "$RESULT"
assert_json payload.backend oai "no filter: backend oai" "$RESULT"
assert_eq false "$(jpy '"conversation_id" in d["payload"]' "$RESULT")" \
    "no filter, no conversation_id: none in the result"

# By capability id.
llm_ask peer-byid '{"text":"by id"}' --capability-id "$AI_ID:dialogue_v1"
assert_json payload.text "oai says: by id" "capability id $AI_ID:dialogue_v1 is the dialogue tool" "$RESULT"

# echo is still there by name.
llm_load peer-echo 2 '{"x":1}' --capability-name echo
assert_json by_status '{"success":2,"failure":0,"rejected":0,"other":0}' "echo by name still answers"
assert_json payload_mismatch 0 "echo: payloads equal the parameters"

status_json
assert_fields "status" "$OUT" \
    services.tool_dispatcher.tools '["dialogue","echo"]' \
    services.dialogue_manager.turns 3 \
    services.dialogue_manager.failed 0 \
    services.dialogue_manager.conversations 1 \
    services.llm.backends.0.requests 3 \
    services.llm.backends.0.errors 0 \
    services.llm.backends.0.auth env

# The probe of reload-llm: GET the model list, with the key.
llm_forget oai
run ctl -j reload-llm
assert_rc 0 "openai: reload-llm (probe) exits 0"
assert_json generation 2 "openai: reload-llm makes generation 2"
REQS=$(llm_requests oai)
assert_eq "GET /v1/models" "$(jpy '" ".join(d[0][k] for k in ("method", "path")) if len(d) == 1 else d' "$REQS")" \
    "openai: the probe is one GET /v1/models"
assert_json 0.headers.authorization "Bearer $OPENAI_KEY" "openai: the probe sends the key" "$REQS"
stop_daemon "the daemon exits 0 on SIGTERM" 10

# ------------------------------------------------------------------ ollama
start_with oll ollama
llm_ask peer-oll "{\"text\":\"hello ollama\",\"conversation_id\":\"conv-oll\",\"system\":\"$SYSTEM_PROMPT\"}"
check_result oll "hello ollama" conv-oll

REQS=$(llm_requests oll)
assert_eq 1 "$(jpy 'len(d)' "$REQS")" "ollama: the back end received one request"
assert_fields "ollama request" "$REQS" \
    0.method POST \
    0.path /api/chat \
    0.body.model model-oll \
    0.body.stream false \
    0.headers.authorization '<missing>' \
    0.headers.x-api-key '<missing>'
assert_eq "[{\"content\":\"$SYSTEM_PROMPT\",\"role\":\"system\"},{\"content\":\"hello ollama\",\"role\":\"user\"}]" \
    "$(jpy 'd[0]["body"]["messages"]' "$REQS")" \
    "ollama: the system prompt is the first message, then the user's"

llm_forget oll
run ctl -j reload-llm
assert_rc 0 "ollama: reload-llm (probe) exits 0"
assert_eq "GET /api/tags" "$(jpy '" ".join(d[0][k] for k in ("method", "path")) if len(d) == 1 else d' "$(llm_requests oll)")" \
    "ollama: the probe is one GET /api/tags"
stop_daemon "the daemon exits 0 on SIGTERM" 10

# --------------------------------------------------------------- anthropic
start_with ant anthropic "\"api_key_file\": \"$T/anthropic.key\""
llm_ask peer-ant "{\"text\":\"hello anthropic\",\"conversation_id\":\"conv-ant\",\"system\":\"$SYSTEM_PROMPT\"}"
check_result ant "hello anthropic" conv-ant

REQS=$(llm_requests ant)
assert_eq 1 "$(jpy 'len(d)' "$REQS")" "anthropic: the back end received one request"
assert_fields "anthropic request" "$REQS" \
    0.method POST \
    0.path /v1/messages \
    0.body.model model-ant \
    0.body.system "$SYSTEM_PROMPT" \
    0.body.max_tokens 1024 \
    0.body.stream '<missing>' \
    0.headers.x-api-key "$ANTHROPIC_KEY" \
    0.headers.anthropic-version 2023-06-01 \
    0.headers.authorization '<missing>'
assert_eq '[{"content":"hello anthropic","role":"user"}]' \
    "$(jpy 'd[0]["body"]["messages"]' "$REQS")" "anthropic: messages hold only the user's turn (the system prompt is top-level)"

# A second turn: the history, still without a system message in messages.
llm_forget ant
llm_ask peer-ant "{\"text\":\"and again\",\"conversation_id\":\"conv-ant\",\"system\":\"$SYSTEM_PROMPT\"}"
assert_json payload.text "ant says: and again" "anthropic turn 2: answered" "$RESULT"
assert_eq '[{"content":"hello anthropic","role":"user"},{"content":"ant says: hello anthropic","role":"assistant"},{"content":"and again","role":"user"}]' \
    "$(jpy 'd[0]["body"]["messages"]' "$(llm_requests ant)")" \
    "anthropic turn 2: the previous turn and its answer come first"

llm_forget ant
run ctl -j reload-llm
assert_rc 0 "anthropic: reload-llm (probe) exits 0"
REQS=$(llm_requests ant)
assert_eq "GET /v1/models" "$(jpy '" ".join(d[0][k] for k in ("method", "path")) if len(d) == 1 else d' "$REQS")" \
    "anthropic: the probe is one GET /v1/models"
assert_json 0.headers.x-api-key "$ANTHROPIC_KEY" "anthropic: the probe sends x-api-key" "$REQS"
assert_json 0.headers.anthropic-version 2023-06-01 "anthropic: the probe sends anthropic-version" "$REQS"
stop_daemon "the daemon exits 0 on SIGTERM" 10

# Succeed when the JSON array of requests (REQS) has one request, a
# "METHOD PATH?QUERY" equal to $1; the check is described by $2.
assert_request_line() {
	assert_eq "$1" "$(jpy '" ".join([d[0]["method"], d[0]["path"] + ("?" + d[0]["query"] if d[0]["query"] else "")]) if len(d) == 1 else d' "$REQS")" "$2"
}

# reload-llm, whose probe of back end NAME (PROVIDER) must be the one
# request "METHOD PATH?QUERY" $3; REQS is then what NAME received.
check_probe() {
	llm_forget "$1"
	run ctl -j reload-llm
	assert_rc 0 "$2: reload-llm (probe) exits 0"
	REQS=$(llm_requests "$1")
	assert_request_line "$3" "$2: the probe is one $3"
}

# ------------------------------------------------------------ azure_openai
start_with az azure_openai "\"deployment\": \"prod-4o\", $PARAMS"
llm_ask peer-az "{\"text\":\"hello azure\",\"conversation_id\":\"conv-az\",\"system\":\"$SYSTEM_PROMPT\"}"
check_result az "hello azure" conv-az
REQS=$(llm_requests az)
assert_request_line "POST /openai/deployments/prod-4o/chat/completions?api-version=2024-10-21" \
    "azure_openai: one POST to the deployment's chat/completions with the api-version"
assert_fields "azure_openai request" "$REQS" \
    0.headers.api-key "$CLOUD_KEY" \
    0.headers.authorization '<missing>' \
    0.headers.x-title "hotreload test" \
    0.headers.content-type application/json \
    0.body.model '<missing>' \
    0.body.stream false \
    0.body.temperature 1.5 \
    0.body.top_p 0.5 \
    0.body.max_tokens 77 \
    0.body.stop '["END","##"]' \
    0.body.seed 42 \
    0.body.presence_penalty 0.25 \
    0.body.frequency_penalty -0.5
assert_eq "[{\"content\":\"$SYSTEM_PROMPT\",\"role\":\"system\"},{\"content\":\"hello azure\",\"role\":\"user\"}]" \
    "$(jpy 'd[0]["body"]["messages"]' "$REQS")" \
    "azure_openai: the system prompt is the first message, then the user's"
check_probe az azure_openai "GET /openai/models?api-version=2024-10-21"
assert_fields "azure_openai probe" "$REQS" \
    0.headers.api-key "$CLOUD_KEY" \
    0.headers.x-title "hotreload test"
stop_daemon "the daemon exits 0 on SIGTERM" 10

# ------------------------------------------------------------------ google
start_with goo google "$PARAMS"
llm_ask peer-goo "{\"text\":\"hello gemini\",\"conversation_id\":\"conv-goo\",\"system\":\"$SYSTEM_PROMPT\"}"
check_result goo "hello gemini" conv-goo
llm_ask peer-goo "{\"text\":\"and again\",\"conversation_id\":\"conv-goo\",\"system\":\"$SYSTEM_PROMPT\"}"
assert_json payload.text "goo says: and again" "google turn 2: answered" "$RESULT"
REQS=$(llm_requests goo)
assert_eq 2 "$(jpy 'len(d)' "$REQS")" "google: the back end received two requests"
REQS=$(jpy '[d[1]]' "$REQS")
assert_request_line "POST /v1beta/models/model-goo:generateContent" \
    "google: POST /v1beta/models/MODEL:generateContent"
assert_fields "google request" "$REQS" \
    0.headers.x-goog-api-key "$CLOUD_KEY" \
    0.headers.authorization '<missing>' \
    0.headers.x-title "hotreload test" \
    0.body.model '<missing>' \
    0.body.stream '<missing>' \
    0.body.messages '<missing>' \
    0.body.systemInstruction "{\"parts\":[{\"text\":\"$SYSTEM_PROMPT\"}]}"
assert_eq '{"frequencyPenalty":-0.5,"maxOutputTokens":77,"presencePenalty":0.25,"seed":42,"stopSequences":["END","##"],"temperature":1.5,"topP":0.5}' \
    "$(jpy 'd[0]["body"]["generationConfig"]' "$REQS")" "google: every parameter in generationConfig, under Gemini's names"
assert_eq '[{"parts":[{"text":"hello gemini"}],"role":"user"},{"parts":[{"text":"goo says: hello gemini"}],"role":"model"},{"parts":[{"text":"and again"}],"role":"user"}]' \
    "$(jpy 'd[0]["body"]["contents"]' "$REQS")" \
    "google turn 2: contents hold the history, the answer as role model"
check_probe goo google "GET /v1beta/models"
assert_json 0.headers.x-goog-api-key "$CLOUD_KEY" "google: the probe sends x-goog-api-key" "$REQS"
stop_daemon "the daemon exits 0 on SIGTERM" 10

# ------------------------------------------------------------------ cohere
start_with coh cohere "$PARAMS"
llm_ask peer-coh "{\"text\":\"hello cohere\",\"conversation_id\":\"conv-coh\",\"system\":\"$SYSTEM_PROMPT\"}"
check_result coh "hello cohere" conv-coh
REQS=$(llm_requests coh)
assert_request_line "POST /v2/chat" "cohere: one POST /v2/chat"
# Cohere takes a temperature up to 1: 1.5 goes as 1.0.
assert_fields "cohere request" "$REQS" \
    0.headers.authorization "Bearer $CLOUD_KEY" \
    0.headers.x-title "hotreload test" \
    0.body.model model-coh \
    0.body.stream false \
    0.body.temperature 1.0 \
    0.body.p 0.5 \
    0.body.top_p '<missing>' \
    0.body.max_tokens 77 \
    0.body.stop_sequences '["END","##"]' \
    0.body.seed 42 \
    0.body.presence_penalty 0.25 \
    0.body.frequency_penalty -0.5
assert_eq "[{\"content\":\"$SYSTEM_PROMPT\",\"role\":\"system\"},{\"content\":\"hello cohere\",\"role\":\"user\"}]" \
    "$(jpy 'd[0]["body"]["messages"]' "$REQS")" \
    "cohere: the system prompt is the first message, then the user's"
check_probe coh cohere "GET /v1/models"
stop_daemon "the daemon exits 0 on SIGTERM" 10

# ------------------------------------------- params of the first providers
# openai, ollama and anthropic under their own names (anthropic: no seed
# or penalties, a temperature up to 1).
llm_forget oai
llm_forget oll
llm_forget ant
llm_config "\"backends\": [$(llm_backend oai openai oai "$PARAMS"),
    $(llm_backend oll ollama oll "${PARAMS%,*}"),
    $(llm_backend ant anthropic ant "${PARAMS%,*}")]"
llm_start_daemon
llm_ask peer-params '{"text":"p1","backend":"oai"}'
llm_ask peer-params '{"text":"p2","backend":"oll"}'
llm_ask peer-params '{"text":"p3","backend":"ant"}'
assert_fields "openai params" "$(llm_requests oai)" \
    0.headers.x-title "hotreload test" \
    0.body.temperature 1.5 0.body.top_p 0.5 0.body.max_tokens 77 \
    0.body.stop '["END","##"]' 0.body.seed 42 \
    0.body.presence_penalty 0.25 0.body.frequency_penalty -0.5
REQS=$(llm_requests oll)
assert_json 0.headers.x-title "hotreload test" "ollama params: the extra header" "$REQS"
assert_eq '{"frequency_penalty":-0.5,"num_predict":77,"presence_penalty":0.25,"seed":42,"stop":["END","##"],"temperature":1.5,"top_p":0.5}' \
    "$(jpy 'd[0]["body"]["options"]' "$REQS")" "ollama params: all of them in options, num_predict for max_tokens"
assert_fields "anthropic params" "$(llm_requests ant)" \
    0.headers.x-title "hotreload test" \
    0.headers.anthropic-version 2023-06-01 \
    0.body.temperature 1.0 0.body.top_p 0.5 0.body.max_tokens 77 \
    0.body.stop_sequences '["END","##"]' 0.body.seed '<missing>' \
    0.body.presence_penalty '<missing>' 0.body.frequency_penalty '<missing>'
stop_daemon "the daemon exits 0 on SIGTERM" 10

test_done
