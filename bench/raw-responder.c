/*
 * raw-responder.c -- an HSP echo agent with no JSON library: the ceiling
 * of the HSP throughput benchmark.
 *
 * bench/echo-responder does the echo tool's protocol work with jansson and
 * the daemon's envelope code; this one does the same work the way a
 * hand-written C agent would, so that what the daemon is measured against
 * is what the broker and the protocol cost, not what a JSON library
 * costs.  Same MQTT set-up (MQTT 5, TCP no-delay, QoS 1 subscription to
 * hsp/requests/<ai_id>), same three publishes per request (the request,
 * an Acknowledgement to hsp/acks/<sender> when it asks for one, a
 * TaskResult to its callback_address or hsp/results/<requester>/
 * <request_id>), every envelope key present as HSP.md requires.
 *
 * The fields are found by scanning the request text: one pass over the
 * top-level object, one over qos_parameters, one over the payload; a
 * value is skipped by matching braces and brackets outside strings.  What
 * is copied into a reply (ids, the parameters) is copied as its raw JSON
 * text, escapes and all, so the reply stays valid JSON without re-encoding
 * anything; what becomes a topic is unescaped.  Nothing that is not read
 * is validated: a request that is not quite JSON but has the fields is
 * answered, where the daemon would drop it.  That is the point of a
 * ceiling; a request without a required field is dropped and counted.
 *
 * usage: raw-responder -p PORT [-h HOST] --id AI_ID [--ready-file FILE]
 * Runs until SIGTERM or SIGINT; prints
 * {"received":N,"results":N,"acks":N,"dropped":N}.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/random.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>

#include "responder.h"

#define nitems(a)	(sizeof (a) / sizeof (a)[0])

/* The longest topic MQTT allows. */
#define TOPIC_MAX	65535

/* A piece of the request text: a JSON value as it was sent. */
struct span {
	const char	*p;
	size_t		 len;
};

/* A member an object scan looks for, and where its value goes. */
struct member {
	const char	*key;
	struct span	*value;
};

/* A topic being built; strings taken from the request are unescaped. */
struct topic {
	char		 text[TOPIC_MAX + 1];
	size_t		 len;
	bool		 bad;
};

struct responder {
	struct responder_shell	 shell;	/* bench/responder.c */
	char			*ai_id_json;	/* escaped for a JSON string */
	char			*reply;		/* the reply being formatted */
	size_t			 reply_size;
	struct topic		 topic;
};

/* Past the white space at P. */
static const char *
json_skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/*
 * Past the string that starts at P (on its opening quote), or NULL.  A
 * control character inside is refused: copied raw into a reply it would
 * make the reply invalid JSON.
 */
static const char *
json_skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && ++p == end)
			return NULL;
	}
	return NULL;
}

/*
 * Past the value that starts at P, or NULL.  An object or array ends where
 * its braces and brackets balance, strings (and the braces in them)
 * skipped whole; a scalar ends at the next delimiter.
 */
static const char *
json_skip_value(const char *p, const char *end)
{
	const char	*start = p;
	int		 depth = 0;

	if (p == end)
		return NULL;
	if (*p == '"')
		return json_skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && strchr(",}] \t\r\n", *p) == NULL)
			p++;
		return p > start ? p : NULL;
	}
	while (p < end) {
		switch (*p) {
		case '"':
			if ((p = json_skip_string(p, end)) == NULL)
				return NULL;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return p + 1;
			break;
		}
		p++;
	}
	return NULL;
}

/*
 * Scan the object OBJECT for the N members: each one's value (the last,
 * as jansson keeps it, if a key comes twice) or an empty span when it is
 * absent.  Keys are compared as sent: a key spelt with escapes is not
 * found.  -1 if OBJECT is not an object.
 */
