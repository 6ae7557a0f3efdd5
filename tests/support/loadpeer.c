/*
 * loadpeer.c -- an HSP peer agent that loads another agent with task requests.
 *
 * The integration tests use it to drive hotreloadd the way the other agents of
 * an HSP network do: it connects to the broker, subscribes to its own result
 * and acknowledgement topics, waits for the SUBACK, publishes COUNT
 * TaskRequests (HSP.md) to hsp/requests/<target>, and counts the TaskResults
 * and Acknowledgements that come back.  On the way it can re-send requests
 * with the same message_id (a retry the target must answer once) and slip in
 * malformed messages (which the target must drop without disturbing the
 * rest).  At the end it prints one line of JSON on standard output; the
 * calling test asserts on it.
 *
 * Two further modes split the work for "requests published while the target
 * is away": --publish-only publishes and leaves once the broker has
 * acknowledged everything; --collect-only, started before the target comes
 * back, only counts results.  Request ids are derived from the peer id
 * ("req-<id after its last colon>-<n>") so the two runs agree on them, and
 * --state hands the message and correlation ids of the first run to the
 * second, which can then check results as closely as a single run does.
 *
 * libmosquitto runs in this thread, driven by mosquitto_loop(): the callbacks
 * run inside that call, so the counters need no lock.  This is a test tool:
 * unlike the daemon it may block and sleep.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>		/* isfinite(), a macro: no -lm */
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "tool.h"

const char	*tool_name = "loadpeer";

/* A bad command line: exit LOADPEER_EXIT_USAGE after pointing at --help. */
#define usage_error(...) \
	tool_usage_error(LOADPEER_EXIT_USAGE, __VA_ARGS__)

#define LOADPEER_EXIT_USAGE		2
#define LOADPEER_EXIT_UNAVAILABLE	69

/* Publishes the broker has not acknowledged yet, at most. */
#define LOADPEER_WINDOW			1000
/* Requests published per turn of the loop when not paced. */
#define LOADPEER_BATCH			64
/* How long the CONNACK (and a SUBACK) may take. */
#define LOADPEER_HANDSHAKE_S		10.0
#define LOADPEER_RECONNECT_DELAY_S	0.2
#define LOADPEER_KEEPALIVE		30
/* Problem messages described on standard error, at most. */
#define LOADPEER_MAX_DIAGNOSTICS	10

#define HSP_TASK_REQUEST		"HSP::TaskRequest_v0.1"
#define HSP_TASK_RESULT			"HSP::TaskResult_v0.1"
#define HSP_ACKNOWLEDGEMENT		"HSP::Acknowledgement_v0.1"

#define UUID_LENGTH			36

enum loadpeer_mode {
	MODE_ROUND_TRIP,	/* publish, then collect */
	MODE_PUBLISH_ONLY,
	MODE_COLLECT_ONLY,
};

enum link_state {
	LINK_DOWN,
	LINK_CONNECTING,	/* TCP connected, waiting for the CONNACK */
	LINK_UP,
};

/* Kinds of malformed message, sent in this order, round robin. */
enum malformed_kind {
	MALFORMED_NOT_JSON,
	MALFORMED_ARRAY,
	MALFORMED_NO_MESSAGE_ID,
	MALFORMED_UNKNOWN_TYPE,
	MALFORMED_NO_REQUEST_ID,
	MALFORMED_KINDS
};

/* What was asked on the command line (or read from --state). */
struct loadpeer_options {
	const char		*host;
	int			 port;
	char			*target;
	char			*peer_id;
	size_t			 count;
	double			 rate;
	char			*capability_name;
	char			*capability_id;
	bool			 no_filter;
	json_t			*params;	/* an object, without "n" */
	bool			 requires_ack;
	bool			 callback;
	double			 wait_s;
	int			 protocol;
	size_t			 duplicate_every;
	size_t			 malformed_every;
	size_t			 bad_callback_every;
	enum loadpeer_mode	 mode;
	double			 collect_s;
	bool			 expect_given;
	const char		*state_file;
	const char		*ready_file;
	double			 linger_s;
	bool			 linger_given;
};

/* One task request and what came back for it. */
struct request {
	char		 message_id[UUID_LENGTH + 1];	/* "" when unknown */
	char		 correlation_id[UUID_LENGTH + 1];
	double		 published_at;	/* monotonic s; 0 when unknown */
	double		 answered_at;
	unsigned	 results;	/* results that passed the checks */
	unsigned	 acks;
};

/* A slot of the message id -> request table; index < 0 is malformed -index-1. */
struct message_slot {
	const char	*message_id;
	long		 index;
};

struct loadpeer {
	struct loadpeer_options	 opt;
	struct mosquitto	*mosq;

	char			*request_prefix;	/* "req-<suffix>-" */
	char			*malformed_prefix;	/* "req-<suffix>-bad-" */
	char			*request_topic;
	char			*results_filter;
	char			*results_prefix;	/* "hsp/results/<peer>/" */
	char			*acks_topic;
	char			*callback_topic;
	bool			 check_echo;
	bool			 message_ids_known;	/* false: collecting
							   without --state */

	struct request		*requests;
	size_t			 malformed_count;
	char			(*malformed_ids)[UUID_LENGTH + 1];
	struct message_slot	*slots;
	size_t			 slot_mask;

	enum link_state		 link;
	bool			 ever_connected;
	bool			 subscribed;
	int			 subscribe_mid;
	double			 link_changed_at;
	double			 next_reconnect_at;
	double			 down_since;
	bool			 ready_written;

	size_t			 next_request;	/* index of the next to publish */
	size_t			 unacknowledged;
	double			 start_at;
	double			 first_publish_at;
	double			 last_publish_at;
	double			 last_result_at;
	double			 done_at;

	/* Counters of the report. */
	size_t			 published;
	size_t			 retries_sent;
	size_t			 malformed_sent;
	size_t			 answered;
	size_t			 duplicates;
	size_t			 unknown;
	size_t			 bad;
	size_t			 payload_mismatch;
	size_t			 acked;
	size_t			 acks_received;
	size_t			 ack_duplicates;
	size_t			 acks_unknown;
	size_t			 bad_acks;
	size_t			 malformed_answered;
	size_t			 malformed_acked;
	size_t			 status_success;
	size_t			 status_failure;
	size_t			 status_rejected;
	size_t			 status_other;
	size_t			 no_subscribers;
	size_t			 puback_errors;
	size_t			 publish_errors;
	size_t			 reconnects;
	json_t			*by_error;
	json_t			*bad_reasons;
	unsigned		 diagnostics;
};

static volatile sig_atomic_t loadpeer_interrupted;

