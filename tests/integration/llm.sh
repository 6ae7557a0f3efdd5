# shellcheck shell=bash
#
# llm.sh -- helpers of the LLM integration tests (test_llm_*.sh), sourced
# after lib.sh.
#
# Gives a test a private MQTT broker (tests/support/broker), fake LLM back
# ends (tests/support/llmserver, one per name, each on a free port), a
# configuration with ai_id, hsp (the test broker) and llm, the daemon started
# and connected to the broker, a subscriber that keeps every TaskResult the
# daemon publishes (so a test can read result payloads, which loadpeer only
# counts), and loadpeer runs whose results can be summed up exactly.
#
# The EXIT trap of lib.sh is wrapped: the daemons are stopped first (while
# the broker and the back ends still run, so their shutdown is the normal
# one), then the broker, then lib.sh's cleanup runs as usual (it reaps the
# daemons and checks their exit status).

BROKER=$TOP/tests/support/broker
LOADPEER=$TOP/tests/support/loadpeer
LLMSERVER=$TOP/tests/support/llmserver
MOSQUITTO_SUB=${MOSQUITTO_SUB:-mosquitto_sub}
MOSQUITTO_PUB=${MOSQUITTO_PUB:-mosquitto_pub}

# The agent under test.
AI_ID=did:hsp:llm-test
BROKER_DIR=$T/broker
BROKER_PORT=
BROKER_STARTED=0
# Every TaskResult published on the broker: "topic payload" lines.
RESULTS=$T/results.txt
# Ports of the fake back ends, by name.
declare -A LLM_PORT=()
# Their process ids, by name.
declare -A LLM_PID=()
# The TaskResult payload of the last llm_ask.
RESULT=
# Seconds loadpeer waits for results after its last request.
LLM_WAIT=${LLM_WAIT:-20}
# Seconds a loadpeer run may take in all before it is stopped.
LLM_RUN_S=${LLM_RUN_S:-60}
# drain.timeout_s of the configurations (a bound on the daemon's stop).
LLM_DRAIN_S=${LLM_DRAIN_S:-3}

# EXIT trap: stop the daemons, then the broker, then lib.sh's cleanup.
llm_exit() {
	local status=$?
	set +e
	stop_daemons 10
	if ((BROKER_STARTED)); then
		"$BROKER" stop "$BROKER_DIR" >/dev/null 2>&1
	fi
	(exit "$status")
	cleanup
}
trap llm_exit EXIT

# An HTTP request: METHOD URL [BODY]; prints the response body.  Fails on
# a connection error or an HTTP error status.  curl when there is one (it
# starts much faster than python, which counts when the tests poll).
if command -v curl >/dev/null; then
	llm_http() {
		curl -sS -f --max-time 10 -X "$1" -H 'Content-Type: application/json' \
		    ${3+--data-binary "$3"} "$2"
	}
else
	llm_http() {
		"$PYTHON" -E -S -c '
import sys, urllib.request, urllib.error
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(sys.argv[2], data=data, method=sys.argv[1],
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode())
    sys.exit(1)
' "$@"
	}
fi

# Start the test's broker; sets BROKER_PORT.
llm_broker_start() {
	BROKER_PORT=$("$BROKER" start --no-persistence "$BROKER_DIR") ||
		fatal "the test broker does not start"
	BROKER_STARTED=1
}

# Start a fake back end called NAME (its replies: "NAME says: ..."), with
# more llmserver options if given; waits until it listens.
llm_server_start() {
	local name=$1 file=$T/llm-$1.port
	shift
	rm -f "$file"
	start_helper "$LLMSERVER" --port-file "$file" --name "$name" \
	    --log "$T/llm-$name.log" "$@" >/dev/null
	LLM_PID[$name]=$HELPER_PID
	wait_until 10 test -s "$file" ||
		fatal "llmserver $name does not start (log: $(cat "$T/llm-$name.log" 2>/dev/null))"
	LLM_PORT[$name]=$(<"$file")
	wait_until 10 llm_http GET "$(llm_url "$name")/control" ||
		fatal "llmserver $name does not answer"
}

# Stop the back end NAME; its port is then closed (connection refused).
llm_server_stop() {
	local pid=${LLM_PID[$1]}
	kill "$pid"
	wait "$pid" 2>/dev/null
	forget_pid "$pid"
}

# The base URL of back end NAME (no path).
llm_url() {
	printf 'http://127.0.0.1:%s' "${LLM_PORT[$1]}"
}

