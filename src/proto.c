/*
 * proto.c -- control protocol version 1: framing, request validation, replies.
 *
 * A message is one JSON object on one line.  This file knows nothing of
 * sockets: proto_next_line() cuts lines out of an evbuffer and enforces the
 * size limit, proto_parse_request() turns a line into a validated request or
 * an error code and message, and the proto_reply_*() helpers build the three
 * kinds of reply line.  Keeping it separate makes it testable on its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"

/*
 * Take the next line out of IN.  A line longer than MAX_BYTES (newline
 * excluded) cannot be parsed: report it once as PROTO_FRAME_TOO_LONG, then
 * drop input until its newline (*DISCARDING remembers that across calls) and
 * report PROTO_FRAME_SKIPPED, so the connection stays usable.
 */
enum proto_frame
proto_next_line(struct evbuffer *in, size_t max_bytes, bool *discarding,
    char **line, size_t *length)
{
	struct evbuffer_ptr	 eol;
	size_t			 buffered, eol_length;

	*line = NULL;
	*length = 0;
	buffered = evbuffer_get_length(in);
	eol = evbuffer_search_eol(in, NULL, &eol_length, EVBUFFER_EOL_LF);

	if (*discarding) {
		if (eol.pos == -1) {
			evbuffer_drain(in, buffered);
			return (PROTO_FRAME_NONE);
		}
		evbuffer_drain(in, (size_t)eol.pos + eol_length);
		*discarding = false;
		return (PROTO_FRAME_SKIPPED);
	}

	if (eol.pos == -1) {
		if (buffered > max_bytes) {
			evbuffer_drain(in, buffered);
			*discarding = true;
			return (PROTO_FRAME_TOO_LONG);
		}
		return (PROTO_FRAME_NONE);
	}
	if ((size_t)eol.pos > max_bytes) {
		evbuffer_drain(in, (size_t)eol.pos + eol_length);
		return (PROTO_FRAME_TOO_LONG);
	}

	*line = malloc((size_t)eol.pos + 1);
	if (*line == NULL)
		return (PROTO_FRAME_NONE);
	evbuffer_remove(in, *line, (size_t)eol.pos);
	(*line)[eol.pos] = '\0';
	evbuffer_drain(in, eol_length);
	*length = (size_t)eol.pos;
	/* Tolerate CRLF from hand-typed clients (socat, nc -C). */
	if (*length > 0 && (*line)[*length - 1] == '\r')
		(*line)[--*length] = '\0';
	return (PROTO_FRAME_LINE);
}

/* Name the JSON type of VALUE for an error message. */
static const char *
proto_type_name(json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return ("an object");
	case JSON_ARRAY:
		return ("an array");
	case JSON_STRING:
		return ("a string");
	case JSON_INTEGER:
	case JSON_REAL:
		return ("a number");
	case JSON_TRUE:
	case JSON_FALSE:
		return ("a boolean");
	case JSON_NULL:
		return ("null");
	}
	return ("something else");
}

/* Fail a parse with CODE and a formatted message. */
static int __attribute__((format(printf, 4, 5)))
proto_fail(const char **code, char **message, const char *what,
    const char *fmt, ...)
{
	va_list	 ap;

	*code = what;
	va_start(ap, fmt);
	*message = str_vprintf(fmt, ap);
	va_end(ap);
	return (-1);
}

/*
 * Parse and validate one request line.  On success fill REQ and return 0.
 * On failure return -1 with an error CODE and MESSAGE (to free), and in *ID
 * the request's id when one could be read (a new reference, or NULL), so the
 * error reply can still be matched by the client.
 */