/* Sleep for seconds (a test tool may). */
static void
sleep_seconds(double seconds)
{
	struct timespec	ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Write a fresh random (version 4) UUID into out. */
static void
uuid4_generate(char out[UUID_LENGTH + 1])
{
	unsigned char	b[16];
	size_t		got = 0;
	ssize_t		n;

	while (got < sizeof b) {
		n = getrandom(b + got, sizeof b - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			tool_fatal(1, "getrandom: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	snprintf(out, UUID_LENGTH + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
	    b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Write the current UTC time as ISO-8601 with microseconds and a Z. */
static void
timestamp_format(char *out, size_t size)
{
	struct timespec	ts;
	struct tm	tm;
	char		seconds[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%06ldZ", seconds, ts.tv_nsec / 1000);
}

/* A string member of an object, or NULL. */
static const char *
json_member_string(const json_t *object, const char *key)
{
	return json_string_value(json_object_get(object, key));
}

/* Add one to counter key of a JSON object of counters. */
static void
json_counter_increment(json_t *counters, const char *key)
{
	json_t	*value = json_object_get(counters, key);

	json_object_set_new(counters, key,
	    json_integer(value == NULL ? 1 : json_integer_value(value) + 1));
}

/* Round a non-negative value to thousandths, for the report. */
static json_t *
json_real_rounded(double value)
{
	return json_real((double)(long long)(value * 1000.0 + 0.5) / 1000.0);
}

static double
min_double(double a, double b)
{
	return a < b ? a : b;
}

/*
 * Message id table.
 */

static uint64_t
message_id_hash(const char *id)
{
	uint64_t	h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return h;
}

/* Size the table for every message id this run can know. */
static void
message_table_init(struct loadpeer *peer)
{
	size_t	want = 2 * (peer->opt.count + peer->malformed_count) + 16;
	size_t	size = 16;

	while (size < want)
		size *= 2;
	peer->slots = xcalloc(size, sizeof *peer->slots);
	peer->slot_mask = size - 1;
}

/* Remember that message_id belongs to index (see struct message_slot). */
static void
message_table_add(struct loadpeer *peer, const char *message_id, long index)
{
	size_t	i = (size_t)message_id_hash(message_id) & peer->slot_mask;

	while (peer->slots[i].message_id != NULL) {
		if (strcmp(peer->slots[i].message_id, message_id) == 0)
			return;
		i = (i + 1) & peer->slot_mask;
	}
	peer->slots[i].message_id = message_id;
	peer->slots[i].index = index;
}

/* The slot of message_id, or NULL. */
static const struct message_slot *
message_table_find(const struct loadpeer *peer, const char *message_id)
{
	size_t	i = (size_t)message_id_hash(message_id) & peer->slot_mask;

	while (peer->slots[i].message_id != NULL) {
		if (strcmp(peer->slots[i].message_id, message_id) == 0)
			return &peer->slots[i];
		i = (i + 1) & peer->slot_mask;
	}
	return NULL;
}

/*
 * Building and publishing requests.
 */

/* Number n (from 1) of the request with index i. */
static size_t
request_number(size_t index)
{
	return index + 1;
}

static char *
request_id_format(const struct loadpeer *peer, size_t index)
{
	return xasprintf("%s%zu", peer->request_prefix, request_number(index));
}

/* The parameters of request index: --params with "n" set. */
static json_t *
request_parameters(const struct loadpeer *peer, size_t index)
{
	json_t	*params = json_deep_copy(peer->opt.params);

	json_object_set_new(params, "n",
	    json_integer((json_int_t)request_number(index)));
	return params;
}

/*
 * Callback addresses a target must refuse (--bad-callback-every): the
 * broker's own topics, another agent's request topic, wildcards, a shared
 * subscription, the bare prefix.  The last entry is made long at run time.
 */
static const char *const hostile_callbacks[] = {
	"$SYS/hotreload/refused",
	"hsp/requests/did:hsp:victim",
	"hsp/results/#",
	"hsp/results/+/x",
	"$share/g/hsp/results/x",
	"hsp/results/",
	NULL,	/* "hsp/results/" and 2000 bytes */
};
#define HOSTILE_CALLBACKS \
	(sizeof hostile_callbacks / sizeof hostile_callbacks[0])

/* The hostile callback address of request INDEX, or NULL when it has
 * none. */
static const char *
request_bad_callback(const struct loadpeer *peer, size_t index)
{
	static char	 long_topic[2048];
	size_t		 n = request_number(index), k;

	if (peer->opt.bad_callback_every == 0 || index == SIZE_MAX ||
	    n % peer->opt.bad_callback_every != 0)
		return NULL;
	k = (n / peer->opt.bad_callback_every - 1) % HOSTILE_CALLBACKS;
	if (hostile_callbacks[k] != NULL)
		return hostile_callbacks[k];
	if (long_topic[0] == '\0') {
		snprintf(long_topic, sizeof long_topic, "hsp/results/");
		memset(long_topic + 12, 'a', sizeof long_topic - 13);
		long_topic[sizeof long_topic - 1] = '\0';
	}
	return long_topic;
}

/* A TaskRequest payload for request INDEX (SIZE_MAX: not a numbered
 * one); parameters are stolen. */
static json_t *
request_payload_new(const struct loadpeer *peer, size_t index,
    const char *request_id, json_t *parameters)
{
	const char	*bad = request_bad_callback(peer, index);

	json_t	*payload;

	payload = json_pack("{s:s, s:s, s:s, s:o}",
	    "request_id", request_id,
	    "requester_ai_id", peer->opt.peer_id,
	    "target_ai_id", peer->opt.target,
	    "parameters", parameters);
	if (payload == NULL)
		tool_fatal(1, "cannot build a request payload");
	if (peer->opt.capability_id != NULL)
		json_object_set_new(payload, "capability_id_filter",
		    json_string(peer->opt.capability_id));
	else if (!peer->opt.no_filter)
		json_object_set_new(payload, "capability_name_filter",
		    json_string(peer->opt.capability_name));
	if (bad != NULL)
		json_object_set_new(payload, "callback_address",
		    json_string(bad));
	else if (peer->opt.callback)
		json_object_set_new(payload, "callback_address",
		    json_string(peer->callback_topic));
	return payload;
}

/* A full HSP envelope around payload (stolen); every key is present. */
static json_t *
envelope_new(const struct loadpeer *peer, const char *message_id,
    const char *correlation_id, const char *message_type, json_t *payload)
{
	char	 stamp[64];
	json_t	*envelope;

	timestamp_format(stamp, sizeof stamp);
	envelope = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s, s:s, s:s, s:s,"
	    " s:n, s:{s:s, s:b, s:n}, s:n, s:n, s:o}",
	    "hsp_envelope_version", "0.1",
	    "message_id", message_id,
	    "correlation_id", correlation_id,
	    "sender_ai_id", peer->opt.peer_id,
	    "recipient_ai_id", peer->opt.target,
	    "timestamp_sent", stamp,
	    "message_type", message_type,
	    "protocol_version", "0.1",
	    "communication_pattern", "request",
	    "security_parameters",
	    "qos_parameters",
		"priority", "high",
		"requires_ack", (int)peer->opt.requires_ack,
		"time_to_live_sec",
	    "routing_info",
	    "payload_schema_uri",
	    "payload", payload);
	if (envelope == NULL)
		tool_fatal(1, "cannot build an envelope");
	return envelope;
}

/* Publish text on the request topic at QoS 1; 0 or -1. */
static int
publish_text(struct loadpeer *peer, const char *text)
{
	int	rc;

	rc = mosquitto_publish(peer->mosq, NULL, peer->request_topic,
	    (int)strlen(text), text, 1, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		peer->publish_errors++;
		tool_warnx("publish to %s: %s", peer->request_topic,
		    mosquitto_strerror(rc));
		return -1;
	}
	peer->published++;
	peer->unacknowledged++;
	peer->last_publish_at = clock_monotonic();
	if (peer->first_publish_at == 0)
		peer->first_publish_at = peer->last_publish_at;
	return 0;
}

/* Publish request index, twice (same message_id) when it is a retry. */
static void
publish_request(struct loadpeer *peer, size_t index)
{
	struct request	*request = &peer->requests[index];
	json_t		*envelope;
	char		*request_id, *text;
	size_t		 n = request_number(index);

	uuid4_generate(request->message_id);
	uuid4_generate(request->correlation_id);
	request_id = request_id_format(peer, index);
	envelope = envelope_new(peer, request->message_id,
	    request->correlation_id, HSP_TASK_REQUEST,
	    request_payload_new(peer, index, request_id,
	    request_parameters(peer, index)));
	text = json_dumps(envelope, JSON_COMPACT);
	json_decref(envelope);
	free(request_id);
	if (text == NULL)
		tool_fatal(1, "cannot serialise a request");

	message_table_add(peer, request->message_id, (long)index);
	if (publish_text(peer, text) == 0) {
		request->published_at = peer->last_publish_at;
		if (peer->opt.duplicate_every != 0 &&
		    n % peer->opt.duplicate_every == 0 &&
		    publish_text(peer, text) == 0)
			peer->retries_sent++;
	}
	free(text);
}

/* Publish malformed message number k (from 0); none must be answered. */
static void
publish_malformed(struct loadpeer *peer, size_t k)
{
	char		*message_id = peer->malformed_ids[k];
	char		 correlation_id[UUID_LENGTH + 1];
	char		*request_id, *text = NULL, *inner;
	json_t		*envelope = NULL, *payload;

	uuid4_generate(message_id);
	uuid4_generate(correlation_id);
	request_id = xasprintf("%s%zu", peer->malformed_prefix, k + 1);
	payload = request_payload_new(peer, SIZE_MAX, request_id,
	    json_pack("{s:I}", "n", (json_int_t)-(json_int_t)(k + 1)));

	switch ((enum malformed_kind)(k % MALFORMED_KINDS)) {
	case MALFORMED_NOT_JSON:
		json_decref(payload);
		text = xasprintf("{\"hsp_envelope_version\": \"0.1\", "
		    "\"message_id\": \"%s\", this is not JSON", message_id);
		break;
	case MALFORMED_ARRAY:
		envelope = envelope_new(peer, message_id, correlation_id,
		    HSP_TASK_REQUEST, payload);
		inner = json_dumps(envelope, JSON_COMPACT);
		text = xasprintf("[%s]", inner);
		free(inner);
		break;
	case MALFORMED_NO_MESSAGE_ID:
		envelope = envelope_new(peer, message_id, correlation_id,
		    HSP_TASK_REQUEST, payload);
		json_object_del(envelope, "message_id");
		break;
	case MALFORMED_UNKNOWN_TYPE:
		envelope = envelope_new(peer, message_id, correlation_id,
		    "HSP::NoSuchMessage_v0.1", payload);
		break;
	case MALFORMED_NO_REQUEST_ID:
		json_object_del(payload, "request_id");
		envelope = envelope_new(peer, message_id, correlation_id,
		    HSP_TASK_REQUEST, payload);
		break;
	case MALFORMED_KINDS:
		break;
	}
	if (text == NULL)
		text = json_dumps(envelope, JSON_COMPACT);
	json_decref(envelope);
	free(request_id);
	if (text == NULL)
		tool_fatal(1, "cannot serialise a malformed message");

	message_table_add(peer, message_id, -(long)k - 1);
	if (publish_text(peer, text) == 0)
		peer->malformed_sent++;
	free(text);
}

/* Publish what is due now; return seconds until more is due (0: now). */
static double
publish_due(struct loadpeer *peer, double now)
{
	size_t	sent = 0, n;
	double	due;

	while (peer->next_request < peer->opt.count) {
		if (peer->unacknowledged >= LOADPEER_WINDOW)
			return 0.1;	/* woken by the PUBACKs */
		if (peer->opt.rate > 0) {
			due = peer->start_at +
			    (double)peer->next_request / peer->opt.rate;
			if (due > now)
				return due - now;
		} else if (sent == LOADPEER_BATCH)
			return 0;	/* let the loop read the replies */
		publish_request(peer, peer->next_request);
		n = request_number(peer->next_request);
		peer->next_request++;
		if (peer->opt.malformed_every != 0 &&
		    n % peer->opt.malformed_every == 0)
			publish_malformed(peer, n / peer->opt.malformed_every - 1);
		sent++;
	}
	return 0.1;
}

/*
 * Checking what comes back.
 */

/* Describe a problem message on standard error, the first few only. */
static void
diagnose(struct loadpeer *peer, const char *what, const char *topic,
    const void *payload, int length)
{
	if (peer->diagnostics >= LOADPEER_MAX_DIAGNOSTICS)
		return;
	tool_warnx("%s on %s: %.*s", what, topic,
	    length > 300 ? 300 : length, (const char *)payload);
	if (++peer->diagnostics == LOADPEER_MAX_DIAGNOSTICS)
		tool_warnx("(further problem messages are only counted)");
}

/* Count a result that fails the checks. */
static void
result_reject(struct loadpeer *peer, const char *reason,
    const struct mosquitto_message *message)
{
	char	what[128];

	peer->bad++;
	json_counter_increment(peer->bad_reasons, reason);
	snprintf(what, sizeof what, "bad result (%s)", reason);
	diagnose(peer, what, message->topic, message->payload,
	    message->payloadlen);
}

/*
 * The index of the request with this id, -1 if it is not ours, or -2 if it
 * is one of our malformed messages.
 */
static long
request_index_find(const struct loadpeer *peer, const char *request_id)
{
	size_t			 prefix = strlen(peer->request_prefix);
	const char		*digits;
	char			*end;
	unsigned long long	 n;

	if (strncmp(request_id, peer->malformed_prefix,
	    strlen(peer->malformed_prefix)) == 0)
		return -2;
	if (strncmp(request_id, peer->request_prefix, prefix) != 0)
		return -1;
	digits = request_id + prefix;
	if (*digits < '1' || *digits > '9')
		return -1;
	errno = 0;
	n = strtoull(digits, &end, 10);
	if (errno != 0 || *end != '\0' || n == 0 || n > peer->opt.count)
		return -1;
	return (long)(n - 1);
}

/* True if every envelope key of HSP.md is present. */
static bool
envelope_complete(const json_t *envelope)
{
	static const char *const keys[] = {
		"hsp_envelope_version", "message_id", "correlation_id",
		"sender_ai_id", "recipient_ai_id", "timestamp_sent",
		"message_type", "protocol_version", "communication_pattern",
		"security_parameters", "qos_parameters", "routing_info",
		"payload_schema_uri", "payload",
	};
	size_t	i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (json_object_get(envelope, keys[i]) == NULL)
			return false;
	}
	return true;
}

/*
 * Check a result for request index; NULL if it is right, else the reason.
 * Without the request's correlation id (--collect-only without --state) the
 * correlation id must at least be present and differ from the request id.
 */
static const char *
result_check(const struct loadpeer *peer, size_t index,
    const json_t *envelope, const char *request_id, const char *topic)
{
	const struct request	*request = &peer->requests[index];
	const json_t		*payload = json_object_get(envelope, "payload");
	const char		*correlation_id, *result_id, *executing;
	char			*expected_topic;
	bool			 topic_ok;

	if (!envelope_complete(envelope))
		return "envelope_keys";
	correlation_id = json_member_string(envelope, "correlation_id");
	if (correlation_id == NULL || *correlation_id == '\0')
		return "correlation_id";
	if (request->correlation_id[0] != '\0' ?
	    strcmp(correlation_id, request->correlation_id) != 0 :
	    strcmp(correlation_id, request_id) == 0)
		return "correlation_id";
	result_id = json_member_string(payload, "result_id");
	if (result_id == NULL || *result_id == '\0' ||
	    strcmp(result_id, request_id) == 0)
		return "result_id";
	executing = json_member_string(payload, "executing_ai_id");
	if (executing == NULL || strcmp(executing, peer->opt.target) != 0)
		return "executing_ai_id";
	if (json_member_string(envelope, "sender_ai_id") == NULL ||
	    strcmp(json_member_string(envelope, "sender_ai_id"),
	    peer->opt.target) != 0)
		return "sender_ai_id";
	if (json_member_string(envelope, "recipient_ai_id") == NULL ||
	    strcmp(json_member_string(envelope, "recipient_ai_id"),
	    peer->opt.peer_id) != 0)
		return "recipient_ai_id";
	if (json_member_string(payload, "status") == NULL)
		return "status";
	/* A refused callback is answered on the default topic. */
	if (peer->opt.callback && request_bad_callback(peer, index) == NULL)
		topic_ok = strcmp(topic, peer->callback_topic) == 0;
	else {
		expected_topic = xasprintf("%s%s", peer->results_prefix,
		    request_id);
		topic_ok = strcmp(topic, expected_topic) == 0;
		free(expected_topic);
	}
	if (!topic_ok)
		return "topic";
	return NULL;
}

/* Tally the first good result of request index. */
static void
result_count(struct loadpeer *peer, size_t index, const json_t *envelope,
    const struct mosquitto_message *message)
{
	struct request	*request = &peer->requests[index];
	const json_t	*payload = json_object_get(envelope, "payload");
	const char	*status = json_member_string(payload, "status");
	const char	*code;
	json_t		*expected;

	request->answered_at = clock_monotonic();
	peer->last_result_at = request->answered_at;
	peer->answered++;

	if (strcmp(status, "success") == 0)
		peer->status_success++;
	else if (strcmp(status, "failure") == 0)
		peer->status_failure++;
	else if (strcmp(status, "rejected") == 0)
		peer->status_rejected++;
	else
		peer->status_other++;

	code = json_member_string(json_object_get(payload, "error_details"),
	    "error_code");
	if (code != NULL)
		json_counter_increment(peer->by_error, code);

	if (peer->check_echo && strcmp(status, "success") == 0) {
		expected = request_parameters(peer, index);
		if (!json_equal(json_object_get(payload, "payload"),
		    expected)) {
			peer->payload_mismatch++;
			diagnose(peer, "echo payload differs from the "
			    "parameters", message->topic, message->payload,
			    message->payloadlen);
		}
		json_decref(expected);
	}
}

/* Handle a message on our results topics. */
static void
result_handle(struct loadpeer *peer, const struct mosquitto_message *message)
{
	json_t		*envelope;
	const char	*type, *request_id, *reason;
	long		 index;

	envelope = json_loadb(message->payload, (size_t)message->payloadlen,
	    0, NULL);
	if (!json_is_object(envelope)) {
		result_reject(peer, "not_json_object", message);
		goto out;
	}
	type = json_member_string(envelope, "message_type");
	if (type == NULL || strcmp(type, HSP_TASK_RESULT) != 0) {
		result_reject(peer, "message_type", message);
		goto out;
	}
	request_id = json_member_string(json_object_get(envelope, "payload"),
	    "request_id");
	if (request_id == NULL) {
		result_reject(peer, "no_request_id", message);
		goto out;
	}
	index = request_index_find(peer, request_id);
	if (index == -2) {
		peer->malformed_answered++;
		diagnose(peer, "result for a malformed request",
		    message->topic, message->payload, message->payloadlen);
		goto out;
	}
	if (index < 0) {
		peer->unknown++;
		diagnose(peer, "result for an unknown request", message->topic,
		    message->payload, message->payloadlen);
		goto out;
	}
	if ((reason = result_check(peer, (size_t)index, envelope, request_id,
	    message->topic)) != NULL) {
		result_reject(peer, reason, message);
		goto out;
	}
	if (peer->requests[index].results++ > 0) {
		peer->duplicates++;
		diagnose(peer, "duplicate result", message->topic,
		    message->payload, message->payloadlen);
		goto out;
	}
	result_count(peer, (size_t)index, envelope, message);
out:
	json_decref(envelope);
}

/* Count an acknowledgement that fails the checks. */
static void
ack_reject(struct loadpeer *peer, const char *reason,
    const struct mosquitto_message *message)
{
	char	key[64], what[128];

	peer->bad_acks++;
	snprintf(key, sizeof key, "ack_%s", reason);
	json_counter_increment(peer->bad_reasons, key);
	snprintf(what, sizeof what, "bad acknowledgement (%s)", reason);
	diagnose(peer, what, message->topic, message->payload,
	    message->payloadlen);
}

/* Handle a message on hsp/acks/<peer>. */
static void
ack_handle(struct loadpeer *peer, const struct mosquitto_message *message)
{
	json_t				*envelope;
	const char			*type, *target, *correlation_id;
	const struct message_slot	*slot;
	struct request			*request;

	peer->acks_received++;
	envelope = json_loadb(message->payload, (size_t)message->payloadlen,
	    0, NULL);
	if (!json_is_object(envelope)) {
		ack_reject(peer, "not_json_object", message);
		goto out;
	}
	type = json_member_string(envelope, "message_type");
	if (type == NULL || strcmp(type, HSP_ACKNOWLEDGEMENT) != 0) {
		ack_reject(peer, "message_type", message);
		goto out;
	}
	target = json_member_string(json_object_get(envelope, "payload"),
	    "target_message_id");
	correlation_id = json_member_string(envelope, "correlation_id");
	if (target == NULL) {
		ack_reject(peer, "no_target_message_id", message);
		goto out;
	}
	if (!envelope_complete(envelope)) {
		ack_reject(peer, "envelope_keys", message);
		goto out;
	}
	if (correlation_id == NULL) {
		ack_reject(peer, "correlation_id", message);
		goto out;
	}
	/* Matched on target_message_id, as HSP.md 8 tells peers to. */
	if ((slot = message_table_find(peer, target)) == NULL) {
		peer->acks_unknown++;
		goto out;
	}
	if (slot->index < 0) {
		peer->malformed_acked++;
		goto out;
	}
	request = &peer->requests[slot->index];
	/* The ACK's correlation_id is the request's (what the existing
	 * agents' senders wait on), its message_id when unknown here. */
	if (strcmp(correlation_id, request->correlation_id[0] != '\0' ?
	    request->correlation_id : target) != 0) {
		ack_reject(peer, "correlation_id", message);
		goto out;
	}
	if (request->acks++ == 0)
		peer->acked++;
	else
		peer->ack_duplicates++;
out:
	json_decref(envelope);
}

/*
 * libmosquitto callbacks; they run inside mosquitto_loop().
 */

/* Subscribe to our result and acknowledgement topics. */
static void
subscribe_own_topics(struct loadpeer *peer)
{
	char	*topics[2];
	int	 rc;

	topics[0] = peer->results_filter;
	topics[1] = peer->acks_topic;
	rc = mosquitto_subscribe_multiple(peer->mosq, &peer->subscribe_mid, 2,
	    topics, 1, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		tool_warnx("subscribe: %s", mosquitto_strerror(rc));
}

static void
on_connect_cb(struct mosquitto *mosq, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct loadpeer	*peer = arg;

	(void)mosq;
	(void)flags;
	(void)props;
	if (rc != 0) {
		if (!peer->ever_connected)
			tool_fatal(LOADPEER_EXIT_UNAVAILABLE,
			    "the broker at %s:%d refused the connection: %s",
			    peer->opt.host, peer->opt.port,
			    peer->opt.protocol == MQTT_PROTOCOL_V5 ?
			    mosquitto_reason_string(rc) :
			    mosquitto_connack_string(rc));
		tool_warnx("the broker refused the reconnection (%d)", rc);
		return;
	}
	if (peer->ever_connected) {
		peer->reconnects++;
		tool_warnx("reconnected to the broker");
	}
	peer->ever_connected = true;
	peer->link = LINK_UP;
	peer->link_changed_at = clock_monotonic();
	if (peer->opt.mode != MODE_PUBLISH_ONLY)
		subscribe_own_topics(peer);
}

static void
on_disconnect_cb(struct mosquitto *mosq, void *arg, int rc,
    const mosquitto_property *props)
{
	struct loadpeer	*peer = arg;

	(void)mosq;
	(void)props;
	if (peer->link != LINK_DOWN && rc != 0)
		tool_warnx("lost the connection to the broker: %s",
		    mosquitto_strerror(rc));
	peer->link = LINK_DOWN;
	peer->subscribed = false;
	peer->link_changed_at = clock_monotonic();
	peer->down_since = peer->link_changed_at;
	peer->next_reconnect_at = peer->link_changed_at +
	    LOADPEER_RECONNECT_DELAY_S;
}

static void
on_subscribe_cb(struct mosquitto *mosq, void *arg, int mid, int count,
    const int *granted, const mosquitto_property *props)
{
	struct loadpeer	*peer = arg;
	int		 i;

	(void)mosq;
	(void)props;
	if (mid != peer->subscribe_mid)
		return;
	for (i = 0; i < count; i++) {
		if (granted[i] > 2)
			tool_fatal(LOADPEER_EXIT_UNAVAILABLE,
			    "the broker refused a subscription (reason %d)",
			    granted[i]);
	}
	peer->subscribed = true;
}

static void
on_publish_cb(struct mosquitto *mosq, void *arg, int mid, int reason,
    const mosquitto_property *props)
{
	struct loadpeer	*peer = arg;

	(void)mosq;
	(void)mid;
	(void)props;
	if (peer->unacknowledged > 0)
		peer->unacknowledged--;
	if (reason == MQTT_RC_NO_MATCHING_SUBSCRIBERS)
		peer->no_subscribers++;
	else if (reason >= 0x80)
		peer->puback_errors++;
}

static void
on_message_cb(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *message)
{
	struct loadpeer	*peer = arg;

	(void)mosq;
	if (strcmp(message->topic, peer->acks_topic) == 0)
		ack_handle(peer, message);
	else if (strncmp(message->topic, peer->results_prefix,
	    strlen(peer->results_prefix)) == 0)
		result_handle(peer, message);
}

/*
 * The run.
 */

/* Connect for the first time; exit 69 if the broker cannot be reached. */
static void
link_connect(struct loadpeer *peer)
{
	int	rc;

	rc = mosquitto_connect(peer->mosq, peer->opt.host, peer->opt.port,
	    LOADPEER_KEEPALIVE);
	if (rc != MOSQ_ERR_SUCCESS)
		tool_fatal(LOADPEER_EXIT_UNAVAILABLE,
		    "cannot connect to the broker at %s:%d: %s",
		    peer->opt.host, peer->opt.port,
		    rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    mosquitto_strerror(rc));
	peer->link = LINK_CONNECTING;
	peer->link_changed_at = clock_monotonic();
}

/* Look after the connection: reconnect when down, time handshakes out. */
static void
link_maintain(struct loadpeer *peer, double now)
{
	if (peer->link == LINK_CONNECTING &&
	    now - peer->link_changed_at > LOADPEER_HANDSHAKE_S) {
		if (!peer->ever_connected)
			tool_fatal(LOADPEER_EXIT_UNAVAILABLE,
			    "no CONNACK from the broker at %s:%d in %.0f s",
			    peer->opt.host, peer->opt.port,
			    LOADPEER_HANDSHAKE_S);
		mosquitto_disconnect(peer->mosq);
		peer->link = LINK_DOWN;
		peer->next_reconnect_at = now;
	}
	if (peer->link == LINK_UP && !peer->subscribed &&
	    peer->opt.mode != MODE_PUBLISH_ONLY &&
	    now - peer->link_changed_at > LOADPEER_HANDSHAKE_S)
		tool_fatal(LOADPEER_EXIT_UNAVAILABLE,
		    "no SUBACK from the broker in %.0f s",
		    LOADPEER_HANDSHAKE_S);
	if (peer->link == LINK_DOWN && !peer->ever_connected)
		tool_fatal(LOADPEER_EXIT_UNAVAILABLE,
		    "the broker at %s:%d closed the connection before its "
		    "CONNACK", peer->opt.host, peer->opt.port);
	if (peer->link == LINK_DOWN && now >= peer->next_reconnect_at) {
		if (mosquitto_reconnect(peer->mosq) == MOSQ_ERR_SUCCESS) {
			peer->link = LINK_CONNECTING;
			peer->link_changed_at = now;
		} else
			peer->next_reconnect_at = now +
			    LOADPEER_RECONNECT_DELAY_S;
	}
}

/* Create the ready file once we can receive (or, publishing only, send). */
static void
ready_announce(struct loadpeer *peer)
{
	FILE	*f;

	if (peer->ready_written || peer->opt.ready_file == NULL)
		return;
	peer->ready_written = true;
	if ((f = fopen(peer->opt.ready_file, "w")) == NULL ||
	    fputs("ready\n", f) == EOF || fclose(f) != 0)
		tool_fatal(1, "cannot write %s: %s", peer->opt.ready_file,
		    strerror(errno));
}

/* True when nothing more is expected back. */
static bool
collection_complete(const struct loadpeer *peer)
{
	if (peer->answered < peer->opt.count)
		return false;
	if (peer->opt.requires_ack && peer->message_ids_known)
		return peer->acked >= peer->opt.count;
	return true;
}

/*
 * Decide whether the run is over at now.  Sets *link_lost when we gave
 * up because the broker stayed unreachable.
 */
static bool
run_finished(struct loadpeer *peer, double now, bool *link_lost)
{
	double	deadline;

	if (peer->link == LINK_DOWN && peer->ever_connected &&
	    now - peer->down_since > peer->opt.wait_s) {
		tool_warnx("the broker stayed unreachable for %.1f s; "
		    "giving up", peer->opt.wait_s);
		*link_lost = true;
		return true;
	}
	switch (peer->opt.mode) {
	case MODE_PUBLISH_ONLY:
		if (peer->next_request < peer->opt.count)
			return false;
		if (peer->unacknowledged == 0)
			return true;
		if (now - peer->last_publish_at > peer->opt.wait_s) {
			tool_warnx("%zu publishes never acknowledged by "
			    "the broker", peer->unacknowledged);
			return true;
		}
		return false;
	case MODE_ROUND_TRIP:
		if (peer->next_request < peer->opt.count)
			return false;
		deadline = peer->last_publish_at + peer->opt.wait_s;
		break;
	case MODE_COLLECT_ONLY:
	default:
		if (!peer->subscribed && peer->start_at == 0)
			return false;
		deadline = peer->start_at + peer->opt.collect_s;
		break;
	}
	if (now >= deadline)
		return true;
	if (!collection_complete(peer))
		return false;
	/* Linger a little to catch late duplicates. */
	if (peer->done_at == 0)
		peer->done_at = now;
	return now - peer->done_at >= peer->opt.linger_s;
}

/* Drive libmosquitto until the run is over; false if the link was lost. */
static bool
run(struct loadpeer *peer)
{
	double	now, wait_s;
	bool	link_lost = false;
	int	rc;

	link_connect(peer);
	for (;;) {
		now = clock_monotonic();
		if (loadpeer_interrupted) {
			tool_warnx("interrupted; reporting what came so far");
			break;
		}
		link_maintain(peer, now);
		wait_s = 0.1;
		if (peer->link == LINK_UP && (peer->subscribed ||
		    peer->opt.mode == MODE_PUBLISH_ONLY)) {
			ready_announce(peer);
			if (peer->start_at == 0)
				peer->start_at = now;
			if (peer->opt.mode != MODE_COLLECT_ONLY)
				wait_s = publish_due(peer, now);
		}
		if (run_finished(peer, now, &link_lost))
			break;
		if (peer->link == LINK_DOWN) {
			sleep_seconds(min_double(wait_s,
			    peer->next_reconnect_at - now));
			continue;
		}
		rc = mosquitto_loop(peer->mosq,
		    (int)(min_double(wait_s, 0.1) * 1000.0 + 0.999), 1);
		if (rc != MOSQ_ERR_SUCCESS && peer->link != LINK_DOWN) {
			/* libmosquitto reports most losses through
			 * on_disconnect; this catches the rest. */
			on_disconnect_cb(peer->mosq, peer, rc, NULL);
		}
	}
	if (peer->link != LINK_DOWN) {
		peer->link = LINK_DOWN;
		mosquitto_disconnect(peer->mosq);
		mosquitto_loop(peer->mosq, 0, 1);
	}
	return !link_lost;
}

/*
 * The report.
 */

static int
compare_doubles(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* {p50, p99, max} of the round trips in ms, nulls when there are none. */
static json_t *
report_round_trips(const struct loadpeer *peer)
{
	double	*values;
	size_t	 count = 0, i;
	json_t	*object;

	values = xcalloc(peer->opt.count, sizeof *values);
	for (i = 0; i < peer->opt.count; i++) {
		if (peer->requests[i].answered_at > 0 &&
		    peer->requests[i].published_at > 0)
			values[count++] = (peer->requests[i].answered_at -
			    peer->requests[i].published_at) * 1000.0;
	}
	if (count == 0) {
		free(values);
		return json_pack("{s:n, s:n, s:n}", "p50", "p99", "max");
	}
	qsort(values, count, sizeof *values, compare_doubles);
	/* Nearest rank: the ceil(p * count / 100)-th smallest. */
	object = json_pack("{s:o, s:o, s:o}",
	    "p50", json_real_rounded(values[(50 * count + 99) / 100 - 1]),
	    "p99", json_real_rounded(values[(99 * count + 99) / 100 - 1]),
	    "max", json_real_rounded(values[count - 1]));
	free(values);
	return object;
}

/* Earliest publish time we know of, or when collection started. */
static double
report_origin(const struct loadpeer *peer)
{
	double	origin = peer->first_publish_at;
	size_t	i;

	if (origin == 0) {
		for (i = 0; i < peer->opt.count; i++) {
			if (peer->requests[i].published_at > 0 &&
			    (origin == 0 ||
			    peer->requests[i].published_at < origin))
				origin = peer->requests[i].published_at;
		}
	}
	return origin != 0 ? origin : peer->start_at;
}

/* Print the report of a run as one line of JSON. */
static void
report_print(const struct loadpeer *peer, double ended_at)
{
	json_t	*report;
	double	 origin = report_origin(peer), span;
	char	*text;
	size_t	 sent;

	/* Requests published, or expected when collecting only. */
	sent = peer->opt.mode == MODE_COLLECT_ONLY ? peer->opt.count :
	    peer->next_request;

	if (peer->opt.mode == MODE_PUBLISH_ONLY) {
		span = peer->last_publish_at - origin;
		report = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		    " s:I, s:o, s:o}",
		    "sent", (json_int_t)peer->next_request,
		    "published", (json_int_t)peer->published,
		    "retries_sent", (json_int_t)peer->retries_sent,
		    "malformed_sent", (json_int_t)peer->malformed_sent,
		    "no_subscribers", (json_int_t)peer->no_subscribers,
		    "puback_errors", (json_int_t)peer->puback_errors,
		    "publish_errors", (json_int_t)peer->publish_errors,
		    "pubacks_missing", (json_int_t)peer->unacknowledged,
		    "reconnects", (json_int_t)peer->reconnects,
		    "elapsed_s", json_real_rounded(origin > 0 ?
		    ended_at - origin : 0),
		    "requests_per_s", span > 0 ?
		    json_real_rounded((double)peer->next_request / span) :
		    json_null());
	} else {
		span = peer->last_result_at - origin;
		report = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		    " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		    " s:{s:I, s:I, s:I, s:I}, s:O, s:O,"
		    " s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
		    "sent", (json_int_t)sent,
		    "published", (json_int_t)peer->published,
		    "retries_sent", (json_int_t)peer->retries_sent,
		    "malformed_sent", (json_int_t)peer->malformed_sent,
		    "answered", (json_int_t)peer->answered,
		    "missing", (json_int_t)(sent - peer->answered),
		    "duplicates", (json_int_t)peer->duplicates,
		    "unknown", (json_int_t)peer->unknown,
		    "bad", (json_int_t)peer->bad,
		    "payload_mismatch", (json_int_t)peer->payload_mismatch,
		    "acked", (json_int_t)peer->acked,
		    "acks_received", (json_int_t)peer->acks_received,
		    "ack_duplicates", (json_int_t)peer->ack_duplicates,
		    "acks_unknown", (json_int_t)peer->acks_unknown,
		    "bad_acks", (json_int_t)peer->bad_acks,
		    "malformed_answered", (json_int_t)peer->malformed_answered,
		    "by_status",
			"success", (json_int_t)peer->status_success,
			"failure", (json_int_t)peer->status_failure,
			"rejected", (json_int_t)peer->status_rejected,
			"other", (json_int_t)peer->status_other,
		    "by_error", peer->by_error,
		    "bad_reasons", peer->bad_reasons,
		    "malformed_acked", (json_int_t)peer->malformed_acked,
		    "no_subscribers", (json_int_t)peer->no_subscribers,
		    "puback_errors", (json_int_t)peer->puback_errors,
		    "publish_errors", (json_int_t)peer->publish_errors,
		    "reconnects", (json_int_t)peer->reconnects,
		    "elapsed_s", json_real_rounded(origin > 0 ?
		    ended_at - origin : 0),
		    "round_trip_ms", report_round_trips(peer),
		    "requests_per_s", span > 0 && peer->answered > 0 ?
		    json_real_rounded((double)peer->answered / span) :
		    json_null());
	}
	if (report == NULL)
		tool_fatal(1, "cannot build the report");
	text = json_dumps(report, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(report);
	if (text == NULL)
		tool_fatal(1, "cannot serialise the report");
	printf("%s\n", text);
	fflush(stdout);
	free(text);
}

/*
 * --state: what --publish-only hands to --collect-only.
 */

/* Write the state file after a --publish-only run. */
static void
state_write(const struct loadpeer *peer)
{
	json_t	*state, *requests, *malformed;
	double	 offset = clock_wall() - clock_monotonic();
	size_t	 i;

	requests = json_array();
	for (i = 0; i < peer->next_request; i++) {
		json_array_append_new(requests, json_pack("[s, s, f]",
		    peer->requests[i].message_id,
		    peer->requests[i].correlation_id,
		    peer->requests[i].published_at > 0 ?
		    peer->requests[i].published_at + offset : 0.0));
	}
	malformed = json_array();
	for (i = 0; i < peer->malformed_sent; i++)
		json_array_append_new(malformed,
		    json_string(peer->malformed_ids[i]));
	state = json_pack("{s:s, s:s, s:O, s:s?, s:s?, s:b, s:b, s:b,"
	    " s:o, s:o}",
	    "peer_id", peer->opt.peer_id,
	    "target", peer->opt.target,
	    "params", peer->opt.params,
	    "capability_name", peer->opt.no_filter ||
	    peer->opt.capability_id != NULL ? NULL : peer->opt.capability_name,
	    "capability_id", peer->opt.capability_id,
	    "no_filter", (int)peer->opt.no_filter,
	    "callback", (int)peer->opt.callback,
	    "requires_ack", (int)peer->opt.requires_ack,
	    "requests", requests,
	    "malformed", malformed);
	if (state == NULL || json_dump_file(state, peer->opt.state_file,
	    JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0)
		tool_fatal(1, "cannot write %s", peer->opt.state_file);
	json_decref(state);
}

/* Replace a string option by a copy of a member of the state, if present. */
static void
state_take_string(char **option, const json_t *state, const char *key)
{
	const json_t	*value = json_object_get(state, key);

	if (value == NULL)
		return;
	free(*option);
	*option = json_is_string(value) ? xstrdup(json_string_value(value)) :
	    NULL;
}

/*
 * Read the options of the publishing run from the state file, before the
 * tables are built.  Returns the state; state_load_requests() consumes it.
 */
static json_t *
state_read_options(struct loadpeer_options *opt)
{
	json_t		*state, *params, *requests;
	json_error_t	 error;

	state = json_load_file(opt->state_file, 0, &error);
	if (!json_is_object(state))
		tool_fatal(LOADPEER_EXIT_USAGE, "%s: not a loadpeer state "
		    "file: %s", opt->state_file, error.text);
	state_take_string(&opt->peer_id, state, "peer_id");
	state_take_string(&opt->target, state, "target");
	state_take_string(&opt->capability_name, state, "capability_name");
	state_take_string(&opt->capability_id, state, "capability_id");
	opt->no_filter = json_is_true(json_object_get(state, "no_filter"));
	opt->callback = json_is_true(json_object_get(state, "callback"));
	opt->requires_ack = json_is_true(json_object_get(state,
	    "requires_ack"));
	if (json_is_object(params = json_object_get(state, "params"))) {
		json_decref(opt->params);
		opt->params = json_incref(params);
	}
	requests = json_object_get(state, "requests");
	if (opt->peer_id == NULL || opt->target == NULL ||
	    !json_is_array(requests))
		tool_fatal(LOADPEER_EXIT_USAGE, "%s: not a loadpeer state "
		    "file", opt->state_file);
	if (!opt->expect_given)
		opt->count = json_array_size(requests);
	return state;
}

/* Fill the request table from the state file, and release the state. */
static void
state_load_requests(struct loadpeer *peer, json_t *state)
{
	const json_t	*requests = json_object_get(state, "requests");
	const json_t	*malformed = json_object_get(state, "malformed");
	const json_t	*entry;
	const char	*message_id, *correlation_id;
	double		 published, offset;
	size_t		 i;

	/* Published times were saved as wall clock; map them back. */
	offset = clock_wall() - clock_monotonic();
	for (i = 0; i < json_array_size(requests) && i < peer->opt.count; i++) {
		entry = json_array_get(requests, i);
		message_id = json_string_value(json_array_get(entry, 0));
		correlation_id = json_string_value(json_array_get(entry, 1));
		published = json_number_value(json_array_get(entry, 2));
		if (message_id == NULL || correlation_id == NULL ||
		    strlen(message_id) != UUID_LENGTH ||
		    strlen(correlation_id) != UUID_LENGTH)
			continue;
		memcpy(peer->requests[i].message_id, message_id,
		    UUID_LENGTH + 1);
		memcpy(peer->requests[i].correlation_id, correlation_id,
		    UUID_LENGTH + 1);
		if (published > 0)
			peer->requests[i].published_at = published - offset;
		message_table_add(peer, peer->requests[i].message_id, (long)i);
	}
	for (i = 0; i < json_array_size(malformed) &&
	    i < peer->malformed_count; i++) {
		message_id = json_string_value(json_array_get(malformed, i));
		if (message_id == NULL || strlen(message_id) != UUID_LENGTH)
			continue;
		memcpy(peer->malformed_ids[i], message_id, UUID_LENGTH + 1);
		message_table_add(peer, peer->malformed_ids[i], -(long)i - 1);
	}
	json_decref(state);
}

/*
 * Command line.
 */

static void
usage(FILE *out)
{
	fputs(
"usage: loadpeer -p PORT [-h HOST] --target AI_ID [--id PEER_AI_ID] [-n COUNT]\n"
"         [--rate PER_SEC] [--capability-name NAME | --capability-id ID |\n"
"         --no-filter] [--params JSON] [--requires-ack] [--callback]\n"
"         [--wait SEC] [--protocol 5|311] [--duplicate-every K]\n"
"         [--malformed-every K] [--bad-callback-every K] [--linger SEC]\n"
"         [--ready-file FILE]\n"
"         [--publish-only | --collect-only SEC [--expect N]] [--state FILE]\n"
"\n"
"Publishes COUNT HSP TaskRequests to hsp/requests/AI_ID and counts the\n"
"TaskResults that come back on hsp/results/PEER/#, then prints one line of\n"
"JSON.  Subscribes, and waits for the SUBACK, before publishing anything.\n"
"\n"
"  -p, --port PORT          broker port (required)\n"
"  -h, --host HOST          broker host (127.0.0.1)\n"
"      --target AI_ID       the agent under test (required)\n"
"      --id PEER_AI_ID      our id (did:hsp:loadpeer-<pid>); request ids are\n"
"                           req-<the id after its last colon>-<n>, n from 1\n"
"  -n, --count COUNT        requests to send (100)\n"
"      --rate PER_SEC       requests per second; 0, the default, is as fast\n"
"                           as the broker acknowledges (at most 1000\n"
"                           publishes unacknowledged)\n"
"      --capability-name N  capability_name_filter (echo); with echo, the\n"
"                           payload of a success must equal the parameters\n"
"      --capability-id ID   capability_id_filter instead of the name\n"
"      --no-filter          neither filter\n"
"      --params JSON        a JSON object of parameters; \"n\" is added ({})\n"
"      --requires-ack       ask for Acknowledgements, and wait for them too\n"
"      --callback           callback_address hsp/results/PEER/cb\n"
"      --wait SEC           wait for results this long after the last\n"
"                           publish (30); also how long the broker may stay\n"
"                           unreachable\n"
"      --protocol 5|311     MQTT version (5)\n"
"      --duplicate-every K  publish every K-th request twice, same message_id\n"
"      --malformed-every K  after every K-th request, publish a malformed\n"
"                           message (in turn: not JSON, a JSON array, no\n"
"                           message_id, unknown message_type, no request_id)\n"
"      --bad-callback-every K\n"
"                           give every K-th request a callback_address the\n"
"                           target must refuse (in turn: $SYS, another\n"
"                           agent's request topic, wildcards, $share, the\n"
"                           bare hsp/results/, 2 KB): its result must come\n"
"                           on the default topic (failure, bad_callback)\n"
"      --linger SEC         keep counting this long once all is answered, to\n"
"                           catch late duplicates (1 with --duplicate-every\n"
"                           or --collect-only, else 0)\n"
"      --ready-file FILE    create FILE once subscribed (publishing only:\n"
"                           connected)\n"
"      --publish-only       publish, wait for the broker's PUBACKs, leave\n"
"      --collect-only SEC   publish nothing; count results for SEC seconds or\n"
"                           until --expect N requests are answered\n"
"      --expect N           requests the collector expects (needs --id and\n"
"                           --target unless --state is given)\n"
"      --state FILE         --publish-only writes the ids it used there;\n"
"                           --collect-only reads them (and --id, --target,\n"
"                           the filter, --params, --callback, --requires-ack,\n"
"                           and COUNT unless --expect) to check as closely\n"
"                           as a single run\n"
"      --help               this text\n"
"\n"
"Report fields: sent, published (messages, with retries and malformed ones),\n"
"retries_sent, malformed_sent, answered (requests with a result that passed\n"
"the checks), missing, duplicates, unknown (request ids not ours), bad\n"
"(failed checks; bad_reasons says which), payload_mismatch, acked (requests\n"
"acknowledged), acks_received, ack_duplicates, acks_unknown, bad_acks,\n"
"malformed_answered, malformed_acked, by_status {success, failure, rejected,\n"
"other}, by_error {code: n}, no_subscribers (PUBACK reason 16: nobody was\n"
"subscribed; MQTT 5 only), puback_errors, publish_errors, reconnects,\n"
"elapsed_s, round_trip_ms {p50, p99, max}, requests_per_s (answered over\n"
"first publish to last result).  --publish-only prints sent, published,\n"
"retries_sent, malformed_sent, no_subscribers, puback_errors,\n"
"publish_errors, pubacks_missing, reconnects, elapsed_s, requests_per_s.\n"
"\n"
"Exit status: 0 the run completed (whatever the counts); 2 bad usage; 69 the\n"
"broker could not be reached (or stayed unreachable for --wait seconds).\n",
	    out);
}

static size_t
parse_size(const char *option, const char *text)
{
	char			*end;
	unsigned long long	 value;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || *text == '-' ||
	    value > (unsigned long long)LONG_MAX)
		usage_error("%s: not a count: %s", option, text);
	return (size_t)value;
}

static double
parse_seconds(const char *option, const char *text)
{
	char	*end;
	double	 value;

	errno = 0;
	value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(value) ||
	    value < 0)
		usage_error("%s: not a number of seconds: %s", option, text);
	return value;
}

/* True if id can be a topic level: not empty, no '/', '+' or '#'. */
static bool
topic_level_valid(const char *id)
{
	return *id != '\0' && strpbrk(id, "/+#") == NULL;
}

enum {
	OPT_TARGET = 256, OPT_ID, OPT_RATE, OPT_CAPABILITY_NAME,
	OPT_CAPABILITY_ID, OPT_NO_FILTER, OPT_PARAMS, OPT_REQUIRES_ACK,
	OPT_CALLBACK, OPT_WAIT, OPT_PROTOCOL, OPT_DUPLICATE_EVERY,
	OPT_MALFORMED_EVERY, OPT_BAD_CALLBACK_EVERY, OPT_PUBLISH_ONLY, OPT_COLLECT_ONLY, OPT_EXPECT,
	OPT_STATE, OPT_READY_FILE, OPT_LINGER, OPT_HELP,
};

static void
options_parse(struct loadpeer_options *opt, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'h' },
		{ "count", required_argument, NULL, 'n' },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "id", required_argument, NULL, OPT_ID },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "capability-name", required_argument, NULL,
		    OPT_CAPABILITY_NAME },
		{ "capability-id", required_argument, NULL, OPT_CAPABILITY_ID },
		{ "no-filter", no_argument, NULL, OPT_NO_FILTER },
		{ "params", required_argument, NULL, OPT_PARAMS },
		{ "requires-ack", no_argument, NULL, OPT_REQUIRES_ACK },
		{ "callback", no_argument, NULL, OPT_CALLBACK },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "protocol", required_argument, NULL, OPT_PROTOCOL },
		{ "duplicate-every", required_argument, NULL,
		    OPT_DUPLICATE_EVERY },
		{ "malformed-every", required_argument, NULL,
		    OPT_MALFORMED_EVERY },
		{ "bad-callback-every", required_argument, NULL,
		    OPT_BAD_CALLBACK_EVERY },
		{ "publish-only", no_argument, NULL, OPT_PUBLISH_ONLY },
		{ "collect-only", required_argument, NULL, OPT_COLLECT_ONLY },
		{ "expect", required_argument, NULL, OPT_EXPECT },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "ready-file", required_argument, NULL, OPT_READY_FILE },
		{ "linger", required_argument, NULL, OPT_LINGER },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	json_error_t	 error;
	const char	*name_given = NULL;
	size_t		 port;
	int		 c, filters = 0;
	bool		 id_given = false, count_given = false;

	opt->host = "127.0.0.1";
	opt->port = -1;
	opt->count = 100;
	opt->capability_name = xstrdup("echo");
	opt->params = json_object();
	opt->wait_s = 30;
	opt->protocol = MQTT_PROTOCOL_V5;
	opt->mode = MODE_ROUND_TRIP;

	while ((c = getopt_long(argc, argv, "p:h:n:", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			port = parse_size("--port", optarg);
			if (port == 0 || port > 65535)
				usage_error("--port: not a port: %s", optarg);
			opt->port = (int)port;
			break;
		case 'h':
			opt->host = optarg;
			break;
		case 'n':
			opt->count = parse_size("--count", optarg);
			count_given = true;
			break;
		case OPT_TARGET:
			free(opt->target);
			opt->target = xstrdup(optarg);
			break;
		case OPT_ID:
			free(opt->peer_id);
			opt->peer_id = xstrdup(optarg);
			id_given = true;
			break;
		case OPT_RATE:
			opt->rate = parse_seconds("--rate", optarg);
			break;
		case OPT_CAPABILITY_NAME:
			name_given = optarg;
			filters++;
			break;
		case OPT_CAPABILITY_ID:
			free(opt->capability_id);
			opt->capability_id = xstrdup(optarg);
			filters++;
			break;
		case OPT_NO_FILTER:
			opt->no_filter = true;
			filters++;
			break;
		case OPT_PARAMS:
			json_decref(opt->params);
			opt->params = json_loads(optarg, 0, &error);
			if (!json_is_object(opt->params))
				usage_error("--params: not a JSON object: %s",
				    optarg);
			break;
		case OPT_REQUIRES_ACK:
			opt->requires_ack = true;
			break;
		case OPT_CALLBACK:
			opt->callback = true;
			break;
		case OPT_WAIT:
			opt->wait_s = parse_seconds("--wait", optarg);
			break;
		case OPT_PROTOCOL:
			if (strcmp(optarg, "5") == 0)
				opt->protocol = MQTT_PROTOCOL_V5;
			else if (strcmp(optarg, "311") == 0)
				opt->protocol = MQTT_PROTOCOL_V311;
			else
				usage_error("--protocol: 5 or 311, not %s",
				    optarg);
			break;
		case OPT_DUPLICATE_EVERY:
			opt->duplicate_every = parse_size("--duplicate-every",
			    optarg);
			break;
		case OPT_MALFORMED_EVERY:
			opt->malformed_every = parse_size("--malformed-every",
			    optarg);
			break;
		case OPT_BAD_CALLBACK_EVERY:
			opt->bad_callback_every = parse_size(
			    "--bad-callback-every", optarg);
			break;
		case OPT_PUBLISH_ONLY:
			opt->mode = MODE_PUBLISH_ONLY;
			break;
		case OPT_COLLECT_ONLY:
			opt->mode = MODE_COLLECT_ONLY;
			opt->collect_s = parse_seconds("--collect-only", optarg);
			break;
		case OPT_EXPECT:
			opt->count = parse_size("--expect", optarg);
			opt->expect_given = true;
			break;
		case OPT_STATE:
			opt->state_file = optarg;
			break;
		case OPT_READY_FILE:
			opt->ready_file = optarg;
			break;
		case OPT_LINGER:
			opt->linger_s = parse_seconds("--linger", optarg);
			opt->linger_given = true;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			usage_error("bad option");
		}
	}
	if (optind != argc)
		usage_error("unexpected argument: %s", argv[optind]);
	if (opt->port < 0)
		usage_error("-p PORT is required");
	if (filters > 1)
		usage_error("--capability-name, --capability-id and "
		    "--no-filter exclude each other");
	if (name_given != NULL) {
		free(opt->capability_name);
		opt->capability_name = xstrdup(name_given);
	}
	if (opt->expect_given && opt->mode != MODE_COLLECT_ONLY)
		usage_error("--expect goes with --collect-only");
	if (count_given && opt->mode == MODE_COLLECT_ONLY)
		usage_error("--collect-only counts --expect N requests, "
		    "not -n");
	if (opt->state_file != NULL && opt->mode == MODE_ROUND_TRIP)
		usage_error("--state goes with --publish-only or "
		    "--collect-only");
	if (opt->mode == MODE_COLLECT_ONLY && opt->state_file == NULL) {
		if (!opt->expect_given || !id_given)
			usage_error("--collect-only needs --expect and --id "
			    "(or --state)");
	}
	if (opt->mode != MODE_COLLECT_ONLY || opt->state_file == NULL) {
		if (opt->target == NULL)
			usage_error("--target is required");
	}
	if (!opt->linger_given)
		opt->linger_s = opt->duplicate_every != 0 ||
		    opt->mode == MODE_COLLECT_ONLY ? 1.0 : 0.0;
	if (opt->peer_id == NULL)
		opt->peer_id = xasprintf("did:hsp:loadpeer-%ld",
		    (long)getpid());
}

