#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hostile_stores.sh -- what peers send cannot grow the daemon's stores
# without bound, and a conversation belongs to its requester (DESIGN 7.7;
# issue 11 findings 8, 9 and 14).
#
# Service discovery: thousands of adverts with 20 KB names from many fake
# agents, published with mosquitto_pub -l, leave at most
# hsp.discovery_max_bytes (1 MiB here) in the store: status shows bytes and
# max_bytes, the oldest were evicted, VmRSS grows by a few MB (the 60 MB
# they weigh were all kept before), and reload-hsp with a smaller bound
# trims the store at once.
#
# Dialogue manager: requester B sending A's conversation_id starts a fresh
# conversation (the back end receives none of A's turns) and A's history
# has none of B's; with llm.dialogue_history_bytes at 64 KiB, a turn larger
# than the bound is not kept, the oldest turns of the conversation in use
# go when it alone is over the bound, and hundreds of 30 KB turns in
# distinct conversations leave at most 64 KiB (the least recently used
# evicted) and VmRSS grows by a few MB.  Figures are printed with note;
# the VmRSS growth is not asserted under a sanitizer or valgrind (their
# quarantine keeps freed memory), the store figures always are.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

# Adverts and their name size; dialogue turns of the flood and their size.
ADVERTS=3000
ADVERT_NAME_BYTES=20000
TURNS=600
TURN_BYTES=30000
TURN_BATCH=20
# The most VmRSS may grow during each flood, in kB (the bounded stores hold
# 1 MiB and 64 KiB; the unbounded ones held 60 MB and 36 MB).
RSS_GROWTH_MAX_KB=$((16 * 1024))
HISTORY_MAX=65536

llm_setup
llm_server_start llm

# The configuration with discovery_max_bytes $1.
stores_config() {
	write_config "" "\"ai_id\": \"$AI_ID\",
  \"drain\": {\"timeout_s\": $LLM_DRAIN_S},
  \"hsp\": {\"broker\": {\"host\": \"127.0.0.1\", \"port\": $BROKER_PORT},
           \"discovery_max_bytes\": $1},
  \"llm\": {\"backends\": [$(llm_backend llm openai llm '"max_in_flight": 1000')],
           \"probe_on_reload\": false,
           \"dialogue_history_bytes\": $HISTORY_MAX}"
}
stores_config 1048576
llm_start_daemon

# VmRSS of the daemon, in kB.
rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status"
}

# Write to FILE one HSP envelope per line: KIND advert (COUNT adverts,
# names of SIZE bytes, from AGENTS fake agents) or dialogue (COUNT dialogue
# requests of SIZE bytes of text from did:hsp:flood, each in its own
# conversation).
envelopes() {
	"$PYTHON" -E -S - "$@" <<'EOF'
import json, sys, uuid
kind, count, size, agents, path, me = sys.argv[1:7]
count, size, agents = int(count), int(size), int(agents)
with open(path, "w") as out:
    for i in range(count):
        if kind == "advert":
            sender = "did:hsp:fake-%d" % (i % agents)
            mtype, recipient, pattern = "HSP::CapabilityAdvertisement_v0.1", "all", "publish"
            payload = {"capability_id": "%s:cap-%d" % (sender, i), "ai_id": sender,
                       "name": "n%d-" % i + "x" * size, "description": "d",
                       "version": "1.0", "availability_status": "online"}
        else:
            sender = "did:hsp:flood"
            mtype, recipient, pattern = "HSP::TaskRequest_v0.1", me, "request"
            payload = {"request_id": "flood-%d" % i, "requester_ai_id": sender,
                       "capability_name_filter": "dialogue",
                       "parameters": {"conversation_id": "conv-%d" % i,
                                      "text": "t%d-" % i + "y" * size}}
        env = {"hsp_envelope_version": "0.1", "message_id": str(uuid.uuid4()),
               "correlation_id": str(uuid.uuid4()), "sender_ai_id": sender,
               "recipient_ai_id": recipient,
               "timestamp_sent": "2026-12-02T10:00:00.000000Z",
               "message_type": mtype, "protocol_version": "0.1",
               "communication_pattern": pattern, "security_parameters": None,
               "qos_parameters": {"priority": "medium", "requires_ack": False,
                                  "time_to_live_sec": None},
               "routing_info": None, "payload_schema_uri": None, "payload": payload}
        out.write(json.dumps(env, separators=(",", ":")) + "\n")
EOF
}

