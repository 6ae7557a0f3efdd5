/*
 * test_llm_provider.c -- unit tests of the LLM providers' wire formats
 * (src/llm-provider.c): endpoints, answers in each provider's shape, and
 * error texts that must stay valid UTF-8 because they go into JSON.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hotreloadd.h"
#include "llm.h"

/* Is TEXT something jansson takes as a JSON string? */
static int
json_accepts(const char *text)
{
	json_t	*s = json_string(text);
	int	 ok = s != NULL;

	json_decref(s);
	return (ok);
}

START_TEST(endpoints_join_without_double_slash)
{
	char	*url;

	url = llm_provider_chat_url(LLM_PROVIDER_OPENAI, "http://h:1/v1/");
	ck_assert_str_eq(url, "http://h:1/v1/chat/completions");
	free(url);
	url = llm_provider_chat_url(LLM_PROVIDER_OLLAMA, "http://h:1");
	ck_assert_str_eq(url, "http://h:1/api/chat");
	free(url);
	url = llm_provider_models_url(LLM_PROVIDER_ANTHROPIC, "http://h:1//");
	ck_assert_str_eq(url, "http://h:1/v1/models");
	free(url);
}
END_TEST

START_TEST(answers_in_each_shape)
{
	static const struct {
		enum llm_provider	 provider;
		const char		*body;
	} cases[] = {
		{ LLM_PROVIDER_OPENAI, "{\"choices\":[{\"message\":"
		    "{\"role\":\"assistant\",\"content\":\"hi\"}}]}" },
		{ LLM_PROVIDER_OLLAMA, "{\"message\":{\"role\":\"assistant\","
		    "\"content\":\"hi\"},\"done\":true}" },
		{ LLM_PROVIDER_ANTHROPIC, "{\"content\":[{\"type\":\"text\","
		    "\"text\":\"hi\"}]}" },
	};
	struct llm_answer	 answer;
	char			*why;
	size_t			 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why = NULL;
		ck_assert_int_eq(llm_provider_parse_answer(cases[i].provider,
		    cases[i].body, strlen(cases[i].body), &answer, &why), 0);
		ck_assert_ptr_null(why);
		ck_assert_str_eq(answer.text, "hi");
		llm_answer_clear(&answer);
	}
}
END_TEST

/*
 * A back end's error message is cut at 200 bytes; a cut through a
 * multibyte character must not leave half of it behind (jansson refuses
 * such a string, which would drop a task result or a slot of status).
 */
START_TEST(error_text_cut_stays_utf8)
{
	char	 body[512], *text;
	size_t	 n;

	/* 199 ASCII bytes, then "é" (2 bytes): the cut falls inside it. */
	n = (size_t)snprintf(body, sizeof body, "{\"error\":{\"message\":\"");
	memset(body + n, 'x', 199);
	n += 199;
	n += (size_t)snprintf(body + n, sizeof body - n, "\xc3\xa9 tail\"}}");
	text = llm_provider_error_text(body, n);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(strlen(text), 200);
	ck_assert_int_eq(text[199], '?');
	ck_assert(json_accepts(text));
	free(text);

	/* The plain-string shape ({"error": "..."}) too. */
	text = llm_provider_error_text("{\"error\":\"no such model\"}", 25);
	ck_assert_str_eq(text, "no such model");
	free(text);
	ck_assert_ptr_null(llm_provider_error_text("<html>", 6));
}
END_TEST

/* An answer that is not JSON: the reason names it, in valid UTF-8. */
START_TEST(answer_not_json)
{
	struct llm_answer	 answer;
	char			*why = NULL;
	const char		 body[] = "{\"choices\": \xc3";

	ck_assert_int_eq(llm_provider_parse_answer(LLM_PROVIDER_OPENAI, body,
	    sizeof body - 1, &answer, &why), -1);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "not JSON"));
	ck_assert(json_accepts(why));
	free(why);
}
END_TEST

/*
 * Values are counted before parsing: separators inside strings (escaped
 * quotes included) do not count, and an answer over the bound is refused
 * with -2 without being parsed.
 */
START_TEST(answer_values_bounded)
{
	struct llm_answer	 answer;
	char			*why = NULL, *body;
	size_t			 i, n;

	ck_assert(llm_provider_json_within("{\"a\":[1,2]}", 11, 5));
	ck_assert(!llm_provider_json_within("{\"a\":[1,2]}", 11, 4));
	ck_assert(llm_provider_json_within("\"{[,:\\\",,\"", 11, 1));

	n = 3 * LLM_MAX_RESPONSE_VALUES + 64;
	body = malloc(n);
	ck_assert_ptr_nonnull(body);
	i = (size_t)snprintf(body, n, "{\"choices\":[{\"message\":{"
	    "\"content\":\"hi\"}}],\"x\":[");
	while (i < n - 4) {
		memcpy(body + i, "{},", 3);
		i += 3;
	}
	memcpy(body + i - 1, "]}", 2);
	i++;
	ck_assert_int_eq(llm_provider_parse_answer(LLM_PROVIDER_OPENAI, body,
	    i, &answer, &why), -2);
	ck_assert_ptr_nonnull(strstr(why, "JSON values"));
	ck_assert_ptr_null(llm_provider_error_text(body, i));
	free(why);
	free(body);
}
END_TEST

/* Anthropic text blocks are joined; an answer without one has no text. */
START_TEST(anthropic_blocks_joined)
{
	struct llm_answer	 answer;
	char			*why = NULL;
	const char		 body[] = "{\"content\":[{\"type\":\"text\","
	    "\"text\":\"one \"},{\"type\":\"tool_use\"},{\"type\":"
	    "\"text\",\"text\":\"two\"}]}";
	const char		 none[] = "{\"content\":[{\"type\":"
	    "\"tool_use\"}]}";

	ck_assert_int_eq(llm_provider_parse_answer(LLM_PROVIDER_ANTHROPIC,
	    body, sizeof body - 1, &answer, &why), 0);
	ck_assert_str_eq(answer.text, "one two");
	llm_answer_clear(&answer);
	ck_assert_int_eq(llm_provider_parse_answer(LLM_PROVIDER_ANTHROPIC,
	    none, sizeof none - 1, &answer, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "no text"));
	free(why);
}
END_TEST

static Suite *
llm_provider_suite(void)
{
	Suite	*s = suite_create("llm-provider");
	TCase	*wire = tcase_create("wire");

	tcase_add_test(wire, endpoints_join_without_double_slash);
	tcase_add_test(wire, answers_in_each_shape);
	tcase_add_test(wire, error_text_cut_stays_utf8);
	tcase_add_test(wire, answer_not_json);
	tcase_add_test(wire, answer_values_bounded);
	tcase_add_test(wire, anthropic_blocks_joined);
	suite_add_tcase(s, wire);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(llm_provider_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