/* Derive topics and request ids from the options, and size the tables. */
static void
loadpeer_init(struct loadpeer *peer)
{
	struct loadpeer_options	*opt = &peer->opt;
	const char		*suffix;

	if (!topic_level_valid(opt->peer_id) || !topic_level_valid(opt->target))
		usage_error("ids must be non-empty topic levels without "
		    "'/', '+' or '#'");
	suffix = strrchr(opt->peer_id, ':');
	suffix = suffix != NULL && suffix[1] != '\0' ? suffix + 1 :
	    opt->peer_id;
	peer->request_prefix = xasprintf("req-%s-", suffix);
	peer->malformed_prefix = xasprintf("req-%s-bad-", suffix);
	peer->request_topic = xasprintf("hsp/requests/%s", opt->target);
	peer->results_filter = xasprintf("hsp/results/%s/#", opt->peer_id);
	peer->results_prefix = xasprintf("hsp/results/%s/", opt->peer_id);
	peer->acks_topic = xasprintf("hsp/acks/%s", opt->peer_id);
	peer->callback_topic = xasprintf("hsp/results/%s/cb", opt->peer_id);
	peer->check_echo = !opt->no_filter && opt->capability_id == NULL &&
	    strcmp(opt->capability_name, "echo") == 0;

	peer->requests = xcalloc(opt->count, sizeof *peer->requests);
	if (opt->malformed_every != 0)
		peer->malformed_count = opt->count / opt->malformed_every;
	peer->message_ids_known = opt->mode != MODE_COLLECT_ONLY ||
	    opt->state_file != NULL;
	peer->by_error = json_object();
	peer->bad_reasons = json_object();
}

