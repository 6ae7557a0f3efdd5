/*
 * test_llm_provider.c -- unit tests of the LLM providers' wire formats
 * (src/llm-provider.c): endpoints, request bodies with the generation
 * parameters under each provider's names, headers, answers in each
 * provider's shape, and error texts that must stay valid UTF-8 because
 * they go into JSON.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <curl/curl.h>

#include "hotreloadd.h"
#include "config.h"
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

/* A back end of PROVIDER at BASE for model MODEL (no params set). */
static struct config_backend
backend(const char *base, const char *model, const char *deployment)
{
	struct config_backend	b;

	memset(&b, 0, sizeof b);
	b.name = "b";
	b.base_url = (char *)base;
	b.model = (char *)model;
	b.deployment = (char *)deployment;
	b.api_version = "2024-10-21";
	b.params.temperature = b.params.top_p = NAN;
	b.params.presence_penalty = b.params.frequency_penalty = NAN;
	b.params.max_tokens = b.params.seed = CONFIG_UNSET;
	return (b);
}

/* The chat and models URLs of PROVIDER for back end B. */
static void
check_urls(enum llm_provider provider, const struct config_backend *b,
    const char *chat, const char *models)
{
	char	*url;

	url = llm_provider_chat_url(provider, b);
	ck_assert_str_eq(url, chat);
	free(url);
	url = llm_provider_models_url(provider, b);
	ck_assert_str_eq(url, models);
	free(url);
}

START_TEST(endpoints_of_each_provider)
{
	struct config_backend	b;

	b = backend("http://h:1/v1/", "m", NULL);
	check_urls(LLM_PROVIDER_OPENAI, &b, "http://h:1/v1/chat/completions",
	    "http://h:1/v1/models");
	b = backend("http://h:1", "m", NULL);
	check_urls(LLM_PROVIDER_OLLAMA, &b, "http://h:1/api/chat",
	    "http://h:1/api/tags");
	b = backend("http://h:1//", "m", NULL);
	check_urls(LLM_PROVIDER_ANTHROPIC, &b, "http://h:1/v1/messages",
	    "http://h:1/v1/models");
	/* The deployment and model are percent-encoded into the path. */
	b = backend("https://r.openai.azure.com/", "gpt-4o", "prod 4o/eu");
	check_urls(LLM_PROVIDER_AZURE_OPENAI, &b,
	    "https://r.openai.azure.com/openai/deployments/prod%204o%2Feu/"
	    "chat/completions?api-version=2024-10-21",
	    "https://r.openai.azure.com/openai/models?api-version=2024-10-21");
	b = backend("https://generativelanguage.googleapis.com",
	    "gemini-2.0-flash", NULL);
	check_urls(LLM_PROVIDER_GOOGLE, &b,
	    "https://generativelanguage.googleapis.com/v1beta/models/"
	    "gemini-2.0-flash:generateContent",
	    "https://generativelanguage.googleapis.com/v1beta/models");
	b = backend("https://api.cohere.com", "command-r", NULL);
	check_urls(LLM_PROVIDER_COHERE, &b, "https://api.cohere.com/v2/chat",
	    "https://api.cohere.com/v1/models");
}
END_TEST

/* The body PROVIDER sends for CHAT equals the JSON text EXPECTED. */
static void
check_body(enum llm_provider provider, const struct llm_chat *chat,
    const char *expected)
{
	json_t	*want, *got;
	char	*text;

	text = llm_provider_chat_body(provider, chat);
	ck_assert_ptr_nonnull(text);
	want = json_loads(expected, 0, NULL);
	got = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(want);
	ck_assert_msg(json_equal(want, got), "provider %d sent %s, not %s",
	    (int)provider, text, expected);
	json_decref(want);
	json_decref(got);
	free(text);
}

/*
 * Every parameter under each provider's names (where it has one), the
 * system prompt where it puts it, the assistant's role as Gemini names it;
 * a temperature of 2 goes to Anthropic and Cohere as 1.
 */
