/*
 * config-internal.h -- what the files of the configuration loader share.
 *
 * The loader is split by function: config.c (loading, reference counting,
 * comparing sections), config-scan.c (where each key stands in the text),
 * config-diag.c (strings, key paths and the problems shown to the
 * operator), config-rules.c (what a string value must look like),
 * config-schema.c (the sections as tables, and the checks between keys)
 * and config-walk.c (the walker that reads the tables).
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
#define CONFIG_MAX_HEADERS		32	/* per back end */
#define CONFIG_MAX_STOP			16	/* params.stop */

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
extern const struct config_string_rule config_rule_header_name;
extern const struct config_string_rule config_rule_header_value;
extern const struct config_string_rule config_rule_topic_level;
extern const struct config_string_rule config_rule_topic_filter;
extern const struct config_string_rule config_rule_listen;
extern const struct config_string_rule config_rule_mode;
mode_t		 config_mode_from_string(const char *);

/*
 * The schema: one table of rows per section of the file.  A row names its
 * key once and says what the value must be, its default, and where in the
 * target struct it goes (an offsetof); the walker in config-walk.c reads
 * the tables to check unknown keys, types and bounds, fill defaults, and
 * free.  Rules between keys are small functions the tables point to.
 */
enum config_type {
	CONFIG_INTEGER,		/* from min to max */
	CONFIG_NUMBER,		/* a number (a double) from min to max */
	CONFIG_BOOL,
	CONFIG_STRING,		/* a string the rule accepts */
	CONFIG_CHOICE,		/* one of the names in choices */
	CONFIG_STRING_LIST,	/* an array of strings the rule accepts */
	CONFIG_SECTION,		/* an object whose keys fill the same struct */
	CONFIG_SECTION_POINTER,	/* an object in a struct of its own, or NULL */
	CONFIG_SECTION_ARRAY,	/* an array of objects, a struct each */
	CONFIG_CUSTOM		/* the row's parse function does it all */
};

/* How an integer or a choice is stored: the type of the field. */
enum config_store {
	CONFIG_STORE_INT,
	CONFIG_STORE_SIZE,
	CONFIG_STORE_BOOL,
	CONFIG_STORE_STRING,	/* a copy of the choice's name */
	CONFIG_STORE_OTHER
};

/* Row flags. */
#define CONFIG_REQUIRED		0x1	/* a missing key is an error */
#define CONFIG_NULLABLE		0x2	/* null is allowed: no value */
#define CONFIG_NULL_IS_DEFAULT	0x4	/* null takes the default, silently */
#define CONFIG_CONTENT		0x8	/* a file whose content counts too */
/*
 * On an integer or a number, CONFIG_NULLABLE means null (or absence) is
 * "not set": the field gets the row's default, which lies outside the
 * bounds (CONFIG_UNSET, or NAN for a number).
 */

/* One name a choice accepts, and the value stored for it. */
struct config_choice {
	const char	*name;
	int		 value;
};

struct config_row;
struct config_section;

/* Parse a CONFIG_CUSTOM row, member of OBJECT (at PATH), into TARGET. */
typedef void	(*config_parse_cb)(struct config_load *,
		    const struct config_row *, json_t *object,
		    const char *path, void *target);
/*
 * A row's check: called with the member's PATH once its value, taken from
 * OBJECT, passed the row's own checks.  A section's finish: called with the
 * section's PATH and OBJECT (NULL when absent) after all its rows.
 */
typedef void	(*config_check_cb)(struct config_load *, json_t *object,
		    const char *path, void *target);
/* Release what a CONFIG_CUSTOM row stored in TARGET. */
typedef void	(*config_free_cb)(const struct config_row *, void *target);

struct config_row {
	const char			*key;
	enum config_type		 type;
	int				 flags;
	size_t				 offset;	/* of the field */
	size_t				 count_offset;	/* lists: size_t */
	enum config_store		 store;
	json_int_t			 min;
	json_int_t			 max;
	json_int_t			 default_integer; /* and booleans */
	double				 min_number;	/* CONFIG_NUMBER */
	double				 max_number;
	double				 default_number;
	const char			*default_string; /* and choices */
	const struct config_string_rule	*rule;
	const struct config_choice	*choices;	/* ends with NULL */
	const struct config_section	*section;
	size_t				 element_size;	/* struct of a section */
	config_parse_cb			 parse;
	config_check_cb			 check;
	config_free_cb			 free;
};

struct config_section {
	const char		*name;	/* its heading in hotreloadd.conf(5) */
	const struct config_row	*rows;
	size_t			 rows_count;
	config_check_cb		 finish;
};

/* config-schema.c: the top of the tables (a struct config). */
extern const struct config_section config_schema;

/* config-walk.c: check a parsed document and fill the configuration. */
void		 config_check_document(struct config_load *, json_t *);

/* config-walk.c: release what the tables filled in TARGET. */
void		 config_schema_free(const struct config_section *, void *);

/* config-walk.c: fields, rows and members, found by a field's offset. */
void		*config_row_field(const struct config_row *, void *);
size_t		*config_row_count(const struct config_row *, void *);
const struct config_row *config_row_at(const struct config_section *,
		    size_t);
json_t		*config_member_at(const struct config_section *, json_t *,
		    size_t);
bool		 config_member_is_set(const struct config_section *,
		    json_t *, size_t);
char		*config_member_path(const struct config_section *,
		    const char *, size_t);

/* config-walk.c: checks for the schema's own parse functions. */
const char	*config_check_string(struct config_load *, const char *,
		    json_t *, int, const struct config_string_rule *);
int		 config_check_integer(struct config_load *, const char *,
		    json_t *, int, json_int_t, json_int_t, json_int_t *);
json_t		*config_member_value(struct config_load *, json_t *,
		    const char *, const char *, int);
json_t		*config_member_array(struct config_load *, json_t *,
		    const char *, const char *, int);
void		 config_free_strings(char **, size_t);
void		 config_content_file(struct config_load *, const char *,
		    const char *);

/* config-headers.c: the "headers" row of a back end. */
void		 parse_headers(struct config_load *, const struct config_row *,
		    json_t *, const char *, void *);
void		 free_headers(const struct config_row *, void *);

#endif /* HOTRELOAD_CONFIG_INTERNAL_H */
