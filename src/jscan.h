/*
 * jscan.h -- check a JSON text once and find members in it without building
 * a tree (the HSP hot path; see jscan.c).
 */
#ifndef HOTRELOAD_JSCAN_H
#define HOTRELOAD_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

/* jansson's JSON_PARSER_MAX_DEPTH: the same texts are accepted. */
#define JSCAN_MAX_DEPTH		2048
/* The most keys one jscan_members() call looks for. */
#define JSCAN_MAX_KEYS		16

enum jscan_type {
	JSCAN_NONE,		/* absent */
	JSCAN_OBJECT,
	JSCAN_ARRAY,
	JSCAN_STRING,
	JSCAN_NUMBER,
	JSCAN_TRUE,
	JSCAN_FALSE,
	JSCAN_NULL
};

/*
 * A value inside a checked text: its type and its JSON text (a string's
 * with its quotes and escapes).  Valid while the text is.
 */
struct jscan_value {
	enum jscan_type	 type;
	const char	*text;
	size_t		 length;
};

int	jscan_check(const char *text, size_t length, struct jscan_value *root,
	    char *error, size_t error_size);
void	jscan_members(const struct jscan_value *object,
	    const char *const *keys, struct jscan_value *values);
size_t	jscan_decode(const struct jscan_value *string, char *out);

/* Is V a string of at least one character? */
static inline bool
jscan_nonempty_string(const struct jscan_value *v)
{
	return (v->type == JSCAN_STRING && v->length > 2);
}

#endif /* HOTRELOAD_JSCAN_H */