int
proto_parse_request(const char *line, size_t length, struct proto_request *req,
    json_t **id, const char **code, char **message)
{
	json_error_t	 error;
	json_t		*root, *value, *args, *found_id;
	const char	*key;
	json_int_t	 version;

	memset(req, 0, sizeof *req);
	*id = NULL;
	*message = NULL;

	root = json_loadb(line, length, JSON_REJECT_DUPLICATES, &error);
	if (root == NULL)
		return (proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "not valid JSON: %s at column %d", error.text,
		    error.column));
	if (!json_is_object(root)) {
		json_decref(root);
		return (proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "a request must be a JSON object"));
	}

	/* Kept for the error reply, so the client can match it. */
	found_id = json_object_get(root, HR_FIELD_ID);
	if (found_id != NULL && !json_is_string(found_id) &&
	    !json_is_number(found_id))
		found_id = NULL;

	json_object_foreach(root, key, value) {
		if (strcmp(key, HR_FIELD_VERSION) != 0 &&
		    strcmp(key, HR_FIELD_ID) != 0 &&
		    strcmp(key, HR_FIELD_CMD) != 0 &&
		    strcmp(key, HR_FIELD_ARGS) != 0) {
			proto_fail(code, message, HR_ERR_BAD_REQUEST,
			    "unknown field \"%s\" (a request has v, id, cmd, "
			    "args)", key);
			goto fail;
		}
	}

	value = json_object_get(root, HR_FIELD_VERSION);
	if (value == NULL) {
		proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "missing field \"v\" (protocol version)");
		goto fail;
	}
	if (!json_is_integer(value)) {
		proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "field \"v\" must be an integer, not %s",
		    proto_type_name(value));
		goto fail;
	}
	/* Compared whole: cut to an int, 4294967297 would pass for 1. */
	version = json_integer_value(value);
	if (version != HR_PROTOCOL_VERSION) {
		proto_fail(code, message, HR_ERR_UNSUPPORTED_VERSION,
		    "protocol version %" JSON_INTEGER_FORMAT " is not "
		    "supported (this daemon speaks %d)", version,
		    HR_PROTOCOL_VERSION);
		goto fail;
	}

	value = json_object_get(root, HR_FIELD_ID);
	if (value == NULL) {
		proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "missing field \"id\"");
		goto fail;
	}
	if (!json_is_string(value) && !json_is_number(value)) {
		proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "field \"id\" must be a number or a string, not %s",
		    proto_type_name(value));
		goto fail;
	}

	value = json_object_get(root, HR_FIELD_CMD);
	if (value == NULL) {
		proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "missing field \"cmd\"");
		goto fail;
	}
	if (!json_is_string(value) || json_string_length(value) == 0) {
		proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "field \"cmd\" must be a non-empty string");
		goto fail;
	}

	args = json_object_get(root, HR_FIELD_ARGS);
	if (args == NULL) {
		args = json_object();
		json_object_set_new(root, HR_FIELD_ARGS, args);
	} else if (!json_is_object(args)) {
		proto_fail(code, message, HR_ERR_BAD_REQUEST,
		    "field \"args\" must be an object, not %s",
		    proto_type_name(args));
		goto fail;
	}

	req->root = root;
	req->id = json_object_get(root, HR_FIELD_ID);
	req->cmd = json_string_value(json_object_get(root, HR_FIELD_CMD));
	req->args = args;
	return (0);

fail:
	if (found_id != NULL)
		*id = json_incref(found_id);
	json_decref(root);
	return (-1);
}

/* Release a parsed request. */
void
proto_request_clear(struct proto_request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof *req);
}

/* Start a reply line for request ID (NULL: the request had none). */
static json_t *
proto_reply_start(json_t *id)
{
	return (json_pack("{s:i, s:O}", HR_FIELD_VERSION, HR_PROTOCOL_VERSION,
	    HR_FIELD_ID, id != NULL ? id : json_null()));
}

/* A final success line; takes RESULT. */
json_t *
proto_reply_ok(json_t *id, json_t *result)
{
	json_t	*line = proto_reply_start(id);

	json_object_set_new(line, HR_FIELD_OK, json_true());
	json_object_set_new(line, HR_FIELD_RESULT,
	    result != NULL ? result : json_object());
	return (line);
}

/*
 * A final error line.  MESSAGE may quote what the client or a back end sent
 * (jansson's parse errors quote the bytes near the error, cut anywhere):
 * bytes that are not UTF-8 become '?', since jansson would refuse the whole
 * string and the line would go out without its error.
 */
json_t *
proto_reply_error(json_t *id, const char *code, const char *message)
{
	json_t	*line = proto_reply_start(id), *text;
	char	*copy;

	if (message == NULL)
		message = "";
	if ((text = json_string(message)) == NULL &&
	    (copy = strdup(message)) != NULL) {
		str_utf8_repair(copy);
		text = json_string(copy);
		free(copy);
	}
	json_object_set_new(line, HR_FIELD_OK, json_false());
	json_object_set_new(line, HR_FIELD_ERROR, json_pack("{s:s, s:o}",
	    "code", code, "message", text));
	return (line);
}

/* A progress line; takes PROGRESS. */
json_t *
proto_reply_progress(json_t *id, json_t *progress)
{
	json_t	*line = proto_reply_start(id);

	json_object_set_new(line, HR_FIELD_PROGRESS, progress);
	return (line);
}

/* An event line of a stream (watch); takes EVENT. */
json_t *
proto_reply_event(json_t *id, json_t *event)
{
	json_t	*line = proto_reply_start(id);

	json_object_set_new(line, HR_FIELD_EVENT, event);
	return (line);
}

/*
 * Encode LINE compactly with its newline; the caller frees the result.
 * Reals keep jansson's default precision, which round-trips: a reply echoes
 * the request's id, and an id such as 0.12345678901 cut to fewer digits
 * would no longer match the request.
 */
char *
proto_encode_line(json_t *line, size_t *length)
{
	char	*text, *out;
	size_t	 n;

	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return (NULL);
	n = strlen(text);
	out = realloc(text, n + 2);
	if (out == NULL) {
		free(text);
		return (NULL);
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	*length = n + 1;
	return (out);
}
