/*
 * hsp-envelope.c -- HSP envelopes: parse and validate what peers send, build
 * what we send (HSP.md).
 *
 * Input is accepted in the spellings older agents use ("HSP::Fact" without a
 * version, "HSP.Acknowledgement_v0.1" with a dot); output uses only the
 * canonical forms.  A message whose required ids are missing is rejected with
 * the kind of problem, so the router can count it and log it once per kind.
 * Nothing here logs.
 */
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotreloadd.h"
#include "hsp.h"

const char *const hsp_type_names[HSP_TYPE_COUNT] = {
	"Fact", "CapabilityAdvertisement", "TaskRequest", "TaskResult",
	"Acknowledgement"
};

const char *const hsp_malformed_names[HSP_MALFORMED_COUNT] = {
	"not_json", "not_object", "bad_envelope", "unknown_type",
	"bad_payload", "too_large"
};

/* Required payload fields per type: strings unless noted. */
static const char *const envelope_required[HSP_TYPE_COUNT][7] = {
	[HSP_FACT] = { "id", "statement_type", "source_ai_id",
	    "timestamp_created", NULL },
	/* availability_status is optional: the existing agents never send
	 * it, and discovery counts it as "online" (HSP.md 8). */
	[HSP_CAPABILITY_ADVERTISEMENT] = { "capability_id", "ai_id", "name",
	    "description", "version", NULL },
	[HSP_TASK_REQUEST] = { "request_id", "requester_ai_id", NULL },
	[HSP_TASK_RESULT] = { "result_id", "request_id", "executing_ai_id",
	    "status", NULL },
	[HSP_ACKNOWLEDGEMENT] = { "status", "ack_timestamp",
	    "target_message_id", NULL },
};

/* Map a message_type string to a type; accepts the older spellings. */
static int
envelope_type(const char *text, enum hsp_type *type)
{
	size_t	length, i, name_length;

	if (strncmp(text, "HSP::", 5) == 0)
		text += 5;
	else if (strncmp(text, "HSP.", 4) == 0)
		text += 4;
	else
		return (-1);
	length = strlen(text);
	if (length > 5 && strcmp(text + length - 5, "_v0.1") == 0)
		length -= 5;
	for (i = 0; i < HSP_TYPE_COUNT; i++) {
		name_length = strlen(hsp_type_names[i]);
		if (length == name_length &&
		    strncmp(text, hsp_type_names[i], length) == 0) {
			*type = (enum hsp_type)i;
			return (0);
		}
	}
	return (-1);
}

/* A member that must be a non-empty string; NULL otherwise. */
static const char *
envelope_string(json_t *object, const char *key)
{
	const char	*value = json_string_value(json_object_get(object, key));

	return (value != NULL && *value != '\0' ? value : NULL);
}

/* Reject with KIND and a reason. */
static int __attribute__((format(printf, 4, 5)))
envelope_reject(enum hsp_malformed *kind, enum hsp_malformed what, char **why,
    const char *fmt, ...)
{
	va_list	ap;

	*kind = what;
	va_start(ap, fmt);
	*why = str_vprintf(fmt, ap);
	va_end(ap);
	return (-1);
}

/*
 * Parse and validate one message.  On success fill MSG (release it with
 * envelope_clear) and return 0; otherwise return -1 with the KIND of problem
 * and WHY (to free).
 */
int
envelope_parse(const void *data, size_t length, struct hsp_message *msg,
    enum hsp_malformed *kind, char **why)
{
	json_error_t	 error;
	json_t		*root, *value, *qos;
	const char	*type_text;
	const char	*const *field;

	memset(msg, 0, sizeof *msg);
	*why = NULL;
	root = json_loadb(data, length, 0, &error);
	if (root == NULL)
		return (envelope_reject(kind, HSP_MALFORMED_NOT_JSON, why,
		    "not JSON: %s", error.text));
	if (!json_is_object(root)) {
		json_decref(root);
		return (envelope_reject(kind, HSP_MALFORMED_NOT_OBJECT, why,
		    "not a JSON object"));
	}
	msg->root = root;

