/*
 * test_proto.c -- unit tests of the control protocol: framing, request
 * validation and reply lines (src/proto.c).
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hotreloadd.h"

/* Feed TEXT to a buffer. */
static struct evbuffer *
buffer_with(const char *text)
{
	struct evbuffer	*b = evbuffer_new();

	evbuffer_add(b, text, strlen(text));
	return (b);
}

START_TEST(frame_lines_in_order)
{
	struct evbuffer	*b = buffer_with("one\ntwo\r\nthr");
	bool		 discarding = false;
	char		*line;
	size_t		 length;

	ck_assert_int_eq(proto_next_line(b, 100, &discarding, &line, &length),
	    PROTO_FRAME_LINE);
	ck_assert_str_eq(line, "one");
	ck_assert_uint_eq(length, 3);
	free(line);
	ck_assert_int_eq(proto_next_line(b, 100, &discarding, &line, &length),
	    PROTO_FRAME_LINE);
	ck_assert_str_eq(line, "two");		/* CR dropped */
	free(line);
	ck_assert_int_eq(proto_next_line(b, 100, &discarding, &line, &length),
	    PROTO_FRAME_NONE);
	ck_assert_ptr_null(line);
	ck_assert_uint_eq(evbuffer_get_length(b), 3);	/* partial kept */
	evbuffer_add(b, "ee\n", 3);
	ck_assert_int_eq(proto_next_line(b, 100, &discarding, &line, &length),
	    PROTO_FRAME_LINE);
	ck_assert_str_eq(line, "three");
	free(line);
	evbuffer_free(b);
}
END_TEST

START_TEST(frame_exact_limit_is_accepted)
{
	struct evbuffer	*b = buffer_with("12345678\n");
	bool		 discarding = false;
	char		*line;
	size_t		 length;

	ck_assert_int_eq(proto_next_line(b, 8, &discarding, &line, &length),
	    PROTO_FRAME_LINE);
	ck_assert_str_eq(line, "12345678");
	free(line);
	evbuffer_free(b);
}
END_TEST

START_TEST(frame_too_long_complete_line)
{
	struct evbuffer	*b = buffer_with("123456789\nok\n");
	bool		 discarding = false;
	char		*line;
	size_t		 length;

	ck_assert_int_eq(proto_next_line(b, 8, &discarding, &line, &length),
	    PROTO_FRAME_TOO_LONG);
	ck_assert(!discarding);
	/* The next line is intact: the connection stays usable. */
	ck_assert_int_eq(proto_next_line(b, 8, &discarding, &line, &length),
	    PROTO_FRAME_LINE);
	ck_assert_str_eq(line, "ok");
	free(line);
	evbuffer_free(b);
}
END_TEST

START_TEST(frame_too_long_partial_line_is_skipped)
{
	struct evbuffer	*b = buffer_with("0123456789abcdef");
	bool		 discarding = false;
	char		*line;
	size_t		 length;

	ck_assert_int_eq(proto_next_line(b, 8, &discarding, &line, &length),
	    PROTO_FRAME_TOO_LONG);
	ck_assert(discarding);
	ck_assert_uint_eq(evbuffer_get_length(b), 0);	/* not held */
	evbuffer_add(b, "more garbage", 12);
	ck_assert_int_eq(proto_next_line(b, 8, &discarding, &line, &length),
	    PROTO_FRAME_NONE);
	evbuffer_add(b, "end\n{\"a\":1}\n", 12);
	ck_assert_int_eq(proto_next_line(b, 8, &discarding, &line, &length),
	    PROTO_FRAME_SKIPPED);
	ck_assert(!discarding);
	ck_assert_int_eq(proto_next_line(b, 8, &discarding, &line, &length),
	    PROTO_FRAME_LINE);
	ck_assert_str_eq(line, "{\"a\":1}");
	free(line);
	evbuffer_free(b);
}
END_TEST

/* Parse TEXT, expecting failure with CODE and a message containing PART. */
static void
expect_error(const char *text, const char *code, const char *part,
    json_t *want_id)
{
	struct proto_request	 req;
	const char		*got_code = NULL;
	char			*message = NULL;
	json_t			*id = NULL;

	ck_assert_int_eq(proto_parse_request(text, strlen(text), &req, &id,
	    &got_code, &message), -1);
	ck_assert_str_eq(got_code, code);
	ck_assert_ptr_nonnull(message);
	if (strstr(message, part) == NULL)
		ck_abort_msg("message \"%s\" lacks \"%s\"", message, part);
	if (want_id == NULL)
		ck_assert_ptr_null(id);
	else
		ck_assert(json_equal(id, want_id));
	json_decref(id);
	json_decref(want_id);
	free(message);
}

