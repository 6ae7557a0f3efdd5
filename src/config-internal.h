/*
 * config-internal.h -- what the files of the configuration loader share.
 *
 * The loader is split by function: config.c (loading, reference counting,
 * comparing sections), config-scan.c (where each key stands in the text),
 * config-diag.c (strings, key paths and the problems shown to the
 * operator), config-rules.c (what a string value must look like) and
 * config-schema.c (the sections, their keys, and the checks between keys).
 * Nothing outside these files includes this header, except the unit test.
 */
#ifndef HOTRELOAD_CONFIG_INTERNAL_H
#define HOTRELOAD_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"

/* Limits of the schema that are not defaults. */
#define CONFIG_MAX_BACKENDS		32
#define CONFIG_MAX_NAME_LENGTH		64
#define CONFIG_MAX_TOPIC_LENGTH		65535

/* Longest string quoted back in a message before it is cut with "...". */
#define DESCRIBE_MAX_BYTES		40

/* A growing, always NUL-terminated string. */
struct config_buf {
	char	*data;
	size_t	 length;
	size_t	 size;
};

/* Where one member key or array element stands in the text. */
struct config_position {
	char	*path;
	int	 line;
	int	 column;
	size_t	 value_start;	/* offset of the value in the text */
	size_t	 value_length;
};

/* Every position of a document, sorted by path once built. */
struct config_position_index {
	struct config_position	*list;
	size_t			 count;
	size_t			 size;
};

/* A problem found by the validators, before the sort into file order. */
struct config_pending_problem {
	int	 line;
	int	 column;
	size_t	 sequence;
	bool	 warning;
	char	*text;
};

/* The state of one load. */
struct config_load {
	const char			*name;
	const char			*text;
	struct config_position_index	 index;
	struct config_pending_problem	*problems;
	size_t				 problems_count;
	size_t				 problems_size;
	size_t				 errors;
	struct config			*config;
};

/* What a string must look like, and how to say so in a message. */
struct config_string_rule {
	const char	*expected;
	bool		(*valid)(const char *);
};

/* config-diag.c: allocators that abort rather than fail. */
void		*config_xmalloc(size_t);
void		*config_xcalloc(size_t, size_t);
void		*config_xreallocarray(void *, size_t, size_t);
char		*config_xstrdup(const char *);
char		*config_xasprintf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/* config-diag.c: growing strings. */
void		 config_buf_init(struct config_buf *);
void		 config_buf_add(struct config_buf *, const char *, size_t);
void		 config_buf_add_string(struct config_buf *, const char *);
void		 config_buf_add_char(struct config_buf *, char);
void		 config_buf_vprintf(struct config_buf *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
void		 config_buf_printf(struct config_buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 config_buf_truncate(struct config_buf *, size_t);
void		 config_buf_add_quoted(struct config_buf *, const char *,
		    size_t);
void		 config_buf_add_key(struct config_buf *, const char *);

/* config-diag.c: key paths and quoting. */
char		*config_path_key(const char *, const char *);
char		*config_path_element(const char *, size_t);
char		*config_quoted(const char *);

/* config-diag.c: problems. */
void		 config_error_at(struct config_load *, const char *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
void		 config_warning_at(struct config_load *, const char *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
void		 config_error_missing(struct config_load *, const char *,
		    const char *);
void		 config_error_expected(struct config_load *, const char *,
		    json_t *, const char *, const char *);
char		*config_describe_value(struct config_load *, const char *,
		    json_t *);
void		 config_problems_append(struct config_problems *, bool,
		    char *);
void		 config_problems_flush(struct config_load *,
		    struct config_problems *);
char		*config_suggestion_text(const char *, const char *const *,
		    size_t);
size_t		 config_names_count(const char *const *);
void		 config_check_keys(struct config_load *, json_t *,
		    const char *, const char *const *);

/* config-scan.c: the position index. */
void		 config_index_build(struct config_position_index *,
		    const char *, size_t);
const struct config_position *config_index_find(
		    const struct config_position_index *, const char *);
void		 config_index_free(struct config_position_index *);

/* config-rules.c: the rules for strings. */
extern const struct config_string_rule config_rule_non_empty;
extern const struct config_string_rule config_rule_absolute_path;
extern const struct config_string_rule config_rule_environment_name;
extern const struct config_string_rule config_rule_backend_name;
extern const struct config_string_rule config_rule_url;
extern const struct config_string_rule config_rule_topic_level;
extern const struct config_string_rule config_rule_topic_filter;
extern const struct config_string_rule config_rule_listen;
extern const struct config_string_rule config_rule_mode;
mode_t		 config_mode_from_string(const char *);

/* config-schema.c: check a parsed document and fill the configuration. */
void		 config_check_document(struct config_load *, json_t *);

#endif /* HOTRELOAD_CONFIG_INTERNAL_H */
