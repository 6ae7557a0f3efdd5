/*
 * llm-provider.c -- what the LLM APIs look like on the wire.
 *
 *   openai        POST {base}/chat/completions, Authorization: Bearer KEY;
 *                 models at {base}/models (OpenAI, vLLM, llama.cpp server,
 *                 LM Studio, Ollama's /v1, Hugging Face, ...)
 *   ollama        POST {base}/api/chat (native, stream off); models at
 *                 {base}/api/tags
 *   anthropic     POST {base}/v1/messages, x-api-key and anthropic-version;
 *                 models at {base}/v1/models
 *   azure_openai  POST {base}/openai/deployments/{deployment}/chat/
 *                 completions?api-version=V, api-key; models at
 *                 {base}/openai/models?api-version=V
 *   google        POST {base}/v1beta/models/{model}:generateContent,
 *                 x-goog-api-key; models at {base}/v1beta/models
 *   cohere        POST {base}/v2/chat, Authorization: Bearer KEY; models
 *                 at {base}/v1/models
 *
 * Each provider is one row of llm_providers[]: its paths, where its key
 * goes, the names it gives the generation parameters, how its body holds
 * the conversation, and how to read its answer.
 * Nothing here does I/O or logs; keys and secret headers are put in
 * headers and nowhere else.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "hotreloadd.h"
#include "config.h"
#include "llm.h"

#define ANTHROPIC_VERSION	"2023-06-01"

/*
 * The names a provider gives the generation parameters
 * (llm.backends[].params); NULL: it has none by that meaning, and the
 * parameter is not sent.
 */
struct llm_param_names {
	const char	*in;		/* the member holding them, or NULL */
	const char	*temperature;
	const char	*top_p;
	const char	*max_tokens;
	const char	*stop;
	const char	*seed;
	const char	*presence_penalty;
	const char	*frequency_penalty;
};

static json_t	*llm_chat_body_messages(const struct llm_chat *);
static json_t	*llm_chat_body_anthropic(const struct llm_chat *);
static json_t	*llm_chat_body_google(const struct llm_chat *);
static void	 llm_answer_openai(json_t *, struct llm_answer *);
static void	 llm_answer_ollama(json_t *, struct llm_answer *);
static void	 llm_answer_anthropic(json_t *, struct llm_answer *);
static void	 llm_answer_google(json_t *, struct llm_answer *);
static void	 llm_answer_cohere(json_t *, struct llm_answer *);

static const struct llm_param_names llm_names_openai = {
	NULL, "temperature", "top_p", "max_tokens", "stop", "seed",
	"presence_penalty", "frequency_penalty"
};
static const struct llm_param_names llm_names_ollama = {
	"options", "temperature", "top_p", "num_predict", "stop", "seed",
	"presence_penalty", "frequency_penalty"
};
static const struct llm_param_names llm_names_anthropic = {
	NULL, "temperature", "top_p", "max_tokens", "stop_sequences", NULL,
	NULL, NULL
};
static const struct llm_param_names llm_names_google = {
	"generationConfig", "temperature", "topP", "maxOutputTokens",
	"stopSequences", "seed", "presencePenalty", "frequencyPenalty"
};
static const struct llm_param_names llm_names_cohere = {
	NULL, "temperature", "p", "max_tokens", "stop_sequences", "seed",
	"presence_penalty", "frequency_penalty"
};

/*
 * What one provider's API looks like: one row per provider (as OpenSMTPD
 * keeps its table back ends), so a provider is added here, not in a switch
 * in every function.
 */
struct llm_provider_ops {
	const char			*name;
	/* Under base_url; {model}, {deployment} and {api_version} are
	 * replaced by the back end's, percent-encoded. */
	const char			*chat_path;
	const char			*models_path;
	/* The body of a chat request, without its parameters. */
	json_t				*(*chat_body)(const struct llm_chat *);
	/* Does the body name the model (not when the URL does)? */
	bool				 model_in_body;
	const struct llm_param_names	*params;
	/* The largest temperature it takes; more is sent as this. */
	double				 max_temperature;
	/* The header that carries the key: "NAME: PREFIXKEY". */
	const char			*key_header;
	const char			*key_prefix;
	/* A header of the provider's own (a back end's may replace it). */
	const char			*own_header;
	const char			*own_value;
	/* The text and usage of a successful answer ROOT into ANSWER. */
	void				 (*answer)(json_t *root,
					    struct llm_answer *answer);
};