START_TEST(parse_valid_request)
{
	const char		*text = "{\"v\":1,\"id\":7,\"cmd\":\"drain\","
				    "\"args\":{\"wait\":true}}";
	struct proto_request	 req;
	const char		*code;
	char			*message;
	json_t			*id;

	ck_assert_int_eq(proto_parse_request(text, strlen(text), &req, &id,
	    &code, &message), 0);
	ck_assert_str_eq(req.cmd, "drain");
	ck_assert_int_eq(json_integer_value(req.id), 7);
	ck_assert(json_is_true(json_object_get(req.args, "wait")));
	json_decref(id);
	proto_request_clear(&req);
}
END_TEST

START_TEST(parse_string_id_and_no_args)
{
	const char		*text = "{\"v\":1,\"id\":\"abc\",\"cmd\":\"status\"}";
	struct proto_request	 req;
	const char		*code;
	char			*message;
	json_t			*id;

	ck_assert_int_eq(proto_parse_request(text, strlen(text), &req, &id,
	    &code, &message), 0);
	ck_assert_str_eq(json_string_value(req.id), "abc");
	ck_assert(json_is_object(req.args));
	ck_assert_uint_eq(json_object_size(req.args), 0);
	json_decref(id);
	proto_request_clear(&req);
}
END_TEST

START_TEST(parse_errors)
{
	expect_error("not json", HR_ERR_BAD_REQUEST, "not valid JSON", NULL);
	expect_error("[1,2]", HR_ERR_BAD_REQUEST, "must be a JSON object",
	    NULL);
	expect_error("{\"id\":3,\"cmd\":\"status\"}", HR_ERR_BAD_REQUEST,
	    "missing field \"v\"", json_integer(3));
	expect_error("{\"v\":\"1\",\"id\":3,\"cmd\":\"status\"}",
	    HR_ERR_BAD_REQUEST, "\"v\" must be an integer", json_integer(3));
	expect_error("{\"v\":2,\"id\":3,\"cmd\":\"status\"}",
	    HR_ERR_UNSUPPORTED_VERSION, "version 2", json_integer(3));
	expect_error("{\"v\":4294967297,\"id\":3,\"cmd\":\"status\"}",
	    HR_ERR_UNSUPPORTED_VERSION, "version 4294967297 ", json_integer(3));
	expect_error("{\"v\":1,\"cmd\":\"status\"}", HR_ERR_BAD_REQUEST,
	    "missing field \"id\"", NULL);
	expect_error("{\"v\":1,\"id\":[1],\"cmd\":\"status\"}",
	    HR_ERR_BAD_REQUEST, "\"id\" must be a number or a string", NULL);
	expect_error("{\"v\":1,\"id\":\"x\"}", HR_ERR_BAD_REQUEST,
	    "missing field \"cmd\"", json_string("x"));
	expect_error("{\"v\":1,\"id\":1,\"cmd\":5}", HR_ERR_BAD_REQUEST,
	    "\"cmd\" must be a non-empty string", json_integer(1));
	expect_error("{\"v\":1,\"id\":1,\"cmd\":\"status\",\"args\":[]}",
	    HR_ERR_BAD_REQUEST, "\"args\" must be an object", json_integer(1));
	expect_error("{\"v\":1,\"id\":1,\"cmd\":\"status\",\"extra\":1}",
	    HR_ERR_BAD_REQUEST, "unknown field \"extra\"", json_integer(1));
	expect_error("{\"v\":1,\"v\":1,\"id\":1,\"cmd\":\"status\"}",
	    HR_ERR_BAD_REQUEST, "duplicate", NULL);
}
END_TEST

START_TEST(reply_lines)
{
	json_t	*id = json_integer(9), *line;
	char	*text;
	size_t	 length;

	line = proto_reply_ok(id, json_pack("{s:b}", "draining", 0));
	text = proto_encode_line(line, &length);
	ck_assert_str_eq(text,
	    "{\"v\":1,\"id\":9,\"ok\":true,\"result\":{\"draining\":false}}\n");
	ck_assert_uint_eq(length, strlen(text));
	free(text);
	json_decref(line);

	line = proto_reply_error(NULL, HR_ERR_FORBIDDEN, "no");
	text = proto_encode_line(line, &length);
	ck_assert_str_eq(text, "{\"v\":1,\"id\":null,\"ok\":false,\"error\":"
	    "{\"code\":\"forbidden\",\"message\":\"no\"}}\n");
	free(text);
	json_decref(line);

	line = proto_reply_progress(id, json_pack("{s:i}", "in_flight", 3));
	text = proto_encode_line(line, &length);
	ck_assert_str_eq(text,
	    "{\"v\":1,\"id\":9,\"progress\":{\"in_flight\":3}}\n");
	free(text);
	json_decref(line);
	json_decref(id);
}
END_TEST