static int
json_object_scan(struct span object, const struct member *members, size_t n)
{
	const char	*p = object.p, *end = object.p + object.len, *key,
			*value;
	size_t		 i, key_len;

	for (i = 0; i < n; i++)
		*members[i].value = (struct span){ NULL, 0 };
	if (p == NULL || (p = json_skip_space(p, end)) == end || *p != '{')
		return -1;
	p = json_skip_space(p + 1, end);
	if (p < end && *p == '}')
		return 0;
	while (p < end) {
		if (*p != '"')
			return -1;
		key = p + 1;
		if ((p = json_skip_string(p, end)) == NULL)
			return -1;
		key_len = (size_t)(p - 1 - key);
		p = json_skip_space(p, end);
		if (p == end || *p != ':')
			return -1;
		value = json_skip_space(p + 1, end);
		if ((p = json_skip_value(value, end)) == NULL)
			return -1;
		for (i = 0; i < n; i++) {
			if (strlen(members[i].key) == key_len &&
			    memcmp(members[i].key, key, key_len) == 0) {
				members[i].value->p = value;
				members[i].value->len = (size_t)(p - value);
				break;
			}
		}
		p = json_skip_space(p, end);
		if (p < end && *p == '}')
			return 0;
		if (p == end || *p != ',')
			return -1;
		p = json_skip_space(p + 1, end);
	}
	return -1;
}

/* The text of V, a non-empty JSON string, without its quotes; false if V
 * is anything else (absent, empty, another type). */
static bool
json_string_text(struct span v, struct span *text)
{
	if (v.len < 3 || v.p[0] != '"')
		return false;
	text->p = v.p + 1;
	text->len = v.len - 2;
	return true;
}

/* True if V is exactly the text LITERAL. */
static bool
json_span_is(struct span v, const char *literal)
{
	return v.len == strlen(literal) && memcmp(v.p, literal, v.len) == 0;
}

/* S escaped for a JSON string, allocated (our own id goes in replies). */
static char *
json_escape(const char *s)
{
	char	*out, *q;

	if ((out = malloc(strlen(s) * 6 + 1)) == NULL)
		return NULL;
	for (q = out; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			*q++ = '\\';
			*q++ = *s;
		} else if ((unsigned char)*s < 0x20)
			q += sprintf(q, "\\u%04x", (unsigned int)*s);
		else
			*q++ = *s;
	}
	*q = '\0';
	return out;
}

/* Start an empty topic. */
static void
topic_reset(struct topic *t)
{
	t->len = 0;
	t->bad = false;
}

/* Append LEN bytes of TEXT; a topic longer than MQTT allows is bad. */
static void
topic_add(struct topic *t, const char *text, size_t len)
{
	if (t->bad || len > TOPIC_MAX - t->len) {
		t->bad = true;
		return;
	}
	memcpy(t->text + t->len, text, len);
	t->len += len;
}

/* Append code point C as UTF-8. */
static void
topic_add_code_point(struct topic *t, uint32_t c)
{
	char	b[4];
	size_t	n;

	if (c < 0x80) {
		b[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3f));
		n = 2;
	} else if (c < 0x10000) {
		b[0] = (char)(0xe0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | c >> 18);
		b[1] = (char)(0x80 | (c >> 12 & 0x3f));
		b[2] = (char)(0x80 | (c >> 6 & 0x3f));
		b[3] = (char)(0x80 | (c & 0x3f));
		n = 4;
	}
	topic_add(t, b, n);
}

/* The four hex digits at P as a number, or -1. */
static long
hex4(const char *p)
{
	long	v = 0;
	int	i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			v |= p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			v |= p[i] - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* The character the escape \C stands for; 0 for \u and for what is not an
 * escape. */
static char
json_unescape_char(char c)
{
	switch (c) {
	case '"':
	case '\\':
	case '/':
		return c;
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	}
	return 0;
}

/*
 * Append the string text S (without quotes) unescaped: a topic is bytes,
 * not JSON.  An escape jansson would refuse (a lone surrogate, an unknown
 * letter) or \u0000, which no topic may hold, makes the topic bad.
 */
static void
topic_add_string(struct topic *t, struct span s)
{
	const char	*p = s.p, *end = s.p + s.len, *backslash;
	long		 c, low;
	char		 plain;

	while (p < end) {
		if ((backslash = memchr(p, '\\', (size_t)(end - p))) == NULL) {
			topic_add(t, p, (size_t)(end - p));
			return;
		}
		topic_add(t, p, (size_t)(backslash - p));
		/* json_skip_string saw to it that a character follows. */
		p = backslash + 1;
		if (*p != 'u') {
			if ((plain = json_unescape_char(*p)) == 0) {
				t->bad = true;
				return;
			}
			topic_add(t, &plain, 1);
			p++;
			continue;
		}
		if (end - p < 5 || (c = hex4(p + 1)) <= 0 ||
		    (c >= 0xdc00 && c < 0xe000)) {
			t->bad = true;
			return;
		}
		p += 5;
		if (c >= 0xd800 && c < 0xdc00) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    (low = hex4(p + 2)) < 0xdc00 || low >= 0xe000) {
				t->bad = true;
				return;
			}
			c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
			p += 6;
		}
		topic_add_code_point(t, (uint32_t)c);
	}
}