static const struct llm_provider_ops llm_providers[] = {
	[LLM_PROVIDER_OPENAI] = {
		.name = "openai",
		.chat_path = "/chat/completions",
		.models_path = "/models",
		.chat_body = llm_chat_body_messages,
		.model_in_body = true,
		.params = &llm_names_openai,
		.max_temperature = 2,
		.key_header = "Authorization",
		.key_prefix = "Bearer ",
		.answer = llm_answer_openai,
	},
	[LLM_PROVIDER_OLLAMA] = {
		.name = "ollama",
		.chat_path = "/api/chat",
		.models_path = "/api/tags",
		.chat_body = llm_chat_body_messages,
		.model_in_body = true,
		.params = &llm_names_ollama,
		.max_temperature = 2,
		.key_header = "Authorization",
		.key_prefix = "Bearer ",
		.answer = llm_answer_ollama,
	},
	[LLM_PROVIDER_ANTHROPIC] = {
		.name = "anthropic",
		.chat_path = "/v1/messages",
		.models_path = "/v1/models",
		.chat_body = llm_chat_body_anthropic,
		.model_in_body = true,
		.params = &llm_names_anthropic,
		.max_temperature = 1,
		.key_header = "x-api-key",
		.key_prefix = "",
		.own_header = "anthropic-version",
		.own_value = ANTHROPIC_VERSION,
		.answer = llm_answer_anthropic,
	},
	[LLM_PROVIDER_AZURE_OPENAI] = {
		.name = "azure_openai",
		.chat_path = "/openai/deployments/{deployment}/chat/completions"
		    "?api-version={api_version}",
		.models_path = "/openai/models?api-version={api_version}",
		.chat_body = llm_chat_body_messages,
		.model_in_body = false,		/* the deployment decides */
		.params = &llm_names_openai,
		.max_temperature = 2,
		.key_header = "api-key",
		.key_prefix = "",
		.answer = llm_answer_openai,
	},
	[LLM_PROVIDER_GOOGLE] = {
		.name = "google",
		.chat_path = "/v1beta/models/{model}:generateContent",
		.models_path = "/v1beta/models",
		.chat_body = llm_chat_body_google,
		.model_in_body = false,		/* in the path */
		.params = &llm_names_google,
		.max_temperature = 2,
		.key_header = "x-goog-api-key",
		.key_prefix = "",
		.answer = llm_answer_google,
	},
	[LLM_PROVIDER_COHERE] = {
		.name = "cohere",
		.chat_path = "/v2/chat",
		.models_path = "/v1/models",
		.chat_body = llm_chat_body_messages,
		.model_in_body = true,
		.params = &llm_names_cohere,
		.max_temperature = 1,
		.key_header = "Authorization",
		.key_prefix = "Bearer ",
		.answer = llm_answer_cohere,
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

/* The name of the header that carries PROVIDER's key. */
const char *
llm_provider_key_header(enum llm_provider provider)
{
	return (llm_providers[provider].key_header);
}

/* Append S to F percent-encoded: all but RFC 3986's unreserved bytes. */
static void
llm_put_encoded(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL)
			fputc(*s, f);
		else
			fprintf(f, "%%%02X", (unsigned char)*s);
	}
}

/*
 * BASE (without its trailing slashes) and PATH, whose {model},
 * {deployment} and {api_version} are B's, percent-encoded.
 */
static char *
llm_url(const char *path, const struct config_backend *b)
{
	static const char	*const names[] = {
		"{model}", "{deployment}", "{api_version}"
	};
	const char		*values[] = {
		b->model, b->deployment, b->api_version
	};
	const char		*p;
	size_t			 length = strlen(b->base_url), i, size = 0;
	char			*url = NULL;
	FILE			*f;

	while (length > 0 && b->base_url[length - 1] == '/')
		length--;
	if ((f = open_memstream(&url, &size)) == NULL)
		return (NULL);
	fwrite(b->base_url, 1, length, f);
	for (p = path; *p != '\0';) {
		for (i = 0; i < sizeof names / sizeof names[0]; i++) {
			if (strncmp(p, names[i], strlen(names[i])) == 0)
				break;
		}
		if (i == sizeof names / sizeof names[0]) {
			fputc(*p++, f);
			continue;
		}
		llm_put_encoded(f, values[i] != NULL ? values[i] : "");
		p += strlen(names[i]);
	}
	if (fclose(f) != 0) {
		free(url);
		return (NULL);
	}
	return (url);
}

