/*
 * hsp-envelope.c -- HSP envelopes: parse and validate what peers send, build
 * what we send (HSP.md).
 *
 * Input is accepted in the spellings older agents use ("HSP::Fact" without a
 * version, "HSP.Acknowledgement_v0.1" with a dot); output uses only the
 * canonical forms.  A message whose required ids are missing is rejected with
 * the kind of problem, so the router can count it and log it once per kind.
 * Nothing here logs.
 *
 * This is the hot path of every request (issue 19): a message is checked
 * once by jscan.c and its fields read from the text, without a jansson
 * tree (only the payload of the rarer kinds, facts and adverts, becomes
 * one); replies are written as text in one pass (envelope_begin, the
 * payload, envelope_end), without json_pack() and json_dumps(), and the
 * ids and timestamps in them are made without printf or strftime.
 */
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "jscan.h"

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

/* The members of an envelope and of a TaskRequest payload it reads. */
enum {
	E_MESSAGE_ID, E_SENDER, E_CORRELATION_ID, E_RECIPIENT, E_QOS,
	E_MESSAGE_TYPE, E_PAYLOAD, E_COUNT
};
static const char *const envelope_keys[E_COUNT + 1] = {
	"message_id", "sender_ai_id", "correlation_id", "recipient_ai_id",
	"qos_parameters", "message_type", "payload", NULL
};
enum {
	R_REQUEST_ID, R_REQUESTER, R_CALLBACK, R_CAPABILITY_ID,
	R_CAPABILITY_NAME, R_PARAMETERS, R_COUNT
};
static const char *const request_keys[R_COUNT + 1] = {
	"request_id", "requester_ai_id", "callback_address",
	"capability_id_filter", "capability_name_filter", "parameters", NULL
};
static const char *const qos_keys[] = { "requires_ack", NULL };

/*
 * The string V copied (decoded) to *NEXT in the message's string block,
 * or NULL when V is not a string.
 */
static const char *
envelope_take(char **next, const struct jscan_value *v)
{
	char	*s = *next;

	if (v->type != JSCAN_STRING)
		return (NULL);
	*next += jscan_decode(v, s) + 1;
	return (s);
}

/* The message's strings: one block, as long as their texts (see
 * jscan_decode). */
static int
envelope_strings(struct hsp_message *msg, const struct jscan_value *e,
    const struct jscan_value *r)
{
	size_t	size = 0, i;
	char	*next;

	for (i = 0; i < E_COUNT; i++)
		size += e[i].type == JSCAN_STRING ? e[i].length : 0;
	for (i = 0; r != NULL && i < R_COUNT; i++)
		size += r[i].type == JSCAN_STRING ? r[i].length : 0;
	if ((msg->strings = next = malloc(size + 1)) == NULL)
		return (-1);
	msg->message_id = envelope_take(&next, &e[E_MESSAGE_ID]);
	msg->sender = envelope_take(&next, &e[E_SENDER]);
	msg->correlation_id = envelope_take(&next, &e[E_CORRELATION_ID]);
	if (msg->correlation_id != NULL && *msg->correlation_id == '\0')
		msg->correlation_id = NULL;
	msg->recipient = envelope_take(&next, &e[E_RECIPIENT]);
	msg->message_type = envelope_take(&next, &e[E_MESSAGE_TYPE]);
	if (r == NULL)
		return (0);
	msg->request_id = envelope_take(&next, &r[R_REQUEST_ID]);
	msg->requester = envelope_take(&next, &r[R_REQUESTER]);
	msg->callback = envelope_take(&next, &r[R_CALLBACK]);
	msg->capability_id = envelope_take(&next, &r[R_CAPABILITY_ID]);
	msg->capability_name = envelope_take(&next, &r[R_CAPABILITY_NAME]);
	return (0);
}

/* Check the payload of a TaskRequest (R: its members). */
static int
envelope_request(struct hsp_message *msg, const struct jscan_value *r,
    enum hsp_malformed *kind, char **why)
{
	if (!jscan_nonempty_string(&r[R_REQUEST_ID]))
		return (envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
		    "TaskRequest payload: request_id missing or not a string"));
	if (!jscan_nonempty_string(&r[R_REQUESTER]))
		return (envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
		    "TaskRequest payload: requester_ai_id missing or not a "
		    "string"));
	if (r[R_PARAMETERS].type != JSCAN_OBJECT)
		return (envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
		    "TaskRequest payload: parameters missing or not an "
		    "object"));
	msg->parameters = r[R_PARAMETERS].text;
	msg->parameters_length = r[R_PARAMETERS].length;
	return (0);
}