	if ((msg->message_id = envelope_string(root, "message_id")) == NULL) {
		envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "message_id missing or not a string");
		goto fail;
	}
	if ((msg->sender = envelope_string(root, "sender_ai_id")) == NULL) {
		envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "sender_ai_id missing or not a string");
		goto fail;
	}
	value = json_object_get(root, "correlation_id");
	if (value != NULL && !json_is_null(value) && !json_is_string(value)) {
		envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "correlation_id is neither a string nor null");
		goto fail;
	}
	msg->correlation_id = envelope_string(root, "correlation_id");
	qos = json_object_get(root, "qos_parameters");
	if (qos != NULL && !json_is_null(qos) && !json_is_object(qos)) {
		envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "qos_parameters is neither an object nor null");
		goto fail;
	}
	msg->requires_ack = json_is_true(json_object_get(qos,
	    "requires_ack"));

	if ((type_text = envelope_string(root, "message_type")) == NULL) {
		envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "message_type missing or not a string");
		goto fail;
	}
	if (envelope_type(type_text, &msg->type) == -1) {
		envelope_reject(kind, HSP_MALFORMED_TYPE, why,
		    "unknown message_type \"%.40s\"", type_text);
		goto fail;
	}

	msg->payload = json_object_get(root, "payload");
	if (!json_is_object(msg->payload)) {
		envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
		    "%s without a payload object", hsp_type_names[msg->type]);
		goto fail;
	}
	for (field = envelope_required[msg->type]; *field != NULL; field++) {
		if (envelope_string(msg->payload, *field) == NULL) {
			envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
			    "%s payload: %s missing or not a string",
			    hsp_type_names[msg->type], *field);
			goto fail;
		}
	}
	if (msg->type == HSP_TASK_REQUEST &&
	    !json_is_object(json_object_get(msg->payload, "parameters"))) {
		envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
		    "TaskRequest payload: parameters missing or not an object");
		goto fail;
	}
	return (0);

fail:
	envelope_clear(msg);
	return (-1);
}

/* Release a parsed message. */
void
envelope_clear(struct hsp_message *msg)
{
	json_decref(msg->root);
	memset(msg, 0, sizeof *msg);
}

/* A fresh UUID4 as text. */
void
envelope_uuid4(char out[37])
{
	unsigned char	b[16];
	size_t		got = 0;
	ssize_t		n;

	while (got < sizeof b) {
		n = getrandom(b + got, sizeof b - got, 0);
		if (n <= 0) {
			/* Never without entropy on Linux; keep going anyway. */
			for (; got < sizeof b; got++)
				b[got] = (unsigned char)random();
			break;
		}
		got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Now as ISO-8601 UTC with microseconds: 2026-01-01T12:00:00.123456Z. */
void
envelope_timestamp(char out[40])
{
	struct timespec	ts;
	struct tm	tm;
	char		seconds[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%06uZ", seconds,
	    (unsigned int)(ts.tv_nsec / 1000) % 1000000U);
}

/*
 * Build an envelope of TYPE around PAYLOAD (taken), with every key present
 * as HSP.md requires and a fresh message_id.
 */
json_t *
envelope_new(enum hsp_type type, const char *sender, const char *recipient,
    const char *correlation_id, const char *pattern, const char *priority,
    bool requires_ack, json_t *payload)
{
	char	id[37], when[40], message_type[64];

	envelope_uuid4(id);
	envelope_timestamp(when);
	snprintf(message_type, sizeof message_type, "HSP::%s_v0.1",
	    hsp_type_names[type]);
	return (json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:n, s:{s:s, s:b, s:n}, s:n, s:n, s:o}",
	    "hsp_envelope_version", "0.1",
	    "message_id", id,
	    "correlation_id", correlation_id,
	    "sender_ai_id", sender,
	    "recipient_ai_id", recipient,
	    "timestamp_sent", when,
	    "message_type", message_type,
	    "protocol_version", "0.1",
	    "communication_pattern", pattern,
	    "security_parameters",
	    "qos_parameters",
		"priority", priority,
		"requires_ack", requires_ack,
		"time_to_live_sec",
	    "routing_info",
	    "payload_schema_uri",
	    "payload", payload));
}