/* The chat endpoint of back end B. */
char *
llm_provider_chat_url(enum llm_provider provider,
    const struct config_backend *b)
{
	return (llm_url(llm_providers[provider].chat_path, b));
}

/* The model list, which the probe reads (never a billed generation). */
char *
llm_provider_models_url(enum llm_provider provider,
    const struct config_backend *b)
{
	return (llm_url(llm_providers[provider].models_path, b));
}

/*
 * Put the parameters P that are set into OBJECT, under the names NAMES
 * gives them (in a member of their own when NAMES says so); a temperature
 * above MAX_TEMPERATURE is sent as that.
 */
static void
llm_params_put(json_t *object, const struct llm_param_names *names,
    const struct config_params *p, double max_temperature)
{
	json_t	*to = object, *stop;
	size_t	 i;

	if (names->in != NULL)
		to = json_object();
	if (names->temperature != NULL && !isnan(p->temperature))
		json_object_set_new(to, names->temperature, json_real(
		    p->temperature > max_temperature ? max_temperature :
		    p->temperature));
	if (names->top_p != NULL && !isnan(p->top_p))
		json_object_set_new(to, names->top_p, json_real(p->top_p));
	if (names->max_tokens != NULL && p->max_tokens != CONFIG_UNSET)
		json_object_set_new(to, names->max_tokens,
		    json_integer(p->max_tokens));
	if (names->stop != NULL && p->stop_count > 0) {
		stop = json_array();
		for (i = 0; i < p->stop_count; i++)
			json_array_append_new(stop, json_string(p->stop[i]));
		json_object_set_new(to, names->stop, stop);
	}
	if (names->seed != NULL && p->seed != CONFIG_UNSET)
		json_object_set_new(to, names->seed, json_integer(p->seed));
	if (names->presence_penalty != NULL && !isnan(p->presence_penalty))
		json_object_set_new(to, names->presence_penalty,
		    json_real(p->presence_penalty));
	if (names->frequency_penalty != NULL && !isnan(p->frequency_penalty))
		json_object_set_new(to, names->frequency_penalty,
		    json_real(p->frequency_penalty));
	if (names->in == NULL)
		return;
	if (json_object_size(to) > 0)
		json_object_set_new(object, names->in, to);
	else
		json_decref(to);
}

/*
 * The JSON body of a chat request: the conversation in the provider's
 * shape, the model where the body names it, then the parameters.
 */
char *
llm_provider_chat_body(enum llm_provider provider, const struct llm_chat *chat)
{
	const struct llm_provider_ops	*ops = &llm_providers[provider];
	json_t				*body;
	char				*text;

	body = ops->chat_body(chat);
	if (ops->model_in_body)
		json_object_set_new(body, "model", json_string(chat->model));
	llm_params_put(body, ops->params, chat->params, ops->max_temperature);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return (text);
}

/*
 * The messages shape (OpenAI, Azure, Ollama, Cohere): the system prompt
 * is the first message; no streaming.
 */
static json_t *
llm_chat_body_messages(const struct llm_chat *chat)
{
	json_t	*list = json_array();

	if (chat->system != NULL)
		json_array_append_new(list, json_pack("{s:s, s:s}",
		    "role", "system", "content", chat->system));
	json_array_extend(list, chat->messages);
	return (json_pack("{s:o, s:b}", "messages", list, "stream", 0));
}

/*
 * Anthropic's body: the system prompt is a member of its own, and
 * max_tokens is required (LLM_MAX_TOKENS unless the parameters set it).
 */
static json_t *
llm_chat_body_anthropic(const struct llm_chat *chat)
{
	json_t	*body;

	body = json_pack("{s:i, s:O}", "max_tokens", LLM_MAX_TOKENS,
	    "messages", chat->messages);
	if (chat->system != NULL)
		json_object_set_new(body, "system", json_string(chat->system));
	return (body);
}

/*
 * Gemini's body: "contents" of {role, parts: [{text}]}, the assistant's
 * role called "model"; the system prompt in "systemInstruction".
 */