/*
 * The payload of every other type, as a jansson tree (discovery and the
 * facts keep parts of it), with its required fields.
 */
static int
envelope_other(struct hsp_message *msg, const struct jscan_value *payload,
    enum hsp_malformed *kind, char **why)
{
	const char *const	*field;

	msg->payload = json_loadb(payload->text, payload->length, 0, NULL);
	if (msg->payload == NULL)
		return (envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
		    "%s payload: cannot be read", hsp_type_names[msg->type]));
	for (field = envelope_required[msg->type]; *field != NULL; field++) {
		if (envelope_string(msg->payload, *field) == NULL)
			return (envelope_reject(kind, HSP_MALFORMED_PAYLOAD,
			    why, "%s payload: %s missing or not a string",
			    hsp_type_names[msg->type], *field));
	}
	return (0);
}

/*
 * Parse and validate one message of LENGTH bytes at DATA (borrowed: MSG
 * points into it until envelope_clear).  On success fill MSG and return 0;
 * otherwise return -1 with the KIND of problem and WHY (to free).
 */
int
envelope_parse(const void *data, size_t length, struct hsp_message *msg,
    enum hsp_malformed *kind, char **why)
{
	struct jscan_value	 root, e[E_COUNT], r[R_COUNT], qos[1];
	char			 error[96];

	memset(msg, 0, sizeof *msg);
	*why = NULL;
	if (jscan_check(data, length, &root, error, sizeof error) == -1)
		return (envelope_reject(kind, HSP_MALFORMED_NOT_JSON, why,
		    "not JSON: %s", error));
	if (root.type != JSCAN_OBJECT)
		return (envelope_reject(kind, HSP_MALFORMED_NOT_OBJECT, why,
		    "not a JSON object"));
	jscan_members(&root, envelope_keys, e);

	if (!jscan_nonempty_string(&e[E_MESSAGE_ID]))
		return (envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "message_id missing or not a string"));
	if (!jscan_nonempty_string(&e[E_SENDER]))
		return (envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "sender_ai_id missing or not a string"));
	if (e[E_CORRELATION_ID].type != JSCAN_NONE &&
	    e[E_CORRELATION_ID].type != JSCAN_NULL &&
	    e[E_CORRELATION_ID].type != JSCAN_STRING)
		return (envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "correlation_id is neither a string nor null"));
	if (e[E_QOS].type != JSCAN_NONE && e[E_QOS].type != JSCAN_NULL &&
	    e[E_QOS].type != JSCAN_OBJECT)
		return (envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "qos_parameters is neither an object nor null"));
	jscan_members(&e[E_QOS], qos_keys, qos);
	msg->requires_ack = qos[0].type == JSCAN_TRUE;
	if (!jscan_nonempty_string(&e[E_MESSAGE_TYPE]))
		return (envelope_reject(kind, HSP_MALFORMED_ENVELOPE, why,
		    "message_type missing or not a string"));

	/* A request's members are read in the same walk as the strings;
	 * the other kinds are rarer and read theirs from a tree. */
	jscan_members(&e[E_PAYLOAD], request_keys, r);
	if (envelope_strings(msg, e, r) == -1)
		return (envelope_reject(kind, HSP_MALFORMED_NOT_JSON, why,
		    "out of memory"));
	if (envelope_type(msg->message_type, &msg->type) == -1) {
		envelope_reject(kind, HSP_MALFORMED_TYPE, why,
		    "unknown message_type \"%.40s\"", msg->message_type);
		goto fail;
	}
	if (e[E_PAYLOAD].type != JSCAN_OBJECT) {
		envelope_reject(kind, HSP_MALFORMED_PAYLOAD, why,
		    "%s without a payload object", hsp_type_names[msg->type]);
		goto fail;
	}
	if ((msg->type == HSP_TASK_REQUEST ? envelope_request(msg, r, kind,
	    why) : envelope_other(msg, &e[E_PAYLOAD], kind, why)) == -1)
		goto fail;
	return (0);

fail:
	envelope_clear(msg);
	return (-1);
}

/* Release a parsed message. */
void
envelope_clear(struct hsp_message *msg)
{
	json_decref(msg->payload);
	free(msg->strings);
	memset(msg, 0, sizeof *msg);
}

/*
 * Random bytes for ids, taken from a pool that getrandom() fills 512 bytes
 * at a time: a system call per id was most of what an id cost.  The daemon
 * never forks after it starts, so no two processes share a pool.
 */
