/*
 * llm-secret.c -- the secrets of an LLM generation's back ends: API keys
 * and header values from a variable or a file, read when the generation
 * is built, never logged, wiped when it is freed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm-int.h"
#include "log.h"

/*
 * Read a secret for key KEY (a key path) from the variable or the file
 * SOURCE names (FROM_ENV says which) into *VALUE, to wipe and free; it is
 * never logged.  A file must be a regular file (file_read_secret): a FIFO
 * in its place is an error, not a hang; its first line is the secret.
 * One readable by every user is used, with a warning, once per generation
 * that reads it.
 */
static int
llm_secret_read(const char *key, bool from_env, const char *source,
    char **value, char **cause)
{
	const char	*text;
	char		*why, *warning;

	*value = NULL;
	if (from_env) {
		text = getenv(source);
		if (text == NULL || *text == '\0') {
			*cause = str_printf("%s: the variable %s is not set",
			    key, source);
			return (-1);
		}
		if ((*value = strdup(text)) == NULL) {
			*cause = strdup("out of memory");
			return (-1);
		}
		return (0);
	}
	if (file_read_secret(source, LLM_KEY_MAX, value, &warning,
	    &why) == -1) {
		*cause = str_printf("%s %s: %s", key, source,
		    why != NULL ? why : "out of memory");
		free(why);
		return (-1);
	}
	if (warning != NULL) {
		log_warnx("%s %s: %s", key, source, warning);
		free(warning);
	}
	if ((*value)[0] == '\0') {
		*cause = str_printf("%s %s is empty", key, source);
		free(*value);
		*value = NULL;
		return (-1);
	}
	return (0);
}

/* Read a back end's key from its variable or file, if it has one. */
int
llm_backend_key(struct llm_backend *b, const char *path, char **cause)
{
	char	key[96];
	bool	from_env = b->cfg->api_key_env != NULL;

	if (!from_env && b->cfg->api_key_file == NULL)
		return (0);
	snprintf(key, sizeof key, "%s.%s", path, from_env ? "api_key_env" :
	    "api_key_file");
	return (llm_secret_read(key, from_env, from_env ? b->cfg->api_key_env :
	    b->cfg->api_key_file, &b->key, cause));
}

/*
 * Read the values of a back end's extra headers: literal ones as they
 * are, the others from their variable or file (secrets).  A value read
 * must be fit for a header; the header that carries the key cannot be
 * given as well as the key.
 */
int
llm_backend_headers(struct llm_backend *b, const char *path, char **cause)
{
	const struct config_header	*h;
	struct llm_header		*out;
	char				*key;
	size_t				 i;
	int				 rc = 0;

	if (b->cfg->headers_count == 0)
		return (0);
	if ((b->headers = calloc(b->cfg->headers_count,
	    sizeof *b->headers)) == NULL) {
		*cause = strdup("out of memory");
		return (-1);
	}
	for (i = 0; i < b->cfg->headers_count && rc == 0; i++) {
		h = &b->cfg->headers[i];
		out = &b->headers[b->headers_count];
		out->name = h->name;
		key = str_printf("%s.headers.%s%s", path, h->name,
		    h->source == CONFIG_HEADER_ENV ? ".env" :
		    h->source == CONFIG_HEADER_FILE ? ".file" : "");
		if (key == NULL) {
			*cause = strdup("out of memory");
			return (-1);
		}
		if (b->key != NULL && strcasecmp(h->name,
		    llm_provider_key_header(b->provider)) == 0) {
			*cause = str_printf("%s: the API key goes in this "
			    "header; set api_key_env or api_key_file, or this "
			    "header, not both", key);
			rc = -1;
		} else if (h->source == CONFIG_HEADER_LITERAL) {
			if ((out->value = strdup(h->value)) == NULL) {
				*cause = strdup("out of memory");
				rc = -1;
			}
		} else if (llm_secret_read(key, h->source ==
		    CONFIG_HEADER_ENV, h->value, &out->value, cause) == -1)
			rc = -1;
		else if (!config_header_value_valid(out->value)) {
			/* Not quoted: it is a secret. */
			*cause = str_printf("%s: the value read is not a valid "
			    "header value (1 to %d bytes, no control "
			    "characters, no space at either end)", key,
			    CONFIG_MAX_HEADER_VALUE);
			rc = -1;
		}
		if (out->value != NULL)
			b->headers_count++;
		free(key);
	}
	return (rc);
}

/* Wipe and free a secret (NULL is fine). */
void
llm_secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}