# Publish the lines of FILE on TOPIC, one message each.
publish_lines() {
	run timeout -k 2 60 "$MOSQUITTO_PUB" -h 127.0.0.1 -p "$BROKER_PORT" -q 1 \
	    -t "$2" -l <"$1"
	assert_rc 0 "mosquitto_pub -l publishes $(wc -l <"$1") messages on $2"
}

# The chats the back end received whose last message is TEXT: for each,
# the number of messages and whether any holds NEEDLE (1 or 0), as "N:H".
chats_with() {
	jpy "' '.join('%d:%d' % (len(r['body']['messages']), any('$2' in m['content'] for m in r['body']['messages'])) for r in d if r['method'] == 'POST' and r['body']['messages'][-1]['content'] == '$1')" \
	    "$(llm_requests llm)"
}

# --- service discovery ----------------------------------------------------

envelopes advert "$ADVERTS" "$ADVERT_NAME_BYTES" 300 "$T/adverts" "$AI_ID"
before_adverts=$(status_field services.service_discovery.adverts_received)
rss_before=$(rss_kb)
publish_lines "$T/adverts" hsp/capabilities/advertisements/did:hsp:fake
assert_eventually "discovery received the $ADVERTS adverts" 30 \
    status_at_least services.service_discovery.adverts_received \
    $((before_adverts + ADVERTS))
rss_after=$(rss_kb)
status_json
D=$(jpy 'd["services"]["service_discovery"]' "$OUT")
note "discovery after $ADVERTS adverts of ${ADVERT_NAME_BYTES}-byte names" \
    "from 300 agents: $D"
note "discovery: VmRSS before $rss_before kB, after $rss_after kB" \
    "(growth $((rss_after - rss_before)) kB)"
assert_eq "1048576 4096" "$(jpy '"%s %s" % (d.get("max_bytes"), d.get("max_capabilities"))' "$D")" \
    "discovery status: max_bytes is hsp.discovery_max_bytes, max_capabilities 4096"
assert_eq "yes" "$(jpy '"yes" if 524288 < d.get("bytes", -1) <= d.get("max_bytes", 0) else "no: %s" % d.get("bytes")' "$D")" \
    "discovery: bytes is within max_bytes (and the store is in use)"
assert_eq "yes" "$(jpy '"yes" if 0 < d["capabilities"] <= 52 and d.get("evicted", 0) >= 2900 else "no"' "$D")" \
    "discovery: about 50 capabilities kept, the least recently seen evicted"
assert_memory_growth "discovery: VmRSS" $((rss_after - rss_before)) \
    "$RSS_GROWTH_MAX_KB"

# A smaller bound applies with the reload that brings it.
stores_config 262144
run ctl reload-hsp
assert_rc 0 "reload-hsp with hsp.discovery_max_bytes 262144"
status_json
D=$(jpy 'd["services"]["service_discovery"]' "$OUT")
note "discovery after reload-hsp: $D"
assert_eq "yes" "$(jpy '"yes" if d.get("max_bytes") == 262144 and 0 < d.get("bytes", -1) <= 262144 else "no"' "$D")" \
    "after reload-hsp: max_bytes 262144 and bytes trimmed within it"

# --- dialogue: conversations are scoped to their requester ---------------

llm_ask alice '{"text":"alice secret one","conversation_id":"c1"}'
llm_ask bob '{"text":"bob asks","conversation_id":"c1"}'
assert_eq "1:0" "$(chats_with "bob asks" alice)" \
    "B with A's conversation_id: the back end gets B's question alone, none of A's"
assert_json payload.conversation_id c1 "B's result names conversation c1" "$RESULT"
llm_ask alice '{"text":"alice two","conversation_id":"c1"}'
assert_eq "3:0" "$(chats_with "alice two" bob)" \
    "A's next turn: A's history (3 messages), none of B's"