START_TEST(bodies_with_every_parameter)
{
	static char		*stop[] = { "END" };
	struct config_backend	 b = backend("http://h", "m", NULL);
	struct llm_chat		 chat;
	json_t			*messages;

	b.params.temperature = 2;
	b.params.top_p = 0.5;
	b.params.max_tokens = 100;
	b.params.stop = stop;
	b.params.stop_count = 1;
	b.params.seed = 7;
	b.params.presence_penalty = 0.25;
	b.params.frequency_penalty = -0.25;
	messages = json_loads("[{\"role\":\"user\",\"content\":\"hi\"},"
	    "{\"role\":\"assistant\",\"content\":\"yo\"},"
	    "{\"role\":\"user\",\"content\":\"again\"}]", 0, NULL);
	chat.model = "m";
	chat.system = "S";
	chat.messages = messages;
	chat.params = &b.params;

#define CHAT_MESSAGES	"\"messages\":[{\"role\":\"system\",\"content\":" \
	"\"S\"},{\"role\":\"user\",\"content\":\"hi\"},{\"role\":" \
	"\"assistant\",\"content\":\"yo\"},{\"role\":\"user\",\"content\":" \
	"\"again\"}]"
	check_body(LLM_PROVIDER_OPENAI, &chat, "{\"model\":\"m\","
	    CHAT_MESSAGES ",\"stream\":false,\"temperature\":2.0,"
	    "\"top_p\":0.5,\"max_tokens\":100,\"stop\":[\"END\"],\"seed\":7,"
	    "\"presence_penalty\":0.25,\"frequency_penalty\":-0.25}");
	/* Azure: the deployment, in the URL, decides the model. */
	check_body(LLM_PROVIDER_AZURE_OPENAI, &chat, "{" CHAT_MESSAGES
	    ",\"stream\":false,\"temperature\":2.0,\"top_p\":0.5,"
	    "\"max_tokens\":100,\"stop\":[\"END\"],\"seed\":7,"
	    "\"presence_penalty\":0.25,\"frequency_penalty\":-0.25}");
	check_body(LLM_PROVIDER_OLLAMA, &chat, "{\"model\":\"m\","
	    CHAT_MESSAGES ",\"stream\":false,\"options\":{\"temperature\":2.0,"
	    "\"top_p\":0.5,\"num_predict\":100,\"stop\":[\"END\"],\"seed\":7,"
	    "\"presence_penalty\":0.25,\"frequency_penalty\":-0.25}}");
	check_body(LLM_PROVIDER_COHERE, &chat, "{\"model\":\"m\","
	    CHAT_MESSAGES ",\"stream\":false,\"temperature\":1.0,\"p\":0.5,"
	    "\"max_tokens\":100,\"stop_sequences\":[\"END\"],\"seed\":7,"
	    "\"presence_penalty\":0.25,\"frequency_penalty\":-0.25}");
	/* Anthropic has no seed or penalties. */
	check_body(LLM_PROVIDER_ANTHROPIC, &chat, "{\"model\":\"m\","
	    "\"system\":\"S\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"},{\"role\":"
	    "\"user\",\"content\":\"again\"}],\"max_tokens\":100,"
	    "\"temperature\":1.0,\"top_p\":0.5,\"stop_sequences\":[\"END\"]}");
	check_body(LLM_PROVIDER_GOOGLE, &chat, "{\"contents\":[{\"role\":"
	    "\"user\",\"parts\":[{\"text\":\"hi\"}]},{\"role\":\"model\","
	    "\"parts\":[{\"text\":\"yo\"}]},{\"role\":\"user\",\"parts\":"
	    "[{\"text\":\"again\"}]}],\"systemInstruction\":{\"parts\":"
	    "[{\"text\":\"S\"}]},\"generationConfig\":{\"temperature\":2.0,"
	    "\"topP\":0.5,\"maxOutputTokens\":100,\"stopSequences\":[\"END\"],"
	    "\"seed\":7,\"presencePenalty\":0.25,\"frequencyPenalty\":-0.25}}");
#undef CHAT_MESSAGES
	json_decref(messages);
}
END_TEST

/*
 * Nothing set, nothing sent: no options or generationConfig object, and
 * Anthropic's required max_tokens is LLM_MAX_TOKENS.
 */
START_TEST(bodies_without_parameters)
{
	struct config_backend	 b = backend("http://h", "m", NULL);
	struct llm_chat		 chat;
	json_t			*messages;

	messages = json_loads("[{\"role\":\"user\",\"content\":\"hi\"}]", 0,
	    NULL);
	chat.model = "m";
	chat.system = NULL;
	chat.messages = messages;
	chat.params = &b.params;
	check_body(LLM_PROVIDER_OLLAMA, &chat, "{\"model\":\"m\",\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":false}");
	check_body(LLM_PROVIDER_ANTHROPIC, &chat, "{\"model\":\"m\","
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
	    "\"max_tokens\":1024}");
	check_body(LLM_PROVIDER_GOOGLE, &chat, "{\"contents\":[{\"role\":"
	    "\"user\",\"parts\":[{\"text\":\"hi\"}]}]}");
	json_decref(messages);
}
END_TEST

/* The lines of LIST joined with "|". */
static char *
header_lines(struct curl_slist *list)
{
	char	*text = strdup(""), *more;

	for (; list != NULL; list = list->next) {
		more = str_printf("%s%s%s", text, *text != '\0' ? "|" : "",
		    list->data);
		free(text);
		text = more;
	}
	return (text);
}

/*
 * The key in the provider's header, then the extra headers in order; an
 * extra anthropic-version replaces the provider's own.
 */
