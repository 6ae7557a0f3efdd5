/*
 * test_jscan.c -- unit tests of jscan.c, the tree-less JSON reader of the HSP
 * hot path: it accepts exactly the texts json_loadb(text, length, 0)
 * accepts but for jansson's NUL quirk (a table of edge cases, then
 * thousands of mutations of real envelopes, each checked against
 * jansson), finds members as jansson does
 * (the last of a duplicated key, escaped keys), and decodes strings to the
 * same bytes as jansson.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "jscan.h"

/* Does jansson take TEXT of LENGTH bytes? */
static bool
jansson_takes(const char *text, size_t length)
{
	json_t	*root = json_loadb(text, length, 0, NULL);

	json_decref(root);
	return (root != NULL);
}

static bool
jscan_takes(const char *text, size_t length)
{
	struct jscan_value	root;
	char			error[128];

	return (jscan_check(text, length, &root, error, sizeof error) == 0);
}

/*
 * For a text both take: every member jansson sees at the top (and one level
 * down) is found by jscan_members with the same type, and a string decodes
 * to jansson's bytes.  Aborts with the text otherwise.
 */
static void
assert_same_members(const char *text, size_t length)
{
	struct jscan_value	 root, found[2], inner[2];
	json_t			*tree, *value, *member;
	const char		*key, *inner_key;
	const char		*keys[2] = { NULL, NULL };
	char			*decoded;
	static const enum jscan_type types[] = {
		[JSON_OBJECT] = JSCAN_OBJECT, [JSON_ARRAY] = JSCAN_ARRAY,
		[JSON_STRING] = JSCAN_STRING, [JSON_INTEGER] = JSCAN_NUMBER,
		[JSON_REAL] = JSCAN_NUMBER, [JSON_TRUE] = JSCAN_TRUE,
		[JSON_FALSE] = JSCAN_FALSE, [JSON_NULL] = JSCAN_NULL
	};

	tree = json_loadb(text, length, 0, NULL);
	if (tree == NULL || jscan_check(text, length, &root, NULL, 0) != 0)
		ck_abort_msg("not taken by both: %.*s", (int)length, text);
	if (!json_is_object(tree)) {
		json_decref(tree);
		return;
	}
	json_object_foreach(tree, key, value) {
		keys[0] = key;
		jscan_members(&root, keys, found);
		if (found[0].type != types[json_typeof(value)])
			ck_abort_msg("member \"%s\": type %d, jansson %d in "
			    "%.*s", key, found[0].type, json_typeof(value),
			    (int)length, text);
		if (json_is_string(value)) {
			decoded = malloc(found[0].length);
			jscan_decode(&found[0], decoded);
			if (strcmp(decoded, json_string_value(value)) != 0)
				ck_abort_msg("member \"%s\": \"%s\", jansson "
				    "\"%s\"", key, decoded,
				    json_string_value(value));
			free(decoded);
		}
		if (!json_is_object(value))
			continue;
		json_object_foreach(value, inner_key, member) {
			keys[0] = inner_key;
			jscan_members(&found[0], keys, inner);
			if (inner[0].type != types[json_typeof(member)])
				ck_abort_msg("member \"%s.%s\": wrong type",
				    key, inner_key);
		}
	}
	json_decref(tree);
}