/* Release everything (valgrind must see no leak). */
static void
loadpeer_free(struct loadpeer *peer)
{
	if (peer->mosq != NULL)
		mosquitto_destroy(peer->mosq);
	free(peer->request_prefix);
	free(peer->malformed_prefix);
	free(peer->request_topic);
	free(peer->results_filter);
	free(peer->results_prefix);
	free(peer->acks_topic);
	free(peer->callback_topic);
	free(peer->requests);
	free(peer->malformed_ids);
	free(peer->slots);
	json_decref(peer->by_error);
	json_decref(peer->bad_reasons);
	json_decref(peer->opt.params);
	free(peer->opt.target);
	free(peer->opt.peer_id);
	free(peer->opt.capability_name);
	free(peer->opt.capability_id);
}

static void
on_signal(int signo)
{
	(void)signo;
	loadpeer_interrupted = 1;
}

int
main(int argc, char **argv)
{
	struct loadpeer		 peer;
	struct sigaction	 sa;
	json_t			*state = NULL;
	char			 client_id[64], random_part[UUID_LENGTH + 1];
	bool			 link_ok;

	memset(&peer, 0, sizeof peer);
	options_parse(&peer.opt, argc, argv);
	if (peer.opt.mode == MODE_COLLECT_ONLY && peer.opt.state_file != NULL)
		state = state_read_options(&peer.opt);
	loadpeer_init(&peer);
	if (state != NULL)
		peer.malformed_count = json_array_size(json_object_get(state,
		    "malformed"));
	peer.malformed_ids = xcalloc(peer.malformed_count,
	    sizeof *peer.malformed_ids);
	message_table_init(&peer);
	if (state != NULL)
		state_load_requests(&peer, state);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mosquitto_lib_init();
	/* A unique client id: the broker kicks an older client with the same. */
	uuid4_generate(random_part);
	snprintf(client_id, sizeof client_id, "loadpeer-%ld-%.8s",
	    (long)getpid(), random_part);
	if ((peer.mosq = mosquitto_new(client_id, true, &peer)) == NULL)
		tool_fatal(1, "mosquitto_new: %s", strerror(errno));
	mosquitto_int_option(peer.mosq, MOSQ_OPT_PROTOCOL_VERSION,
	    peer.opt.protocol);
	mosquitto_int_option(peer.mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(peer.mosq, on_connect_cb);
	mosquitto_disconnect_v5_callback_set(peer.mosq, on_disconnect_cb);
	mosquitto_subscribe_v5_callback_set(peer.mosq, on_subscribe_cb);
	mosquitto_publish_v5_callback_set(peer.mosq, on_publish_cb);
	mosquitto_message_callback_set(peer.mosq, on_message_cb);

	link_ok = run(&peer);
	report_print(&peer, clock_monotonic());
	if (peer.opt.mode == MODE_PUBLISH_ONLY && peer.opt.state_file != NULL)
		state_write(&peer);

	loadpeer_free(&peer);
	mosquitto_lib_cleanup();
	return link_ok ? 0 : LOADPEER_EXIT_UNAVAILABLE;
}