/* Format into R's reply buffer, growing it; the length, or -1. */
static int __attribute__((format(printf, 2, 3)))
reply_format(struct responder *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*grown;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(r->reply, r->reply_size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n < r->reply_size)
		return n;
	if ((grown = realloc(r->reply, (size_t)n + 1)) == NULL)
		return -1;
	r->reply = grown;
	r->reply_size = (size_t)n + 1;
	va_start(ap, fmt);
	n = vsnprintf(r->reply, r->reply_size, fmt, ap);
	va_end(ap);
	return n;
}

/* Publish the reply (N bytes) on R's topic at QoS 1. */
static int
reply_publish(struct responder *r, int n)
{
	if (n < 0 || r->topic.bad)
		return -1;
	r->topic.text[r->topic.len] = '\0';
	return responder_publish(&r->shell, r->topic.text, r->reply, n);
}

/* Now as ISO-8601 UTC with microseconds, as the daemon writes it. */
static void
timestamp_now(char out[64])
{
	struct timespec	ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

/* A UUID4 as text from 16 random bytes B. */
static void
uuid4_text(unsigned char b[16], char out[37])
{
	static const char	hex[] = "0123456789abcdef";
	int			i;

	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*out++ = '-';
		*out++ = hex[b[i] >> 4];
		*out++ = hex[b[i] & 0x0f];
	}
	*out = '\0';
}

/* The three UUIDs a request needs (the Acknowledgement's message id, the
 * TaskResult's message id and its result_id), from one getrandom. */
static void
uuid4_three(char ids[3][37])
{
	unsigned char	b[48];
	size_t		got = 0;
	ssize_t		n;
	int		i;

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
	for (i = 0; i < 3; i++)
		uuid4_text(b + 16 * i, ids[i]);
}

/*
 * A request: find its fields, drop it if one it needs is missing, publish
 * the Acknowledgement it asks for and the TaskResult that echoes its
 * parameters.
 */