static void
envelope_random(unsigned char *out, size_t n)
{
	static unsigned char	pool[512];
	static size_t		left;
	size_t			got = 0, i;
	ssize_t			r;

	if (left < n) {
		while (got < sizeof pool) {
			r = getrandom(pool + got, sizeof pool - got, 0);
			if (r <= 0) {
				/* Never without entropy on Linux. */
				for (i = got; i < sizeof pool; i++)
					pool[i] = (unsigned char)random();
				break;
			}
			got += (size_t)r;
		}
		left = sizeof pool;
	}
	memcpy(out, pool + sizeof pool - left, n);
	/* Used bytes are not kept where a later leak could show them. */
	memset(pool + sizeof pool - left, 0, n);
	left -= n;
}

/* A fresh UUID4 as text. */
void
envelope_uuid4(char out[37])
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		b[16];
	size_t			i;
	char			*o = out;

	envelope_random(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < sizeof b; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 0x0f];
	}
	*o = '\0';
}

/* Write the N digits of VALUE at OUT, zero-padded. */
static void
envelope_digits(char *out, unsigned long value, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + value % 10);
		value /= 10;
	}
}

/*
 * Now as ISO-8601 UTC with microseconds: 2026-01-01T12:00:00.123456Z.  The
 * date and time are formatted once a second, not per message.
 */
void
envelope_timestamp(char out[40])
{
	static time_t	second = -1;
	static char	seconds[24];
	struct timespec	ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != second) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S", &tm);
		second = ts.tv_sec;
	}
	memcpy(out, seconds, 19);
	out[19] = '.';
	envelope_digits(out + 20, (unsigned long)(ts.tv_nsec / 1000) %
	    1000000UL, 6);
	out[26] = 'Z';
	out[27] = '\0';
}

/* --- Writing envelopes as text ------------------------------------------ */

/* Room for N more bytes in T; false (and T failed) when there is none. */
static bool
envelope_room(struct envelope_text *t, size_t n)
{
	size_t	size;
	char	*data;

	if (t->failed)
		return (false);
	if (t->size - t->length >= n)
		return (true);
	size = t->size > 0 ? t->size : 1024;
	while (size - t->length < n) {
		if (size > SIZE_MAX / 2) {
			t->failed = true;
			return (false);
		}
		size *= 2;
	}
	if ((data = realloc(t->data, size)) == NULL) {
		t->failed = true;
		return (false);
	}
	t->data = data;
	t->size = size;
	return (true);
}

/* Append LENGTH bytes of JSON text (a value already written as JSON). */
void
envelope_text_raw(struct envelope_text *t, const char *text, size_t length)
{
	if (!envelope_room(t, length))
		return;
	memcpy(t->data + t->length, text, length);
	t->length += length;
}

/* Append the NUL-terminated JSON text TEXT. */
static void
envelope_text_literal(struct envelope_text *t, const char *text)
{
	envelope_text_raw(t, text, strlen(text));
}

/*
 * Append S as a JSON string: quoted, escaped, and valid UTF-8 whatever S
 * holds (a byte that is not part of valid UTF-8 becomes '?', as
 * str_utf8_repair does), so that a
 * back end's cut error message can never make the reply unreadable.
 */
void
envelope_text_string(struct envelope_text *t, const char *s)
{
	static const char	hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s, *run;
	size_t			 n;
	char			 escape[7];

	envelope_text_raw(t, "\"", 1);
	while (*p != '\0') {
		run = p;
		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		envelope_text_raw(t, (const char *)run, (size_t)(p - run));
		if (*p == '\0')
			break;
		if (*p >= 0x80) {
			if ((n = str_utf8_sequence(p)) == 0) {
				envelope_text_raw(t, "?", 1);
				p++;
			} else {
				envelope_text_raw(t, (const char *)p, n);
				p += n;
			}
			continue;
		}
		escape[0] = '\\';
		switch (*p) {
		case '"':	escape[1] = '"'; n = 2; break;
		case '\\':	escape[1] = '\\'; n = 2; break;
		case '\n':	escape[1] = 'n'; n = 2; break;
		case '\r':	escape[1] = 'r'; n = 2; break;
		case '\t':	escape[1] = 't'; n = 2; break;
		default:
			memcpy(escape + 1, "u00", 3);
			escape[4] = hex[*p >> 4];
			escape[5] = hex[*p & 0x0f];
			n = 6;
			break;
		}
		envelope_text_raw(t, escape, n);
		p++;
	}
	envelope_text_raw(t, "\"", 1);
}

