/*
 * fuzz_proto.c -- libFuzzer harness of the control protocol (src/proto.c).
 *
 * The input is what a client writes to the control socket.  It goes into an
 * evbuffer in slices (the first byte picks the slice size, as reads from a
 * socket come in pieces) and comes out through proto_next_line() with the
 * daemon's default limit, control.max_request_bytes; each line goes through
 * proto_parse_request() and is answered with an encoded reply line, as
 * control.c does.  The same input is then framed again with the smallest
 * limit the configuration allows, so over-long lines are reached with short
 * inputs too.  Besides crashes, it checks what a client relies on: every
 * reply is one line of JSON with "v" 1, the request's id, and on failure an
 * error code and message.
 */
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "fuzz.h"

/* The smallest control.max_request_bytes that config.c accepts. */
#define FUZZ_PROTO_SMALL_LIMIT	256

static struct evbuffer	*fuzz_in;

/* What kind of reply line a client expects. */
enum fuzz_reply {
	FUZZ_REPLY_OK,
	FUZZ_REPLY_ERROR,
	FUZZ_REPLY_PROGRESS,
};

/* Encode the reply LINE (taken) and check that a client could read it. */
static void
fuzz_proto_reply(json_t *line, json_t *id, enum fuzz_reply kind)
{
	json_error_t	 error;
	json_t		*back, *value;
	char		*text;
	size_t		 length;

	FUZZ_CHECK(line != NULL);
	text = proto_encode_line(line, &length);
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(length > 0 && text[length - 1] == '\n');
	FUZZ_CHECK(memchr(text, '\n', length - 1) == NULL);
	back = json_loadb(text, length - 1, 0, &error);
	FUZZ_CHECK(back != NULL);
	FUZZ_CHECK(json_integer_value(json_object_get(back,
	    HR_FIELD_VERSION)) == HR_PROTOCOL_VERSION);
	value = json_object_get(back, HR_FIELD_ID);
	FUZZ_CHECK(value != NULL);
	FUZZ_CHECK(id == NULL ? json_is_null(value) : json_equal(value, id));
	switch (kind) {
	case FUZZ_REPLY_OK:
		FUZZ_CHECK(json_is_true(json_object_get(back, HR_FIELD_OK)));
		FUZZ_CHECK(json_is_object(json_object_get(back,
		    HR_FIELD_RESULT)));
		break;
	case FUZZ_REPLY_ERROR:
		FUZZ_CHECK(json_is_false(json_object_get(back, HR_FIELD_OK)));
		value = json_object_get(back, HR_FIELD_ERROR);
		FUZZ_CHECK(json_is_string(json_object_get(value, "code")));
		FUZZ_CHECK(json_is_string(json_object_get(value, "message")));
		break;
	case FUZZ_REPLY_PROGRESS:
		FUZZ_CHECK(json_object_get(back, HR_FIELD_OK) == NULL);
		FUZZ_CHECK(json_object_get(back, HR_FIELD_PROGRESS) != NULL);
		break;
	}
	json_decref(back);
	free(text);
	json_decref(line);
}

/* Handle one complete line as control_client_handle() does. */
static void
fuzz_proto_line(const char *line, size_t length)
{
	struct proto_request	 req;
	const char		*code = NULL;
	char			*message = NULL;
	json_t			*id = NULL, *result;

	if (strspn(line, " \t") == length)
		return;
	if (proto_parse_request(line, length, &req, &id, &code,
	    &message) == -1) {
		FUZZ_CHECK(code != NULL && message != NULL);
		FUZZ_CHECK(id == NULL || json_is_string(id) ||
		    json_is_number(id));
		fuzz_proto_reply(proto_reply_error(id, code, message), id,
		    FUZZ_REPLY_ERROR);
		json_decref(id);
		free(message);
		return;
	}
	FUZZ_CHECK(req.root != NULL && req.cmd != NULL && *req.cmd != '\0');
	FUZZ_CHECK(json_is_object(req.args));
	FUZZ_CHECK(json_is_string(req.id) || json_is_number(req.id));
	/* An accepted request speaks version 1, not a number that only
	 * looks like 1 once cut down to an int. */
	FUZZ_CHECK(json_integer_value(json_object_get(req.root,
	    HR_FIELD_VERSION)) == HR_PROTOCOL_VERSION);

	/* A progress line and a final line echoing what was understood. */
	fuzz_proto_reply(proto_reply_progress(req.id, json_pack("{s:s}",
	    "phase", "fuzz")), req.id, FUZZ_REPLY_PROGRESS);
	result = json_pack("{s:s, s:O}", "cmd", req.cmd, "args", req.args);
	FUZZ_CHECK(result != NULL);
	fuzz_proto_reply(proto_reply_ok(req.id, result), req.id,
	    FUZZ_REPLY_OK);
	/* The unknown-command error quotes the name back. */
	message = str_printf("unknown command \"%s\"", req.cmd);
	fuzz_proto_reply(proto_reply_error(req.id, HR_ERR_UNKNOWN_COMMAND,
	    message), req.id, FUZZ_REPLY_ERROR);
	free(message);
	proto_request_clear(&req);
}

/* Frame DATA with limit MAX, SLICE bytes at a time. */
static void
fuzz_proto_frame(const uint8_t *data, size_t size, size_t max, size_t slice)
{
	enum proto_frame	 frame;
	bool			 discarding = false;
	char			*line;
	size_t			 offset = 0, n, length;

	while (offset < size) {
		n = size - offset < slice ? size - offset : slice;
		FUZZ_CHECK(evbuffer_add(fuzz_in, data + offset, n) == 0);
		offset += n;
		for (;;) {
			frame = proto_next_line(fuzz_in, max, &discarding,
			    &line, &length);
			if (frame == PROTO_FRAME_NONE)
				break;
			if (frame != PROTO_FRAME_LINE) {
				FUZZ_CHECK(line == NULL);
				continue;
			}
			FUZZ_CHECK(line != NULL && length <= max);
			FUZZ_CHECK(line[length] == '\0');
			FUZZ_CHECK(memchr(line, '\n', length) == NULL);
			fuzz_proto_line(line, length);
			free(line);
		}
		/* What stays buffered is less than a line over the limit. */
		FUZZ_CHECK(evbuffer_get_length(fuzz_in) <= max);
	}
	/* The client went away: what is left is not a request. */
	evbuffer_drain(fuzz_in, evbuffer_get_length(fuzz_in));
}

/* One evbuffer for every input, like a long-lived client connection. */
int
LLVMFuzzerInitialize(__attribute__((unused)) int *argc,
    __attribute__((unused)) char ***argv)
{
	if ((fuzz_in = evbuffer_new()) == NULL)
		abort();
	return (0);
}

/* Frame and parse one input, with the default limit and the smallest. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	slice;

	/* Slices of 1 to 256 bytes, or all at once. */
	slice = size == 0 || data[0] == 0 ? size + 1 : data[0];
	fuzz_proto_frame(data, size, CONFIG_DEFAULT_MAX_REQUEST_BYTES, slice);
	fuzz_proto_frame(data, size, FUZZ_PROTO_SMALL_LIMIT, slice);
	return (0);
}