# POST /control of back end NAME with the JSON object SETTINGS.
llm_control() {
	llm_http POST "$(llm_url "$1")/control" "$2" >/dev/null ||
		fatal "POST /control $2 to llmserver $1 failed"
}

# Counter FIELD (requests, chat, models, ok, errors, delayed, hanging,
# dropped, recorded) of back end NAME.  The counters are the only numbers
# under these names in GET /control (compact JSON), so a match will do.
llm_counter() {
	local json re
	json=$(llm_http GET "$(llm_url "$1")/control") || return 1
	re="\"counters\":\\{.*\"$2\":([0-9]+)"
	if [[ $json =~ $re ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		jfield "counters.$2" "$json"
	fi
}

# Succeeds when counter FIELD of back end NAME is at least MIN.
llm_counter_at_least() {
	local n
	n=$(llm_counter "$1" "$2") || return 1
	[[ $n =~ ^[0-9]+$ ]] && ((n >= $3))
}

# The requests back end NAME received (a JSON array).
llm_requests() {
	llm_http GET "$(llm_url "$1")/requests"
}

# Forget the requests back end NAME received.
llm_forget() {
	llm_http DELETE "$(llm_url "$1")/requests" >/dev/null
}

# The JSON of a back end: NAME PROVIDER SERVER [MORE MEMBERS]; the model is
# "model-NAME", the base URL the one each provider is usually given
# (openai: .../v1, ollama: .../, anthropic: the server).
llm_backend() {
	local name=$1 provider=$2 url
	url=$(llm_url "$3")
	case $provider in
	openai) url=$url/v1 ;;
	ollama) url=$url/ ;;
	esac
	printf '{"name": "%s", "provider": "%s", "base_url": "%s", "model": "model-%s"%s}' \
	    "$name" "$provider" "$url" "$name" "${4:+, $4}"
}

# Write CONFIG: ai_id, control (CONTROL members, if any), a short drain
# (LLM_DRAIN_S),
# hsp on the test broker, and an llm section with the members LLM (JSON
# text); TOP: more top-level members.
llm_config() {
	local llm=$1 top=${2-} control=${3-}
	write_config "$control" "\"ai_id\": \"$AI_ID\",
  \"drain\": {\"timeout_s\": $LLM_DRAIN_S},
  \"hsp\": {\"broker\": {\"host\": \"127.0.0.1\", \"port\": $BROKER_PORT}},
  \"llm\": {$llm}${top:+,
  $top}"
}

# Succeeds when the daemon's HSP connection is up (subscribed).
llm_hsp_up() {
	status_is services.hsp.connection up
}

# Start the daemon on CONFIG and wait until its HSP connection is up.
llm_start_daemon() {
	start_daemon
	wait_until 10 llm_hsp_up ||
		fatal "the daemon's HSP connection is not up after 10 s"
}

# Publish a marker result and see it in RESULTS (the subscriber is ready).
llm_results_probe() {
	"$MOSQUITTO_PUB" -h 127.0.0.1 -p "$BROKER_PORT" -q 1 \
	    -t hsp/results/llm-test-probe/x -m probe &&
		grep -q '^hsp/results/llm-test-probe/x ' "$RESULTS"
}

# Start the subscriber that writes every TaskResult to RESULTS.
llm_results_start() {
	: >"$RESULTS"
	start_helper "$MOSQUITTO_SUB" -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -v \
	    -t 'hsp/results/#' >>"$RESULTS" 2>"$T/results.err"
	wait_until 10 llm_results_probe ||
		fatal "the result subscriber does not receive ($(cat "$T/results.err"))"
}

# Set up what every LLM test needs: broker and result subscriber.
llm_setup() {
	command -v "$MOSQUITTO_SUB" >/dev/null ||
		fatal "mosquitto_sub (mosquitto-clients) is needed"
	llm_broker_start
	llm_results_start
}

# The TaskResult payloads sent to peer did:hsp:PEER, one JSON per line.
llm_results() {
	"$PYTHON" -E -S -c '
import json, sys
prefix = "hsp/results/did:hsp:%s/" % sys.argv[2]
with open(sys.argv[1]) as f:
    for line in f:
        topic, _, payload = line.rstrip("\n").partition(" ")
        if topic.startswith(prefix):
            print(json.dumps(json.loads(payload)["payload"], sort_keys=True))
' "$RESULTS" "$1"
}