/* Append the unsigned number VALUE. */
void
envelope_text_number(struct envelope_text *t, unsigned long long value)
{
	char	digits[24];
	size_t	n = sizeof digits;

	do {
		digits[--n] = (char)('0' + value % 10);
		value /= 10;
	} while (value > 0);
	envelope_text_raw(t, digits + n, sizeof digits - n);
}

/* json_dump_callback's sink: append to the envelope_text. */
static int
envelope_text_dump(const char *buffer, size_t size, void *arg)
{
	struct envelope_text	*t = arg;

	envelope_text_raw(t, buffer, size);
	return (t->failed ? -1 : 0);
}

/* Append VALUE (NULL: null) as compact JSON. */
void
envelope_text_json(struct envelope_text *t, const json_t *value)
{
	if (value == NULL)
		envelope_text_raw(t, "null", 4);
	else if (json_dump_callback(value, envelope_text_dump, t,
	    JSON_COMPACT | JSON_ENCODE_ANY) == -1)
		t->failed = true;
}

/* Append "KEY": (a key we chose: plain ASCII, nothing to escape). */
void
envelope_text_key(struct envelope_text *t, const char *key)
{
	/* The first key of an object has no comma before it. */
	if (t->length > 0 && t->data[t->length - 1] == '{')
		envelope_text_raw(t, "\"", 1);
	else
		envelope_text_raw(t, ",\"", 2);
	envelope_text_literal(t, key);
	envelope_text_raw(t, "\":", 2);
}

/*
 * Start an envelope of TYPE in T as HEAD says, with every key present as
 * HSP.md requires (the canonical order) and a fresh message_id, up to the
 * payload: the caller writes the payload value, then envelope_end().
 */
void
envelope_begin(struct envelope_text *t, enum hsp_type type,
    const struct envelope_head *head)
{
	char	id[37], when[40];

	memset(t, 0, sizeof *t);
	envelope_uuid4(id);
	envelope_timestamp(when);
	envelope_text_literal(t, "{\"hsp_envelope_version\":\"0.1\","
	    "\"message_id\":\"");
	envelope_text_raw(t, id, 36);
	envelope_text_literal(t, "\",\"correlation_id\":");
	if (head->correlation_id != NULL)
		envelope_text_string(t, head->correlation_id);
	else
		envelope_text_raw(t, "null", 4);
	envelope_text_key(t, "sender_ai_id");
	envelope_text_string(t, head->sender);
	envelope_text_key(t, "recipient_ai_id");
	envelope_text_string(t, head->recipient);
	envelope_text_literal(t, ",\"timestamp_sent\":\"");
	envelope_text_literal(t, when);
	envelope_text_literal(t, "\",\"message_type\":\"HSP::");
	envelope_text_literal(t, hsp_type_names[type]);
	envelope_text_literal(t, "_v0.1\",\"protocol_version\":\"0.1\","
	    "\"communication_pattern\":");
	envelope_text_string(t, head->pattern);
	envelope_text_literal(t, ",\"security_parameters\":null,"
	    "\"qos_parameters\":{\"priority\":");
	envelope_text_string(t, head->priority);
	envelope_text_literal(t, head->requires_ack ?
	    ",\"requires_ack\":true," : ",\"requires_ack\":false,");
	envelope_text_literal(t, "\"time_to_live_sec\":null},"
	    "\"routing_info\":null,\"payload_schema_uri\":null,"
	    "\"payload\":");
}

/*
 * Close the envelope in T: its text (to free) and LENGTH, or NULL when
 * memory ran out on the way.
 */
char *
envelope_end(struct envelope_text *t, size_t *length)
{
	char	*text;

	envelope_text_raw(t, "}", 1);
	if (t->failed || !envelope_room(t, 1)) {
		free(t->data);
		memset(t, 0, sizeof *t);
		return (NULL);
	}
	t->data[t->length] = '\0';
	text = t->data;
	*length = t->length;
	memset(t, 0, sizeof *t);
	return (text);
}

/* An envelope of TYPE around the JSON value PAYLOAD (borrowed), as text. */
char *
envelope_json(enum hsp_type type, const struct envelope_head *head,
    const json_t *payload, size_t *length)
{
	struct envelope_text	t;

	envelope_begin(&t, type, head);
	envelope_text_json(&t, payload);
	return (envelope_end(&t, length));
}