static void
on_message(__attribute__((unused)) struct responder_shell *shell,
    const struct mosquitto_message *message, void *arg)
{
	struct responder	*r = arg;
	struct span		 root, message_id, sender, correlation, qos,
				 payload, requires_ack, request_id, requester,
				 callback, parameters, value;
	const struct member	 root_members[] = {
		{ "message_id", &message_id }, { "sender_ai_id", &sender },
		{ "correlation_id", &correlation },
		{ "qos_parameters", &qos }, { "payload", &payload },
	};
	const struct member	 qos_members[] = {
		{ "requires_ack", &requires_ack },
	};
	const struct member	 payload_members[] = {
		{ "request_id", &request_id },
		{ "requester_ai_id", &requester },
		{ "callback_address", &callback },
		{ "parameters", &parameters },
	};
	struct timespec		 started, ended;
	char			 ids[3][37], when[64];
	long			 taken_ms;
	int			 n;

	clock_gettime(CLOCK_MONOTONIC, &started);
	root.p = message->payload;
	root.len = message->payloadlen > 0 ? (size_t)message->payloadlen : 0;
	if (json_object_scan(root, root_members,
	    nitems(root_members)) == -1 ||
	    !json_string_text(message_id, &message_id) ||
	    !json_string_text(sender, &sender) ||
	    json_object_scan(payload, payload_members,
	    nitems(payload_members)) == -1 ||
	    !json_string_text(request_id, &request_id) ||
	    !json_string_text(requester, &requester) ||
	    parameters.len == 0 || parameters.p[0] != '{')
		goto drop;
	/* The replies' correlation id: the request's, else its message id
	 * (HSP.md "Request/result" and 8).  Another type is malformed, as
	 * the daemon has it. */
	value = correlation;
	if (!json_string_text(value, &correlation)) {
		if (value.len != 0 && !json_span_is(value, "null") &&
		    !json_span_is(value, "\"\""))
			goto drop;
		correlation = message_id;
	}
	uuid4_three(ids);

	if (json_object_scan(qos, qos_members, nitems(qos_members)) == 0 &&
	    json_span_is(requires_ack, "true")) {
		timestamp_now(when);
		topic_reset(&r->topic);
		topic_add(&r->topic, "hsp/acks/", 9);
		topic_add_string(&r->topic, sender);
		n = reply_format(r, "{\"hsp_envelope_version\":\"0.1\","
		    "\"message_id\":\"%s\",\"correlation_id\":\"%.*s\","
		    "\"sender_ai_id\":\"%s\",\"recipient_ai_id\":\"%.*s\","
		    "\"timestamp_sent\":\"%s\","
		    "\"message_type\":\"HSP::Acknowledgement_v0.1\","
		    "\"protocol_version\":\"0.1\","
		    "\"communication_pattern\":\"acknowledgement\","
		    "\"security_parameters\":null,\"qos_parameters\":"
		    "{\"priority\":\"low\",\"requires_ack\":false,"
		    "\"time_to_live_sec\":null},\"routing_info\":null,"
		    "\"payload_schema_uri\":null,\"payload\":"
		    "{\"status\":\"received\",\"ack_timestamp\":\"%s\","
		    "\"target_message_id\":\"%.*s\"}}",
		    ids[0], (int)correlation.len, correlation.p, r->ai_id_json,
		    (int)sender.len, sender.p, when, when,
		    (int)message_id.len, message_id.p);
		if (reply_publish(r, n) == 0)
			r->shell.acks++;
	}

	topic_reset(&r->topic);
	if (json_string_text(callback, &callback))
		topic_add_string(&r->topic, callback);
	else {
		topic_add(&r->topic, "hsp/results/", 12);
		topic_add_string(&r->topic, requester);
		topic_add(&r->topic, "/", 1);
		topic_add_string(&r->topic, request_id);
	}
	timestamp_now(when);
	clock_gettime(CLOCK_MONOTONIC, &ended);
	taken_ms = (ended.tv_sec - started.tv_sec) * 1000 +
	    (ended.tv_nsec - started.tv_nsec) / 1000000;
	n = reply_format(r, "{\"hsp_envelope_version\":\"0.1\","
	    "\"message_id\":\"%s\",\"correlation_id\":\"%.*s\","
	    "\"sender_ai_id\":\"%s\",\"recipient_ai_id\":\"%.*s\","
	    "\"timestamp_sent\":\"%s\","
	    "\"message_type\":\"HSP::TaskResult_v0.1\","
	    "\"protocol_version\":\"0.1\","
	    "\"communication_pattern\":\"response\","
	    "\"security_parameters\":null,\"qos_parameters\":"
	    "{\"priority\":\"medium\",\"requires_ack\":false,"
	    "\"time_to_live_sec\":null},\"routing_info\":null,"
	    "\"payload_schema_uri\":null,\"payload\":"
	    "{\"result_id\":\"%s\",\"request_id\":\"%.*s\","
	    "\"executing_ai_id\":\"%s\",\"status\":\"success\","
	    "\"payload\":%.*s,\"error_details\":null,"
	    "\"timestamp_completed\":\"%s\","
	    "\"execution_metadata\":{\"time_taken_ms\":%ld}}}",
	    ids[1], (int)correlation.len, correlation.p, r->ai_id_json,
	    (int)requester.len, requester.p, when, ids[2],
	    (int)request_id.len, request_id.p, r->ai_id_json,
	    (int)parameters.len, parameters.p, when, taken_ms);
	if (reply_publish(r, n) == 0)
		r->shell.results++;
	return;

drop:
	r->shell.dropped++;
}

int
main(int argc, char **argv)
{
	struct responder	*r;
	int			 rc;

	/* On the heap: the topic buffer is 64 KiB. */
	if ((r = calloc(1, sizeof *r)) == NULL)
		return 1;
	if ((rc = responder_args(&r->shell, "raw-responder", argc,
	    argv)) != 0)
		return rc;
	if ((r->ai_id_json = json_escape(r->shell.ai_id)) == NULL ||
	    (r->reply = malloc(4096)) == NULL)
		return 1;
	r->reply_size = 4096;
	rc = responder_run(&r->shell, on_message, r);
	free(r->ai_id_json);
	free(r->reply);
	free(r);
	return rc;
}