/* A reply echoes a number id exactly, however many digits it has. */
START_TEST(reply_echoes_real_id_exactly)
{
	static const char *const lines[] = {
		"{\"v\":1,\"id\":0.12345678901,\"cmd\":\"status\"}",
		"{\"v\":2,\"id\":1764286000.123,\"cmd\":\"status\"}",
	};
	struct proto_request	 req;
	const char		*code;
	char			*message, *text;
	json_t			*id, *line, *back;
	size_t			 i, length;

	for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		if (proto_parse_request(lines[i], strlen(lines[i]), &req, &id,
		    &code, &message) == 0) {
			id = json_incref(req.id);
			line = proto_reply_ok(id, NULL);
			proto_request_clear(&req);
		} else {
			line = proto_reply_error(id, code, message);
			free(message);
		}
		ck_assert_ptr_nonnull(id);
		text = proto_encode_line(line, &length);
		back = json_loads(text, 0, NULL);
		ck_assert_ptr_nonnull(back);
		ck_assert(json_equal(json_object_get(back, "id"), id));
		json_decref(back);
		free(text);
		json_decref(line);
		json_decref(id);
	}
}
END_TEST

/*
 * jansson quotes the bytes near a parse error and may cut a UTF-8 sequence:
 * the error reply still carries its code and a (repaired) message.
 */
START_TEST(reply_error_message_not_utf8)
{
	static const char	 text[] = "{\"v\":0,\"id\\ud80\xd9\x92\x9b"
				    "\xdd\xc5\xdd\x86\x9arsio\"\"}";
	struct proto_request	 req;
	const char		*code;
	char			*message, *encoded;
	json_t			*id, *line, *back, *error;
	size_t			 length;

	ck_assert_int_eq(proto_parse_request(text, sizeof text - 1, &req, &id,
	    &code, &message), -1);
	ck_assert_str_eq(code, HR_ERR_BAD_REQUEST);
	line = proto_reply_error(id, code, message);
	encoded = proto_encode_line(line, &length);
	back = json_loads(encoded, 0, NULL);
	ck_assert_ptr_nonnull(back);
	error = json_object_get(back, "error");
	ck_assert_str_eq(json_string_value(json_object_get(error, "code")),
	    HR_ERR_BAD_REQUEST);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(error,
	    "message")), "not valid JSON"));
	json_decref(back);
	free(encoded);
	json_decref(line);
	json_decref(id);
	free(message);
}
END_TEST

/*
 * Bytes outside valid UTF-8 become '?'; valid text is left alone, and is
 * what str_utf8_valid() accepts.
 */
START_TEST(utf8_repair)
{
	static const struct {
		const char	*in, *out;
		size_t		 replaced;
	} cases[] = {
		{ "plain", "plain", 0 },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
		  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0 },
		{ "a\xff" "b", "a?b", 1 },
		{ "cut \xe2\x82", "cut ??", 2 },
		{ "\xc0\xaf", "??", 2 },		/* overlong */
		{ "\xed\xa0\x80", "???", 3 },	/* surrogate */
		{ "\xf4\x90\x80\x80", "????", 4 },	/* over U+10FFFF */
	};
	char	*copy;
	size_t	 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert(str_utf8_valid(cases[i].in) ==
		    (cases[i].replaced == 0));
		copy = strdup(cases[i].in);
		ck_assert_uint_eq(str_utf8_repair(copy), cases[i].replaced);
		ck_assert_str_eq(copy, cases[i].out);
		free(copy);
	}
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*frame = tcase_create("framing");
	TCase	*parse = tcase_create("requests");
	TCase	*reply = tcase_create("replies");

	tcase_add_test(frame, frame_lines_in_order);
	tcase_add_test(frame, frame_exact_limit_is_accepted);
	tcase_add_test(frame, frame_too_long_complete_line);
	tcase_add_test(frame, frame_too_long_partial_line_is_skipped);
	tcase_add_test(parse, parse_valid_request);
	tcase_add_test(parse, parse_string_id_and_no_args);
	tcase_add_test(parse, parse_errors);
	tcase_add_test(reply, reply_lines);
	tcase_add_test(reply, reply_echoes_real_id_exactly);
	tcase_add_test(reply, reply_error_message_not_utf8);
	tcase_add_test(reply, utf8_repair);
	suite_add_tcase(s, frame);
	suite_add_tcase(s, parse);
	suite_add_tcase(s, reply);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(proto_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