/* A text and whether jansson takes it (asserted too). */
static const struct {
	const char	*text;
	bool		 taken;
} cases[] = {
	{ "{}", true },
	{ "[]", true },
	{ " \t\r\n{ } \n", true },
	{ "", false },
	{ "   ", false },
	{ "\"top\"", false },		/* a scalar at the top */
	{ "1", false },
	{ "null", false },
	{ "{} {}", false },
	{ "{}x", false },
	{ "{", false },
	{ "{\"a\"}", false },
	{ "{\"a\":}", false },
	{ "{\"a\":1,}", false },
	{ "[1,]", false },
	{ "[,1]", false },
	{ "{1:2}", false },
	{ "{'a':1}", false },
	{ "[tru]", false },
	{ "[truex]", false },
	{ "[true1]", false },
	{ "[nul]", false },
	{ "[true,false,null]", true },
	{ "[0]", true },
	{ "[-0]", true },
	{ "[01]", false },
	{ "[-]", false },
	{ "[+1]", false },
	{ "[1.]", false },
	{ "[.5]", false },
	{ "[1e]", false },
	{ "[1e+]", false },
	{ "[1.5e-7]", true },
	{ "[1E+2]", true },
	{ "[9223372036854775807]", true },
	{ "[9223372036854775808]", false },
	{ "[-9223372036854775808]", true },
	{ "[-9223372036854775809]", false },
	{ "[12345678901234567890]", false },
	{ "[1e308]", true },
	{ "[1e309]", false },
	{ "[-1e309]", false },
	{ "[1e-400]", true },		/* underflow: jansson takes it */
	{ "[\"\\u0041\"]", true },
	{ "[\"\\u0000\"]", false },
	{ "[\"\\ud83d\\ude00\"]", true },
	{ "[\"\\ud83d\"]", false },
	{ "[\"\\ud83dx\"]", false },
	{ "[\"\\ude00\"]", false },
	{ "[\"\\ud83d\\u0041\"]", false },
	{ "[\"\\x\"]", false },
	{ "[\"\\u12\"]", false },
	{ "[\"\\u12g4\"]", false },
	{ "[\"a\tb\"]", false },	/* a raw control character */
	{ "[\"a\x7f\"]", true },
	{ "[\"\xc3\xa9\"]", true },
	{ "[\"\xc3\"]", false },
	{ "[\"\xc0\xaf\"]", false },	/* overlong */
	{ "[\"\xed\xa0\x80\"]", false },	/* a surrogate in UTF-8 */
	{ "[\"\xf4\x90\x80\x80\"]", false },	/* over U+10FFFF */
	{ "[\"\xf0\x9f\x98\x80\"]", true },
	{ "[\"unterminated]", false },
	{ "[\"\\", false },
	{ "{\"a\":1,\"a\":2}", true },
	{ "[1 2]", false },
	{ "[\xc3\xa9]", false },
};

/* Each case: jansson's verdict is the one in the table, and jscan's too. */
START_TEST(test_cases)
{
	size_t	i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(jansson_takes(cases[i].text,
		    strlen(cases[i].text)) == cases[i].taken,
		    "jansson and the table differ on %s", cases[i].text);
		ck_assert_msg(jscan_takes(cases[i].text,
		    strlen(cases[i].text)) == cases[i].taken,
		    "jscan %s %s", cases[i].taken ? "refuses" : "takes",
		    cases[i].text);
	}
}
END_TEST

/* A NUL byte anywhere, and depth at and over jansson's limit. */
START_TEST(test_nul_and_depth)
{
	char	*deep;
	size_t	 n;

	ck_assert(!jscan_takes("{\"a\":\"b\0\"}", 10));
	ck_assert(!jscan_takes("{}\0", 3));
	ck_assert(!jscan_takes("[1,\0]", 5));
	/* jansson skips a NUL after a number or literal; jscan does not. */
	ck_assert(jansson_takes("[1\0]", 4));
	ck_assert(!jscan_takes("[1\0]", 4));
	ck_assert(!jscan_takes("[true\0]", 7));
	for (n = JSCAN_MAX_DEPTH - 1; n <= JSCAN_MAX_DEPTH + 1; n++) {
		deep = malloc(2 * n);
		memset(deep, '[', n);
		memset(deep + n, ']', n);
		ck_assert_int_eq(jscan_takes(deep, 2 * n),
		    jansson_takes(deep, 2 * n));
		ck_assert_int_eq(jscan_takes(deep, 2 * n),
		    n <= JSCAN_MAX_DEPTH);
		free(deep);
	}
}
END_TEST

/* Members: absent, the last of a duplicated key, an escaped key, types. */
START_TEST(test_members)
{
	static const char	 text[] = "{ \"a\" : \"x\", \"b\":[1,{\"a\":2}],"
	    "\"a\":\"y\\n\\u00e9\\ud83d\\ude00\", \"k\\u0065y\": {\"in\": "
	    "\"}]\\\"\"}, \"n\": -1.5e3, \"t\": true, \"z\": null }";
	static const char *const keys[] = { "a", "b", "key", "n", "t", "z",
	    "missing", NULL };
	struct jscan_value	 root, v[7], inner[1];
	static const char *const in_keys[] = { "in", NULL };
	char			 out[64];

	ck_assert_int_eq(jscan_check(text, strlen(text), &root, NULL, 0), 0);
	ck_assert_int_eq(root.type, JSCAN_OBJECT);
	jscan_members(&root, keys, v);
	ck_assert_int_eq(v[0].type, JSCAN_STRING);
	ck_assert_uint_eq(jscan_decode(&v[0], out), 8);
	ck_assert_str_eq(out, "y\n\xc3\xa9\xf0\x9f\x98\x80");
	ck_assert_int_eq(v[1].type, JSCAN_ARRAY);
	ck_assert_int_eq((int)v[1].length, 11);
	ck_assert_int_eq(v[2].type, JSCAN_OBJECT);
	jscan_members(&v[2], in_keys, inner);
	jscan_decode(&inner[0], out);
	ck_assert_str_eq(out, "}]\"");
	ck_assert_int_eq(v[3].type, JSCAN_NUMBER);
	ck_assert_int_eq((int)v[3].length, 6);
	ck_assert_int_eq(v[4].type, JSCAN_TRUE);
	ck_assert_int_eq(v[5].type, JSCAN_NULL);
	ck_assert_int_eq(v[6].type, JSCAN_NONE);
	/* Members of something that is not an object: all absent. */
	jscan_members(&v[1], keys, v);
	ck_assert_int_eq(v[0].type, JSCAN_NONE);
}
END_TEST

