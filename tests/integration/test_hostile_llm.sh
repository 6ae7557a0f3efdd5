#!/bin/bash
# shellcheck source-path=SCRIPTDIR
#
# test_hostile_llm.sh -- an LLM back end that answers far too much costs the
# daemon little memory and the request a clear error (DESIGN 7.7, issue 11
# finding 14).  A chat answer is accepted up to 2 MiB of body and 16384
# JSON values (hotreloadd(8) "Requests"); beyond either the request fails
# with llm_bad_response naming the back end, is not tried on another back
# end, and the daemon's peak RSS (VmHWM, reset before each case) grows by
# far less than the answer would cost parsed.  Cases: an 8 MB text answer,
# an 8 MB answer of "[{},{},...]" (612 MB peak before the fix), a 1.9 MB
# one under the byte cap but over the value cap, and a 1.5 MB text answer,
# which is delivered whole.  The figures are printed with note (and not
# asserted under a sanitizer or valgrind, whose quarantine keeps freed
# memory).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/llm.sh"

# The most the peak RSS may grow in one case, in kB (generous: the fixed
# daemon grows by 2 to 10 MB, the unfixed one by 50 to 600 MB).
PEAK_GROWTH_MAX_KB=$((100 * 1024))

llm_setup
llm_server_start big
llm_server_start spare

BIG=$(llm_backend big openai big)
SPARE=$(llm_backend spare openai spare)
llm_config "\"backends\": [$BIG, $SPARE], \"fallback\": [\"big\", \"spare\"], \"probe_on_reload\": false"
llm_start_daemon

# Field NAME (VmHWM, VmRSS) of the daemon's /proc status, in kB.
proc_kb() {
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$DAEMON_PID/status"
}

# Reset the daemon's peak RSS to its current RSS (proc(5) clear_refs 5);
# without it the peaks are counted from the start, which only makes each
# case's figure larger.
reset_peak() {
	echo 5 >"/proc/$DAEMON_PID/clear_refs" 2>/dev/null
}

# status and error code of RESULT, or the text length and back end.
outcome() {
	jpy '"success %d %s" % (len(d["payload"]["text"]), d["payload"]["backend"]) if d.get("status") == "success" else "%s %s" % (d.get("status", "no-result"), (d.get("error_details") or {}).get("error_code"))' "$RESULT"
}

# One case: back-end settings SETTINGS, then a request from PEER; checks
# the outcome is EXPECTED and the peak RSS grew by less than the bound.
hostile_case() {
	local peer=$1 settings=$2 expected=$3 desc=$4 before peak growth
	llm_control big "{\"reset\": true}"
	llm_control big "$settings"
	reset_peak
	before=$(proc_kb VmRSS)
	llm_ask "$peer" '{"text":"say a lot"}'
	peak=$(proc_kb VmHWM)
	growth=$((peak - before))
	note "$desc: VmRSS before $before kB, VmHWM after $peak kB" \
	    "(peak growth $growth kB), VmRSS after $(proc_kb VmRSS) kB;" \
	    "outcome: $(outcome)"
	assert_eq "$expected" "$(outcome)" "$desc: $expected"
	assert_memory_growth "$desc: peak RSS" "$growth" \
	    "$PEAK_GROWTH_MAX_KB"
}

hostile_case peer-text '{"reply_bytes": 8000000}' "failure llm_bad_response" \
    "an 8 MB text answer"
assert_match '^big: the answer is larger than 2097152 bytes' \
    "$(jpy 'd["error_details"]["error_message"]' "$RESULT")" \
    "an 8 MB answer: the message names the back end and the cap"

hostile_case peer-pad '{"reply_bytes": 100, "pad_bytes": 8000000}' \
    "failure llm_bad_response" "an 8 MB answer of empty objects"

hostile_case peer-values '{"reply_bytes": 100, "pad_bytes": 1900000}' \
    "failure llm_bad_response" "a 1.9 MB answer of 630000 empty objects"
assert_match '^big: .*more than 16384 JSON values' \
    "$(jpy 'd["error_details"]["error_message"]' "$RESULT")" \
    "too many values: the message names the back end and the cap"

# The answer had begun: another back end is not asked to do it again.
assert_eq 0 "$(llm_counter spare chat)" \
    "the spare back end received none of those requests"

hostile_case peer-long '{"reply_bytes": 1500000}' "success 1500000 big" \
    "a 1.5 MB text answer (under the caps)"

# Refused answers count as errors of the back end, which stays in service.
B=$(status_backend big)
assert_eq "4 3" "$(jpy '"%s %s" % (d["requests"], d["errors"])' "$B")" \
    "status: big has 4 requests and 3 errors"
llm_control big '{"reset": true}'
llm_ask peer-after '{"text":"short"}'
assert_eq "success 15 big" "$(outcome)" "a short answer afterwards is delivered"
note "VmRSS at the end: $(proc_kb VmRSS) kB"

test_done
