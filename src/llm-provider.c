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

static json_t	*llm_chat_body_messages(const char *, const char *,
		    json_t *);
static json_t	*llm_chat_body_anthropic(const char *, const char *,
		    json_t *);
static char	*llm_key_bearer(const char *);
static char	*llm_key_anthropic(const char *);
static void	 llm_answer_openai(json_t *, struct llm_answer *);
static void	 llm_answer_ollama(json_t *, struct llm_answer *);
static void	 llm_answer_anthropic(json_t *, struct llm_answer *);

/*
 * What one provider's API looks like: one row per provider (as OpenSMTPD
 * keeps its table back ends), so a provider is added here, not in a switch
 * in every function.
 */
struct llm_provider_ops {
	const char	*name;
	const char	*chat_path;
	const char	*models_path;
	/* The body of a chat request (see llm_provider_chat_body). */
	json_t		*(*chat_body)(const char *model, const char *system,
			    json_t *messages);
	/* The header line that carries KEY (to free). */
	char		*(*key_header)(const char *key);
	/* A header line of the provider's own, or NULL. */
	const char	*extra_header;
	/* The text and usage of a successful answer ROOT into ANSWER. */
	void		 (*answer)(json_t *root, struct llm_answer *answer);
};

static const struct llm_provider_ops llm_providers[] = {
	[LLM_PROVIDER_OPENAI] = {
		.name = "openai",
		.chat_path = "/chat/completions",
		.models_path = "/models",
		.chat_body = llm_chat_body_messages,
		.key_header = llm_key_bearer,
		.answer = llm_answer_openai,
	},
	[LLM_PROVIDER_OLLAMA] = {
		.name = "ollama",
		.chat_path = "/api/chat",
		.models_path = "/api/tags",
		.chat_body = llm_chat_body_messages,
		.key_header = llm_key_bearer,
		.answer = llm_answer_ollama,
	},
	[LLM_PROVIDER_ANTHROPIC] = {
		.name = "anthropic",
		.chat_path = "/v1/messages",
		.models_path = "/v1/models",
		.chat_body = llm_chat_body_anthropic,
		.key_header = llm_key_anthropic,
		.extra_header = "anthropic-version: " ANTHROPIC_VERSION,
		.answer = llm_answer_anthropic,
	},
};
#define LLM_PROVIDERS	(sizeof llm_providers / sizeof llm_providers[0])

/* The provider called NAME. */
int
llm_provider_parse(const char *name, enum llm_provider *provider)
{
	size_t	i;

	for (i = 0; i < LLM_PROVIDERS; i++) {
		if (strcmp(name, llm_providers[i].name) == 0) {
			*provider = (enum llm_provider)i;
			return (0);
		}
	}
	return (-1);
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
	return (llm_join(base, llm_providers[provider].chat_path));
}

/* The model list, which the probe reads (never a billed generation). */
char *
llm_provider_models_url(enum llm_provider provider, const char *base)
{
	return (llm_join(base, llm_providers[provider].models_path));
}

/*
 * The JSON body of a chat request: MESSAGES is the conversation so far
 * ([{role, content}], the last one the user's), SYSTEM an optional prompt.
 */
char *
llm_provider_chat_body(enum llm_provider provider, const char *model,
    const char *system, json_t *messages)
{
	json_t	*body;
	char	*text;

	body = llm_providers[provider].chat_body(model, system, messages);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return (text);
}

/* OpenAI's and Ollama's body: the system prompt is the first message. */
static json_t *
llm_chat_body_messages(const char *model, const char *system,
    json_t *messages)
{
	json_t	*list = json_array();

	if (system != NULL)
		json_array_append_new(list, json_pack("{s:s, s:s}",
		    "role", "system", "content", system));
	json_array_extend(list, messages);
	return (json_pack("{s:s, s:o, s:b}", "model", model,
	    "messages", list, "stream", 0));
}

/* Anthropic's body: the system prompt is a field of its own. */
static json_t *
llm_chat_body_anthropic(const char *model, const char *system,
    json_t *messages)
{
	json_t	*body;

	body = json_pack("{s:s, s:i, s:O}", "model", model,
	    "max_tokens", LLM_MAX_TOKENS, "messages", messages);
	if (system != NULL)
		json_object_set_new(body, "system", json_string(system));
	return (body);
}

/* "Authorization: Bearer KEY". */
static char *
llm_key_bearer(const char *key)
{
	return (str_printf("Authorization: Bearer %s", key));
}

/* "x-api-key: KEY". */
static char *
llm_key_anthropic(const char *key)
{
	return (str_printf("x-api-key: %s", key));
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
	if (llm_providers[provider].extra_header != NULL)
		headers = curl_slist_append(headers,
		    llm_providers[provider].extra_header);
	if (key != NULL)
		line = llm_providers[provider].key_header(key);
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

/* The text of string TEXT, copied, or NULL. */
static char *
llm_string_copy(json_t *text)
{
	return (json_is_string(text) ? strdup(json_string_value(text)) : NULL);
}

/* OpenAI: choices[0].message.content; usage.{prompt,completion}_tokens. */
static void
llm_answer_openai(json_t *root, struct llm_answer *answer)
{
	json_t	*usage = json_object_get(root, "usage");

	answer->text = llm_string_copy(json_object_get(json_object_get(
	    json_array_get(json_object_get(root, "choices"), 0), "message"),
	    "content"));
	answer->usage = llm_usage(json_object_get(usage, "prompt_tokens"),
	    json_object_get(usage, "completion_tokens"));
}

/* Ollama: message.content; prompt_eval_count and eval_count. */
static void
llm_answer_ollama(json_t *root, struct llm_answer *answer)
{
	answer->text = llm_string_copy(json_object_get(json_object_get(root,
	    "message"), "content"));
	answer->usage = llm_usage(json_object_get(root, "prompt_eval_count"),
	    json_object_get(root, "eval_count"));
}

/* Anthropic: the text content blocks joined; usage.{input,output}_tokens. */
static void
llm_answer_anthropic(json_t *root, struct llm_answer *answer)
{
	json_t	*usage = json_object_get(root, "usage");

	answer->text = llm_join_text_blocks(json_object_get(root, "content"));
	answer->usage = llm_usage(json_object_get(usage, "input_tokens"),
	    json_object_get(usage, "output_tokens"));
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
	json_t		*root;

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
	llm_providers[provider].answer(root, answer);
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