static json_t *
llm_chat_body_google(const struct llm_chat *chat)
{
	json_t		*contents = json_array(), *message, *body;
	const char	*role;
	size_t		 i;

	json_array_foreach(chat->messages, i, message) {
		role = json_string_value(json_object_get(message, "role"));
		json_array_append_new(contents, json_pack("{s:s, s:[{s:O}]}",
		    "role", role != NULL && strcmp(role, "assistant") == 0 ?
		    "model" : "user", "parts", "text",
		    json_object_get(message, "content")));
	}
	body = json_pack("{s:o}", "contents", contents);
	if (chat->system != NULL)
		json_object_set_new(body, "systemInstruction", json_pack(
		    "{s:[{s:s}]}", "parts", "text", chat->system));
	return (body);
}

/* Is NAME among the COUNT extra HEADERS (any case)? */
static bool
llm_header_given(const struct llm_header *headers, size_t count,
    const char *name)
{
	size_t	i;

	for (i = 0; i < count; i++) {
		if (strcasecmp(headers[i].name, name) == 0)
			return (true);
	}
	return (false);
}

/* Append "NAME: PREFIXVALUE" to LIST, wiping the line once curl has it. */
static struct curl_slist *
llm_header_append(struct curl_slist *list, const char *name,
    const char *prefix, const char *value)
{
	char	*line;

	if ((line = str_printf("%s: %s%s", name, prefix, value)) == NULL)
		return (list);
	list = curl_slist_append(list, line);
	explicit_bzero(line, strlen(line));
	free(line);
	return (list);
}

/*
 * The request headers: the daemon's, the provider's own (unless one of
 * the COUNT extra HEADERS replaces it), the key where the provider
 * expects it, then the extra headers in their order.  llm.c refuses an
 * extra header that would repeat the key's.
 */
struct curl_slist *
llm_provider_headers(enum llm_provider provider, const char *key,
    bool json_body, const struct llm_header *headers, size_t count)
{
	const struct llm_provider_ops	*ops = &llm_providers[provider];
	struct curl_slist		*list = NULL;
	size_t				 i;

	if (json_body)
		list = curl_slist_append(list,
		    "Content-Type: application/json");
	list = curl_slist_append(list, "Accept: application/json");
	/* No "Expect: 100-continue" round trip before the body. */
	list = curl_slist_append(list, "Expect:");
	if (ops->own_header != NULL &&
	    !llm_header_given(headers, count, ops->own_header))
		list = llm_header_append(list, ops->own_header, "",
		    ops->own_value);
	if (key != NULL)
		list = llm_header_append(list, ops->key_header,
		    ops->key_prefix, key);
	for (i = 0; i < count; i++)
		list = llm_header_append(list, headers[i].name, "",
		    headers[i].value);
	return (list);
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
 * The "text" of the blocks of CONTENT joined, in one allocation (NULL
 * when there is none): Anthropic's content, Gemini's parts, Cohere's
 * content.
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
 * Gemini: the parts of candidates[0].content joined;
 * usageMetadata.{promptTokenCount,candidatesTokenCount}.
 */
static void
llm_answer_google(json_t *root, struct llm_answer *answer)
{
	json_t	*usage = json_object_get(root, "usageMetadata");

	answer->text = llm_join_text_blocks(json_object_get(json_object_get(
	    json_array_get(json_object_get(root, "candidates"), 0),
	    "content"), "parts"));
	answer->usage = llm_usage(json_object_get(usage, "promptTokenCount"),
	    json_object_get(usage, "candidatesTokenCount"));
}

/*
 * Cohere v2: the text blocks of message.content joined;
 * usage.tokens.{input,output}_tokens, else usage.billed_units.
 */
static void
llm_answer_cohere(json_t *root, struct llm_answer *answer)
{
	json_t	*usage = json_object_get(root, "usage"), *tokens;

	answer->text = llm_join_text_blocks(json_object_get(json_object_get(
	    root, "message"), "content"));
	if ((tokens = json_object_get(usage, "tokens")) == NULL)
		tokens = json_object_get(usage, "billed_units");
	answer->usage = llm_usage(json_object_get(tokens, "input_tokens"),
	    json_object_get(tokens, "output_tokens"));
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
 * A short description of an error body ({"error":{"message":...}},
 * {"error": "..."}, Cohere's {"message": "..."}), or NULL.  Cut to keep
 * replies and logs readable.
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
	if (error == NULL)
		message = json_object_get(root, "message");
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