START_TEST(headers_of_each_provider)
{
	static const struct {
		enum llm_provider	 provider;
		const char		*expected;
	} cases[] = {
		{ LLM_PROVIDER_OPENAI, "Authorization: Bearer K" },
		{ LLM_PROVIDER_OLLAMA, "Authorization: Bearer K" },
		{ LLM_PROVIDER_ANTHROPIC,
		    "anthropic-version: 2023-06-01|x-api-key: K" },
		{ LLM_PROVIDER_AZURE_OPENAI, "api-key: K" },
		{ LLM_PROVIDER_GOOGLE, "x-goog-api-key: K" },
		{ LLM_PROVIDER_COHERE, "Authorization: Bearer K" },
	};
	struct llm_header	 extra[] = {
		{ "X-Title", "app" }, { "Anthropic-Version", "2025-01-01" }
	};
	struct curl_slist	*list;
	char			*text, *want;
	size_t			 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		list = llm_provider_headers(cases[i].provider, "K", true,
		    NULL, 0);
		text = header_lines(list);
		want = str_printf("Content-Type: application/json|Accept: "
		    "application/json|Expect:|%s", cases[i].expected);
		ck_assert_str_eq(text, want);
		free(want);
		free(text);
		curl_slist_free_all(list);
	}
	list = llm_provider_headers(LLM_PROVIDER_ANTHROPIC, NULL, false,
	    extra, 2);
	text = header_lines(list);
	ck_assert_str_eq(text, "Accept: application/json|Expect:|"
	    "X-Title: app|Anthropic-Version: 2025-01-01");
	free(text);
	curl_slist_free_all(list);
	ck_assert_str_eq(llm_provider_key_header(LLM_PROVIDER_GOOGLE),
	    "x-goog-api-key");
}
END_TEST

START_TEST(answers_in_each_shape)
{
	static const struct {
		enum llm_provider	 provider;
		const char		*body;
		int			 prompt, completion;
	} cases[] = {
		{ LLM_PROVIDER_OPENAI, "{\"choices\":[{\"message\":"
		    "{\"role\":\"assistant\",\"content\":\"hi\"}}],\"usage\":"
		    "{\"prompt_tokens\":3,\"completion_tokens\":4}}", 3, 4 },
		{ LLM_PROVIDER_AZURE_OPENAI, "{\"choices\":[{\"message\":"
		    "{\"role\":\"assistant\",\"content\":\"hi\"}}]}", -1, -1 },
		{ LLM_PROVIDER_OLLAMA, "{\"message\":{\"role\":\"assistant\","
		    "\"content\":\"hi\"},\"done\":true,\"prompt_eval_count\":3,"
		    "\"eval_count\":4}", 3, 4 },
		{ LLM_PROVIDER_ANTHROPIC, "{\"content\":[{\"type\":\"text\","
		    "\"text\":\"hi\"}],\"usage\":{\"input_tokens\":3,"
		    "\"output_tokens\":4}}", 3, 4 },
		{ LLM_PROVIDER_GOOGLE, "{\"candidates\":[{\"content\":"
		    "{\"role\":\"model\",\"parts\":[{\"text\":\"h\"},"
		    "{\"text\":\"i\"}]},"
		    "\"finishReason\":\"STOP\"}],\"usageMetadata\":"
		    "{\"promptTokenCount\":3,\"candidatesTokenCount\":4,"
		    "\"totalTokenCount\":7}}", 3, 4 },
		{ LLM_PROVIDER_COHERE, "{\"id\":\"x\",\"finish_reason\":"
		    "\"COMPLETE\",\"message\":{\"role\":\"assistant\","
		    "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},"
		    "\"usage\":{\"billed_units\":{\"input_tokens\":1,"
		    "\"output_tokens\":2},\"tokens\":{\"input_tokens\":3,"
		    "\"output_tokens\":4}}}", 3, 4 },
		/* Only billed_units: that is what there is. */
		{ LLM_PROVIDER_COHERE, "{\"message\":{\"content\":[{\"type\":"
		    "\"text\",\"text\":\"hi\"}]},\"usage\":{\"billed_units\":"
		    "{\"input_tokens\":3,\"output_tokens\":4}}}", 3, 4 },
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
		if (cases[i].prompt == -1)
			ck_assert_ptr_null(answer.usage);
		else {
			ck_assert_int_eq(json_integer_value(json_object_get(
			    answer.usage, "prompt_tokens")), cases[i].prompt);
			ck_assert_int_eq(json_integer_value(json_object_get(
			    answer.usage, "completion_tokens")),
			    cases[i].completion);
			ck_assert_int_eq(json_integer_value(json_object_get(
			    answer.usage, "total_tokens")),
			    cases[i].prompt + cases[i].completion);
		}
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

	/* Cohere's {"message": "..."}. */
	text = llm_provider_error_text("{\"id\":\"1\",\"message\":\"invalid "
	    "api token\"}", 40);
	ck_assert_str_eq(text, "invalid api token");
	free(text);
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

	tcase_add_test(wire, endpoints_of_each_provider);
	tcase_add_test(wire, bodies_with_every_parameter);
	tcase_add_test(wire, bodies_without_parameters);
	tcase_add_test(wire, headers_of_each_provider);
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
