/*
 * llm-provider.c -- what the three LLM APIs look like on the wire.
 *
 *   openai     POST {base}/chat/completions, Authorization: Bearer KEY;
 *              models at {base}/models (OpenAI, vLLM, llama.cpp server,
 *              LM Studio, Ollama's /v1)
 *   ollama     POST {base}/api/chat (native, stream off); models at
 *              {base}/api/tags
 *   anthropic  POST {base}/v1/messages, x-api-key and anthropic-version;
 *              models at {base}/v1/models
 *
 * Nothing here does I/O or logs; keys are put in headers and nowhere else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "hotreloadd.h"
#include "llm.h"

#define ANTHROPIC_VERSION	"2023-06-01"

/* The provider called NAME. */
int
llm_provider_parse(const char *name, enum llm_provider *provider)
{
	if (strcmp(name, "openai") == 0)
		*provider = LLM_PROVIDER_OPENAI;
	else if (strcmp(name, "ollama") == 0)
		*provider = LLM_PROVIDER_OLLAMA;
	else if (strcmp(name, "anthropic") == 0)
		*provider = LLM_PROVIDER_ANTHROPIC;
	else
		return (-1);
	return (0);
}

/* BASE with PATH appended, without doubling the slash. */
static char *
llm_join(const char *base, const char *path)
{
	size_t	length = strlen(base);

	while (length > 0 && base[length - 1] == '/')
		length--;
	return (str_printf("%.*s%s", (int)length, base, path));
}

/* The chat endpoint. */
char *
llm_provider_chat_url(enum llm_provider provider, const char *base)
{
	switch (provider) {
	case LLM_PROVIDER_OPENAI:
		return (llm_join(base, "/chat/completions"));
	case LLM_PROVIDER_OLLAMA:
		return (llm_join(base, "/api/chat"));
	case LLM_PROVIDER_ANTHROPIC:
		return (llm_join(base, "/v1/messages"));
	}
	return (NULL);
}

/* The model list, which the probe reads (never a billed generation). */
char *
llm_provider_models_url(enum llm_provider provider, const char *base)
{
	switch (provider) {
	case LLM_PROVIDER_OPENAI:
		return (llm_join(base, "/models"));
	case LLM_PROVIDER_OLLAMA:
		return (llm_join(base, "/api/tags"));
	case LLM_PROVIDER_ANTHROPIC:
		return (llm_join(base, "/v1/models"));
	}
	return (NULL);
}

/*
 * The JSON body of a chat request: MESSAGES is the conversation so far
 * ([{role, content}], the last one the user's), SYSTEM an optional prompt.
 */
char *
llm_provider_chat_body(enum llm_provider provider, const char *model,
    const char *system, json_t *messages)
{
	json_t	*body, *list;
	char	*text;

	if (provider == LLM_PROVIDER_ANTHROPIC) {
		/* The system prompt is a field of its own here. */
		body = json_pack("{s:s, s:i, s:O}", "model", model,
		    "max_tokens", LLM_MAX_TOKENS, "messages", messages);
		if (system != NULL)
			json_object_set_new(body, "system", json_string(system));
	} else {
		list = json_array();
		if (system != NULL)
			json_array_append_new(list, json_pack("{s:s, s:s}",
			    "role", "system", "content", system));
		json_array_extend(list, messages);
		body = json_pack("{s:s, s:o, s:b}", "model", model,
		    "messages", list, "stream", 0);
	}
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return (text);
}

