/*
 * config-headers.c -- llm.backends[].headers: extra HTTP headers of a back
 * end, each a literal value or {"env": NAME} or {"file": PATH} (secrets,
 * read when a generation is built).  A CONFIG_CUSTOM row of the back-end
 * table in config-schema.c.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-internal.h"

/*
 * The headers hotreloadd sets itself, which a back end's "headers" may
 * not replace (the key's header is checked when a generation is built:
 * it depends on the provider and on whether a key is set).
 */
static const char *const reserved_headers[] = {
	"Accept", "Connection", "Content-Length", "Content-Type", "Expect",
	"Host", "Transfer-Encoding", "User-Agent", NULL
};

/* Is NAME (any case) in NAMES (ending with NULL)? */
static bool
name_listed(const char *const *names, const char *name)
{
	for (; *names != NULL; names++) {
		if (strcasecmp(*names, name) == 0)
			return (true);
	}
	return (false);
}

/*
 * One header of llm.backends[].headers at PATH: a literal value, or
 * {"env": VAR} or {"file": PATH}, whose values are read when a generation
 * is built (and are secret).  Fills H; false when it is wrong.
 */
static bool
parse_header(struct config_load *ld, const char *path, json_t *value,
    struct config_header *h)
{
	static const char *const sources[] = { "env", "file", NULL };
	const struct config_string_rule	*rule;
	const char			*key, *s;
	json_t				*inner;
	char				*child;

	if (json_is_string(value)) {
		/* Not quoted back: a literal may still be a credential. */
		if (!config_rule_header_value.valid(json_string_value(value))) {
			config_error_at(ld, path, "expected %s",
			    config_rule_header_value.expected);
			return (false);
		}
		h->source = CONFIG_HEADER_LITERAL;
		h->value = config_xstrdup(json_string_value(value));
		return (true);
	}
	if (!json_is_object(value) || json_object_size(value) != 1) {
		config_error_expected(ld, path, value, "a string, {\"env\": "
		    "VARIABLE} or {\"file\": PATH}", NULL);
		return (false);
	}
	config_check_keys(ld, value, path, sources);
	json_object_foreach(value, key, inner) {
		if (strcmp(key, "env") == 0) {
			h->source = CONFIG_HEADER_ENV;
			rule = &config_rule_environment_name;
		} else if (strcmp(key, "file") == 0) {
			h->source = CONFIG_HEADER_FILE;
			rule = &config_rule_absolute_path;
		} else
			return (false);
		child = config_path_key(path, key);
		s = config_check_string(ld, child, inner, 0, rule);
		if (s != NULL) {
			h->value = config_xstrdup(s);
			if (h->source == CONFIG_HEADER_FILE)
				config_content_file(ld, child, s);
		}
		free(child);
	}
	return (h->value != NULL);
}

/*
 * llm.backends[].headers: an object of at most CONFIG_MAX_HEADERS extra
 * request headers, each name used once whatever its case and none of
 * reserved_headers.
 */
void
parse_headers(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *path, void *target)
{
	struct config_header	**list = config_row_field(row, target), *h;
	size_t			 *count = config_row_count(row, target), i;
	json_t			 *map, *value;
	const char		 *name;
	char			 *child, *element;

	if ((map = config_member_value(ld, object, path, row->key, 0)) ==
	    NULL)
		return;
	child = config_path_key(path, row->key);
	if (!json_is_object(map)) {
		config_error_expected(ld, child, map, "an object of header "
		    "names and values", NULL);
		free(child);
		return;
	}
	if (json_object_size(map) > CONFIG_MAX_HEADERS)
		config_error_at(ld, child, "expected at most %d headers, got "
		    "%zu", CONFIG_MAX_HEADERS, json_object_size(map));
	*list = config_xcalloc(json_object_size(map), sizeof **list);
	json_object_foreach(map, name, value) {
		element = config_path_key(child, name);
		for (i = 0; i < *count; i++) {
			if (strcasecmp((*list)[i].name, name) == 0)
				break;
		}
		if (!config_rule_header_name.valid(name))
			config_error_at(ld, element, "expected %s",
			    config_rule_header_name.expected);
		else if (name_listed(reserved_headers, name))
			config_error_at(ld, element, "hotreloadd sets this "
			    "header itself");
		else if (i < *count)
			config_error_at(ld, element, "the header %s is "
			    "already set (header names are not case-sensitive)",
			    (*list)[i].name);
		else {
			h = &(*list)[*count];
			if (parse_header(ld, element, value, h)) {
				h->name = config_xstrdup(name);
				(*count)++;
			} else {
				free(h->value);
				memset(h, 0, sizeof *h);
			}
		}
		free(element);
	}
	free(child);
}

/* Release llm.backends[].headers. */
void
free_headers(const struct config_row *row, void *target)
{
	struct config_header	*list = *(struct config_header **)
				    config_row_field(row, target);
	size_t			 i, count = *config_row_count(row, target);

	for (i = 0; i < count; i++) {
		free(list[i].name);
		free(list[i].value);
	}
	free(list);
}