# Succeeds when peer PEER has received at least N results.
llm_results_count_at_least() {
	local n
	n=$(grep -c -F "hsp/results/did:hsp:$1/" "$RESULTS")
	((n >= $2))
}

# Sum up the results of peer PEER: lines "COUNT STATUS BACKEND GENERATION
# ERROR_CODE" (- where a field is absent), sorted.
llm_summary() {
	llm_results "$1" | "$PYTHON" -E -S -c '
import collections, json, sys
counts = collections.Counter()
for line in sys.stdin:
    r = json.loads(line)
    p = r.get("payload") or {}
    e = r.get("error_details") or {}
    counts[(r.get("status"), p.get("backend", "-"),
            str(p.get("llm_generation", "-")), e.get("error_code", "-"))] += 1
for key in sorted(counts):
    print(counts[key], *key)
'
}

# loadpeer as peer did:hsp:PEER sending COUNT dialogue requests with the
# parameters PARAMS (JSON) and more loadpeer OPTIONS; the report goes to
# OUT (run).  Without --no-filter or --capability-*, the request names the
# dialogue capability.
llm_load() {
	local peer=$1 count=$2 params=$3 filter=(--capability-name dialogue)
	shift 3
	[[ " $* " == *" --no-filter "* || " $* " == *" --capability-"* ]] &&
		filter=()
	run timeout -k 2 "$LLM_RUN_S" "$LOADPEER" -p "$BROKER_PORT" --target "$AI_ID" \
	    --id "did:hsp:$peer" -n "$count" "${filter[@]}" \
	    --params "$params" --wait "$LLM_WAIT" "$@"
}

# The same in the background, its report to FILE; sets HELPER_PID.
llm_load_bg() {
	local file=$1 peer=$2 count=$3 params=$4
	shift 4
	start_helper timeout -k 2 "$LLM_RUN_S" "$LOADPEER" -p "$BROKER_PORT" \
	    --target "$AI_ID" --id "did:hsp:$peer" -n "$count" \
	    --capability-name dialogue --params "$params" --wait "$LLM_WAIT" "$@" \
	    >"$file" 2>"$file.err"
}

# Wait for the background loadpeer PID; its report (FILE) goes to OUT.
llm_load_wait() {
	local pid=$1 file=$2
	wait "$pid"
	RC=$?
	forget_pid "$pid"
	# shellcheck disable=SC2034  # read by the tests
	OUT=$(cat "$file")
	# shellcheck disable=SC2034  # read by run_details
	ERR=$(cat "$file.err")
	# shellcheck disable=SC2034  # read by run_details
	RUN_CMD="loadpeer (background)"
}

# One dialogue request as peer did:hsp:PEER with PARAMS (and loadpeer
# OPTIONS); checks it is answered and puts its TaskResult payload in RESULT.
# A peer may ask again (a conversation is its requester's): RESULT is then
# the result of the new request, once the subscriber has it too.
llm_ask() {
	local peer=$1 params=$2 before
	shift 2
	before=$(grep -c -F "hsp/results/did:hsp:$peer/" "$RESULTS")
	llm_load "$peer" 1 "$params" "$@"
	CHECKS=$((CHECKS + 1))
	if [[ $RC == 0 && $(jfield answered) == 1 ]] &&
	    wait_until 5 llm_results_count_at_least "$peer" $((before + 1)); then
		pass "request of $peer is answered"
		RESULT=$(llm_results "$peer" | tail -n 1)
	else
		fail "request of $peer is answered" "$(run_details)"
		# shellcheck disable=SC2034  # read by the tests
		RESULT='{}'
	fi
}

# The back end NAME of the current LLM generation in the status (JSON).
status_backend() {
	local json
	json=$(ctl -j status) || return 1
	jpy "[b for b in d['services']['llm']['backends'] if b['name'] == '$1'][0]" "$json"
}

# Check that the daemon's memory figure WHAT grew by GROWTH kB, less than
# MAX kB; reported but not asserted where memory_checked says no.
assert_memory_growth() {
	local what=$1 growth=$2 max=$3
	CHECKS=$((CHECKS + 1))
	if ! memory_checked; then
		pass "$what grew by $growth kB (not asserted: the daemon runs under a sanitizer or a wrapper)"
	elif ((growth < max)); then
		pass "$what grew by $growth kB (< $max kB)"
	else
		fail "$what grew by less than $max kB" "it grew by $growth kB"
	fi
}

# A random string of letters and digits (a secret).
random_token() {
	"$PYTHON" -E -S -c 'import secrets; print(secrets.token_hex(16))'
}