/* The request headers, with the key where the provider expects it. */
struct curl_slist *
llm_provider_headers(enum llm_provider provider, const char *key,
    bool json_body)
{
	struct curl_slist	*headers = NULL;
	char			*line = NULL;

	if (json_body)
		headers = curl_slist_append(headers,
		    "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	/* No "Expect: 100-continue" round trip before the body. */
	headers = curl_slist_append(headers, "Expect:");
	if (provider == LLM_PROVIDER_ANTHROPIC) {
		headers = curl_slist_append(headers,
		    "anthropic-version: " ANTHROPIC_VERSION);
		if (key != NULL)
			line = str_printf("x-api-key: %s", key);
	} else if (key != NULL)
		line = str_printf("Authorization: Bearer %s", key);
	if (line != NULL) {
		headers = curl_slist_append(headers, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	return (headers);
}

/* Normalise a usage object to {prompt_tokens, completion_tokens, total}. */
static json_t *
llm_usage(json_t *prompt, json_t *completion)
{
	json_int_t	p, c;

	if (!json_is_integer(prompt) && !json_is_integer(completion))
		return (NULL);
	p = json_integer_value(prompt);
	c = json_integer_value(completion);
	return (json_pack("{s:I, s:I, s:I}", "prompt_tokens", p,
	    "completion_tokens", c, "total_tokens", p + c));
}

/*
 * Does the JSON text BODY hold at most MAX_VALUES values?  Counts the
 * openings of containers and the separators outside strings, an upper bound
 * of the values jansson would build, without building them: a parsed value
 * costs a hundred times the bytes of "{}," so the count, not the length,
 * bounds the memory of a parse.
 */
bool
llm_provider_json_within(const char *body, size_t length, size_t max_values)
{
	size_t	i, values = 1;
	bool	in_string = false;

	for (i = 0; i < length; i++) {
		if (in_string) {
			if (body[i] == '\\')
				i++;
			else if (body[i] == '"')
				in_string = false;
			continue;
		}
		switch (body[i]) {
		case '"':
			in_string = true;
			break;
		case '{':
		case '[':
		case ',':
		case ':':
			if (++values > max_values)
				return (false);
			break;
		}
	}
	return (true);
}

/*
 * The text blocks of an Anthropic answer joined, in one allocation (NULL
 * when there is none).
 */
static char *
llm_join_text_blocks(json_t *content)
{
	json_t	*part, *text;
	size_t	 i, total = 0, at = 0, length, blocks = 0;
	char	*joined;

	json_array_foreach(content, i, part) {
		if (json_is_string(text = json_object_get(part, "text"))) {
			total += json_string_length(text);
			blocks++;
		}
	}
	if (blocks == 0 || (joined = malloc(total + 1)) == NULL)
		return (NULL);
	json_array_foreach(content, i, part) {
		if (!json_is_string(text = json_object_get(part, "text")))
			continue;
		length = json_string_length(text);
		memcpy(joined + at, json_string_value(text), length);
		at += length;
	}
	joined[at] = '\0';
	return (joined);
}

/*
 * Parse a successful chat response into ANSWER.  -1 with WHY (to free) when
 * it does not have the provider's shape; -2 with WHY when it is beyond
 * LLM_MAX_RESPONSE_VALUES and was not parsed.
 */
int
llm_provider_parse_answer(enum llm_provider provider, const char *body,
    size_t length, struct llm_answer *answer, char **why)
{
	json_error_t	 error;
	json_t		*root, *text = NULL, *usage;
	char		*joined = NULL;

	memset(answer, 0, sizeof *answer);
	if (!llm_provider_json_within(body, length, LLM_MAX_RESPONSE_VALUES)) {
		*why = str_printf("the back end's answer has more than %d JSON "
		    "values; not parsed", LLM_MAX_RESPONSE_VALUES);
		return (-2);
	}
	if ((root = json_loadb(body, length, 0, &error)) == NULL) {
		/* jansson may quote half of a multibyte character. */
		*why = str_printf("the back end's answer is not JSON: %s",
		    error.text);
		str_utf8_repair(*why);
		return (-1);
	}
	switch (provider) {
	case LLM_PROVIDER_OPENAI:
		text = json_object_get(json_object_get(json_array_get(
		    json_object_get(root, "choices"), 0), "message"),
		    "content");
		usage = json_object_get(root, "usage");
		answer->usage = llm_usage(json_object_get(usage,
		    "prompt_tokens"), json_object_get(usage,
		    "completion_tokens"));
		break;
	case LLM_PROVIDER_OLLAMA:
		text = json_object_get(json_object_get(root, "message"),
		    "content");
		answer->usage = llm_usage(json_object_get(root,
		    "prompt_eval_count"), json_object_get(root, "eval_count"));
		break;
	case LLM_PROVIDER_ANTHROPIC:
		/* The text is split into content blocks; join the text ones. */
		joined = llm_join_text_blocks(json_object_get(root,
		    "content"));
		usage = json_object_get(root, "usage");
		answer->usage = llm_usage(json_object_get(usage,
		    "input_tokens"), json_object_get(usage, "output_tokens"));
		break;
	}
	if (joined != NULL)
		answer->text = joined;
	else if (json_is_string(text))
		answer->text = strdup(json_string_value(text));
	json_decref(root);
	if (answer->text == NULL) {
		llm_answer_clear(answer);
		*why = strdup("the back end's answer has no text");
		return (-1);
	}
	return (0);
}

/*
 * A short description of an error body ({"error":{"message":...}} and
 * similar shapes), or NULL.  Cut to keep replies and logs readable.
 */
char *
llm_provider_error_text(const char *body, size_t length)
{
	json_t		*root, *error, *message;
	char		*text = NULL;

	if (!llm_provider_json_within(body, length, LLM_MAX_RESPONSE_VALUES) ||
	    (root = json_loadb(body, length, 0, NULL)) == NULL)
		return (NULL);
	error = json_object_get(root, "error");
	message = json_is_string(error) ? error :
	    json_object_get(error, "message");
	/*
	 * Cutting at 200 bytes can split a multibyte character, and this
	 * text goes into JSON (task results, reload failures in status).
	 */
	if (json_is_string(message)) {
		text = str_printf("%.200s", json_string_value(message));
		str_utf8_repair(text);
	}
	json_decref(root);
	return (text);
}

/* Release an answer. */
void
llm_answer_clear(struct llm_answer *answer)
{
	free(answer->text);
	json_decref(answer->usage);
	memset(answer, 0, sizeof *answer);
}

/* URL with any user:password@ removed, for status and logs. */
char *
llm_url_without_credentials(const char *url)
{
	const char	*scheme_end, *at, *slash;

	if ((scheme_end = strstr(url, "://")) == NULL)
		return (strdup(url));
	scheme_end += 3;
	slash = strchr(scheme_end, '/');
	at = strchr(scheme_end, '@');
	if (at == NULL || (slash != NULL && at > slash))
		return (strdup(url));
	return (str_printf("%.*s%s", (int)(scheme_end - url), url, at + 1));
}