assert_eq "3:1" "$(chats_with "alice two" "alice secret one")" \
    "A's next turn carries A's first question"
llm_ask bob '{"text":"bob again","conversation_id":"c1"}'
assert_eq "3:0" "$(chats_with "bob again" alice)" \
    "B's next turn: B's history alone"

# --- dialogue: bounded in bytes ------------------------------------------

# 40000 bytes asked, 40011 answered: 80011 > 65536, not kept.
big=$(printf 'b%.0s' $(seq 40000))
llm_ask carol "{\"text\":\"$big\",\"conversation_id\":\"c-big\"}"
llm_ask carol '{"text":"after the big one","conversation_id":"c-big"}'
assert_eq "1:0" "$(chats_with "after the big one" bbbbbbbbbb)" \
    "a turn larger than the whole bound is not kept"
assert_json services.dialogue_manager.too_large 1 \
    "status: too_large counts the turn not kept" "$(ctl -j status)"

# Two turns of 20000 + 20011 bytes: the second pushes the first one out.
mid=$(printf 'm%.0s' $(seq 20000))
llm_ask dave "{\"text\":\"1$mid\",\"conversation_id\":\"c-mid\"}"
llm_ask dave "{\"text\":\"2$mid\",\"conversation_id\":\"c-mid\"}"
llm_ask dave '{"text":"third","conversation_id":"c-mid"}'
assert_eq "3:0" "$(chats_with third "1mmmmmmmmm")" \
    "over the bound, the oldest turn of the conversation in use goes"
status_json
assert_eq "yes" "$(jpy '"yes" if d["services"]["dialogue_manager"].get("turns_dropped", 0) >= 1 else "no"' "$OUT")" \
    "status: turns_dropped counts it"

# The flood goes in batches of TURN_BATCH, each answered before the next:
# 600 turns at once would measure what tasks in flight hold (hsp.c does not
# stop reading at hsp.max_tasks_in_flight yet), not what the history keeps.
envelopes dialogue "$TURNS" "$TURN_BYTES" 1 "$T/turns" "$AI_ID"
split -l "$TURN_BATCH" -d -a 3 "$T/turns" "$T/batch."
turns=$(status_field services.dialogue_manager.turns)
rss_before=$(rss_kb)
published=0
for batch in "$T"/batch.*; do
	"$MOSQUITTO_PUB" -h 127.0.0.1 -p "$BROKER_PORT" -q 1 \
	    -t "hsp/requests/$AI_ID" -l <"$batch" || break
	turns=$((turns + $(wc -l <"$batch")))
	wait_until 20 status_at_least services.dialogue_manager.turns "$turns" ||
		break
	published=$((published + $(wc -l <"$batch")))
done
assert_eq "$TURNS" "$published" \
    "the $TURNS flood turns are published and answered, $TURN_BATCH at a time"
rss_after=$(rss_kb)
status_json
M=$(jpy 'd["services"]["dialogue_manager"]' "$OUT")
note "dialogue after $TURNS turns of $TURN_BYTES bytes in distinct conversations: $M"
note "dialogue: VmRSS before $rss_before kB, after $rss_after kB" \
    "(growth $((rss_after - rss_before)) kB)"
assert_eq "yes" "$(jpy "'yes' if d.get('max_bytes') == $HISTORY_MAX and 0 < d.get('bytes', -1) <= $HISTORY_MAX else 'no'" "$M")" \
    "dialogue: bytes within max_bytes (llm.dialogue_history_bytes)"
assert_eq "yes" "$(jpy "'yes' if d['evicted'] >= $TURNS - 2 and d['conversations'] <= 2 else 'no'" "$M")" \
    "dialogue: the least recently used conversations were evicted"
assert_eq 0 "$(jpy 'd["failed"]' "$M")" "dialogue: no turn failed"
assert_memory_growth "dialogue: VmRSS" $((rss_after - rss_before)) \
    "$RSS_GROWTH_MAX_KB"

test_done