/* A small PRNG, so a failure replays. */
static unsigned long	seed = 12345;

static unsigned long
next_random(void)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (seed >> 33);
}

/*
 * Thousands of mutations of real envelopes (a byte changed, inserted or
 * removed, a slice repeated): jscan takes exactly what jansson takes, and
 * finds the same members.
 */
START_TEST(test_mutations)
{
	static const char *const seeds[] = {
		"{\"hsp_envelope_version\":\"0.1\",\"message_id\":\"6c1e\\u00e9"
		"\",\"correlation_id\":null,\"sender_ai_id\":\"did:hsp:p\","
		"\"recipient_ai_id\":\"did:hsp:me\",\"timestamp_sent\":\"2026-"
		"12-02T18:00:00Z\",\"message_type\":\"HSP::TaskRequest_v0.1\","
		"\"qos_parameters\":{\"requires_ack\":true,\"priority\":\"high"
		"\"},\"payload\":{\"request_id\":\"r-1\",\"requester_ai_id\":"
		"\"did:hsp:p\",\"parameters\":{\"n\":12,\"x\":[1.5e3,-0,true,"
		"false,null,\"\\ud83d\\ude00\"]}}}",
		"[{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"},[[[]]],{},-12.5E-3,"
		"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
	};
	char	buffer[1024];
	size_t	i, s, length, at, n, mutations = 20000;
	bool	a, b;

	for (i = 0; i < mutations; i++) {
		s = i % (sizeof seeds / sizeof seeds[0]);
		length = strlen(seeds[s]);
		memcpy(buffer, seeds[s], length);
		for (n = 1 + next_random() % 3; n > 0; n--) {
			at = length == 0 ? 0 : next_random() % length;
			switch (next_random() % 4) {
			case 0:
				if (length > 0)
					buffer[at] = (char)next_random();
				break;
			case 1:
				if (length + 1 < sizeof buffer) {
					memmove(buffer + at + 1, buffer + at,
					    length - at);
					buffer[at] = "{}[]\",:\\u0e-+.9 \x80"
					    [next_random() % 18];
					length++;
				}
				break;
			case 2:
				if (length > 0) {
					memmove(buffer + at, buffer + at + 1,
					    length - at - 1);
					length--;
				}
				break;
			default:
				if (2 * length < sizeof buffer) {
					memcpy(buffer + length, buffer + at,
					    length - at);
					length += length - at;
				}
				break;
			}
		}
		a = jansson_takes(buffer, length);
		b = jscan_takes(buffer, length);
		/*
		 * jansson reads a NUL byte right after a number or a literal
		 * as nothing (its stream takes NUL for "buffer empty" after
		 * an unget): no JSON text holds a raw NUL, so jscan refuses
		 * it wherever it is.
		 */
		if (a && !b && memchr(buffer, '\0', length) != NULL)
			continue;
		if (a != b)
			ck_abort_msg("mutation %zu: jansson %s, jscan %s: %.*s",
			    i, a ? "takes" : "refuses",
			    b ? "takes" : "refuses", (int)length, buffer);
		if (a)
			assert_same_members(buffer, length);
	}
	for (s = 0; s < sizeof seeds / sizeof seeds[0]; s++)
		assert_same_members(seeds[s], strlen(seeds[s]));
}
END_TEST

/* The error names the problem and where it is. */
START_TEST(test_error_text)
{
	struct jscan_value	root;
	char			error[128];

	ck_assert_int_eq(jscan_check("{\"a\":01}", 8, &root, error,
	    sizeof error), -1);
	ck_assert_str_eq(error, "a number with a leading 0 at byte 6");
	ck_assert_int_eq(jscan_check("{\"a\":\"\\u0000\"}", 14, &root, error,
	    sizeof error), -1);
	ck_assert_str_eq(error, "\\u0000 in a string at byte 12");
	ck_assert_int_eq(root.type, JSCAN_NONE);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("jscan");
	TCase	*tc = tcase_create("jscan");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_cases);
	tcase_add_test(tc, test_nul_and_depth);
	tcase_add_test(tc, test_members);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_error_text);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
