/*
 * config-walk.c -- the walker that reads the schema tables.
 *
 * walk_section() checks one object of the file against the table of its
 * section (config-schema.c): unknown keys first (with a "did you mean"
 * hint), then each row in order -- required keys, types, bounds and string
 * rules -- storing each value, or the row's default, at the row's offset in
 * the target struct; then the section's finish.  config_schema_free()
 * releases what a walk stored, from the same tables.  The helpers here are
 * also what the schema's own parse and check functions use.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"

/* The most rows of a section, and of names of a choice. */
#define WALK_MAX_ROWS		32
#define WALK_MAX_CHOICES	8

/* The field of ROW in TARGET. */
void *
config_row_field(const struct config_row *row, void *target)
{
	return ((char *)target + row->offset);
}

/* The count of a list ROW in TARGET. */
size_t *
config_row_count(const struct config_row *row, void *target)
{
	return ((size_t *)(void *)((char *)target + row->count_offset));
}

/*
 * The row of SECTION that fills the field at OFFSET.  A CONFIG_SECTION row
 * fills no field of its own; a field no row fills is a bug in the schema.
 */
const struct config_row *
config_row_at(const struct config_section *section, size_t offset)
{
	size_t	 i;

	for (i = 0; i < section->rows_count; i++) {
		if (section->rows[i].offset == offset &&
		    section->rows[i].type != CONFIG_SECTION)
			return (&section->rows[i]);
	}
	abort();
}

/* The member of OBJECT (NULL: absent) for the field at OFFSET, or NULL. */
json_t *
config_member_at(const struct config_section *section, json_t *object,
    size_t offset)
{
	if (object == NULL)
		return (NULL);
	return (json_object_get(object, config_row_at(section, offset)->key));
}

/* True when the member for the field at OFFSET is present and not null. */
bool
config_member_is_set(const struct config_section *section, json_t *object,
    size_t offset)
{
	json_t	*value = config_member_at(section, object, offset);

	return (value != NULL && !json_is_null(value));
}

/* The path of the member for the field at OFFSET of the object at PATH. */
char *
config_member_path(const struct config_section *section, const char *path,
    size_t offset)
{
	return (config_path_key(path, config_row_at(section, offset)->key));
}

/* Store integer N in a field of kind STORE. */
static void
store_integer(void *field, enum config_store store, json_int_t n)
{
	switch (store) {
	case CONFIG_STORE_INT:
		*(int *)field = (int)n;
		break;
	case CONFIG_STORE_SIZE:
		*(size_t *)field = (size_t)n;
		break;
	case CONFIG_STORE_BOOL:
		*(bool *)field = n != 0;
		break;
	case CONFIG_STORE_STRING:
	case CONFIG_STORE_OTHER:
		abort();
	}
}

/*
 * Check that VALUE (at PATH) is a string RULE accepts, or null when
 * CONFIG_NULLABLE is in FLAGS.  Returns the string, or NULL for null and on
 * error.
 */
const char *
config_check_string(struct config_load *ld, const char *path, json_t *value,
    int flags, const struct config_string_rule *rule)
{
	char	*expected;

	if (json_is_null(value) && (flags & CONFIG_NULLABLE))
		return (NULL);
	if (json_is_string(value) && rule->valid(json_string_value(value)))
		return (json_string_value(value));
	if (flags & CONFIG_NULLABLE)
		expected = config_xasprintf("%s, or null", rule->expected);
	else
		expected = config_xstrdup(rule->expected);
	config_error_expected(ld, path, value, expected, NULL);
	free(expected);
	return (NULL);
}

/*
 * Check that VALUE (at PATH) is an integer from MIN to MAX; the message
 * adds "or null" when CONFIG_NULLABLE is in FLAGS (the caller has taken
 * null already).
 */
int
config_check_integer(struct config_load *ld, const char *path, json_t *value,
    int flags, json_int_t min, json_int_t max, json_int_t *out)
{
	char	*expected;

	if (json_is_integer(value) && json_integer_value(value) >= min &&
	    json_integer_value(value) <= max) {
		*out = json_integer_value(value);
		return (0);
	}
	expected = config_xasprintf("an integer from %" JSON_INTEGER_FORMAT
	    " to %" JSON_INTEGER_FORMAT "%s", min, max,
	    flags & CONFIG_NULLABLE ? ", or null" : "");
	config_error_expected(ld, path, value, expected, NULL);
	free(expected);
	return (-1);
}

/*
 * Member KEY of OBJECT (whose path is PARENT), or NULL when absent; a missing
 * CONFIG_REQUIRED key is reported.  OBJECT may be NULL (an absent section),
 * so that its defaults are filled in the same way.
 */
json_t *
config_member_value(struct config_load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;

	value = object == NULL ? NULL : json_object_get(object, key);
	if (value == NULL && object != NULL && (flags & CONFIG_REQUIRED))
		config_error_missing(ld, parent, key);
	return (value);
}

/* An array member, or NULL when absent or wrong. */
json_t *
config_member_array(struct config_load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;
	char	*path;

	value = config_member_value(ld, object, parent, key, flags);
	if (value == NULL)
		return (NULL);
	if (json_is_array(value))
		return (value);
	path = config_path_key(parent, key);
	config_error_expected(ld, path, value, "an array", NULL);
	free(path);
	return (NULL);
}

/* Release a counted list of strings. */
void
config_free_strings(char **list, size_t count)
{
	size_t	 i;

	for (i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

/*
 * The file FILE, named at key PATH, is one whose content counts:
 * config_load() digests it, so a reload sees a rewritten file.
 */
void
config_content_file(struct config_load *ld, const char *path,
    const char *file)
{
	if (json_object_set_new(ld->config->files, path,
	    json_pack("{s:s}", "path", file)) == -1)
		abort();
}

static void	walk_section(struct config_load *,
		    const struct config_section *, json_t *, const char *,
		    void *);

/*
 * Is VALUE (present) to be taken as absent: null where the row allows it
 * (CONFIG_NULL_IS_DEFAULT, or CONFIG_NULLABLE on an integer or a number)?
 */
static bool
walk_null_is_absent(const struct config_row *row, json_t *value)
{
	return (json_is_null(value) &&
	    (row->flags & (CONFIG_NULL_IS_DEFAULT | CONFIG_NULLABLE)));
}

/* An integer row: the default when absent (or null, if allowed) or wrong. */
static void
walk_integer(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	json_t		*value;
	json_int_t	 n = row->default_integer;
	bool		 valid = false;

	value = config_member_value(ld, object, parent, row->key, 0);
	if (value != NULL && !walk_null_is_absent(row, value)) {
		if (config_check_integer(ld, path, value, row->flags,
		    row->min, row->max, &n) == 0)
			valid = true;
		else
			n = row->default_integer;
	}
	store_integer(config_row_field(row, target), row->store, n);
	if (valid && row->check != NULL)
		row->check(ld, object, path, target);
}

/*
 * A number row: an integer or a real from min to max, stored as a double;
 * the default when absent (or null, if allowed) or wrong.
 */
static void
walk_number(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	json_t	*value;
	double	 n = row->default_number;
	char	*expected;

	value = config_member_value(ld, object, parent, row->key, 0);
	if (value != NULL && !walk_null_is_absent(row, value)) {
		if (json_is_number(value) && json_number_value(value) >=
		    row->min_number && json_number_value(value) <=
		    row->max_number)
			n = json_number_value(value);
		else {
			expected = config_xasprintf("a number from %.15g to "
			    "%.15g%s", row->min_number, row->max_number,
			    row->flags & CONFIG_NULLABLE ? ", or null" : "");
			config_error_expected(ld, path, value, expected, NULL);
			free(expected);
		}
	}
	*(double *)config_row_field(row, target) = n;
}

/* A boolean row: the default when absent or wrong. */
static void
walk_bool(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	json_t	*value;
	bool	 b = row->default_integer != 0;

	value = config_member_value(ld, object, parent, row->key, 0);
	if (value != NULL) {
		if (json_is_boolean(value))
			b = json_is_true(value);
		else
			config_error_expected(ld, path, value, "true or false",
			    NULL);
	}
	store_integer(config_row_field(row, target), row->store, b);
}

/* A string row: a copy of the default when absent, NULL for null or error. */
static void
walk_string(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	json_t		*value;
	const char	*s;
	char		**field = config_row_field(row, target);

	value = config_member_value(ld, object, parent, row->key, row->flags);
	if (value == NULL) {
		*field = config_xstrdup(row->default_string);
		return;
	}
	s = config_check_string(ld, path, value, row->flags, row->rule);
	*field = config_xstrdup(s);
	if (s != NULL && (row->flags & CONFIG_CONTENT))
		config_content_file(ld, path, s);
	if (s != NULL && row->check != NULL)
		row->check(ld, object, path, target);
}

/* Store choice INDEX of ROW (-1: nothing) in TARGET. */
static void
store_choice(const struct config_row *row, void *target, ssize_t index)
{
	if (index < 0)
		return;
	if (row->store == CONFIG_STORE_STRING)
		*(char **)config_row_field(row, target) =
		    config_xstrdup(row->choices[index].name);
	else
		store_integer(config_row_field(row, target), row->store,
		    row->choices[index].value);
}

/*
 * A choice row: one of the names of its choices.  The default when absent
 * or wrong; nothing for a missing required one.
 */
static void
walk_choice(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	const char		*names[WALK_MAX_CHOICES + 1];
	json_t			*value;
	struct config_buf	 expected;
	char			*hint = NULL;
	size_t			 count = 0, i;
	ssize_t			 fallback = -1;

	for (i = 0; row->choices[i].name != NULL; i++) {
		if (count == WALK_MAX_CHOICES)
			abort();	/* a table too big for this walker */
		names[count++] = row->choices[i].name;
		if (row->default_string != NULL &&
		    strcmp(row->default_string, row->choices[i].name) == 0)
			fallback = (ssize_t)i;
	}
	names[count] = NULL;

	value = config_member_value(ld, object, parent, row->key, row->flags);
	if (value == NULL) {
		if ((~row->flags & CONFIG_REQUIRED) || object == NULL)
			store_choice(row, target, fallback);
		return;
	}
	if (json_is_string(value)) {
		for (i = 0; i < count; i++) {
			if (strcmp(json_string_value(value), names[i]) == 0) {
				store_choice(row, target, (ssize_t)i);
				return;
			}
		}
		hint = config_suggestion_text(json_string_value(value), names,
		    count);
	}

	config_buf_init(&expected);
	if (count > 2)
		config_buf_add_string(&expected, "one of ");
	for (i = 0; i < count; i++) {
		if (i > 0)
			config_buf_add_string(&expected,
			    i + 1 == count ? " or " : ", ");
		config_buf_add_quoted(&expected, names[i], SIZE_MAX);
	}
	config_error_expected(ld, path, value, expected.data, hint);
	free(expected.data);
	free(hint);
	store_choice(row, target, fallback);
}

/* A string list row: copies of the valid strings; errors for the others. */
static void
walk_string_list(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	json_t		*array, *value;
	const char	*s;
	char		**list, *element;
	size_t		*count = config_row_count(row, target), i;

	*count = 0;
	array = config_member_array(ld, object, parent, row->key, 0);
	if (array == NULL)
		return;
	list = config_xcalloc(json_array_size(array), sizeof *list);
	json_array_foreach(array, i, value) {
		element = config_path_element(path, i);
		s = config_check_string(ld, element, value, 0, row->rule);
		if (s != NULL)
			list[(*count)++] = config_xstrdup(s);
		free(element);
	}
	*(char ***)config_row_field(row, target) = list;
}

/*
 * A section row.  CONFIG_SECTION fills TARGET itself, defaults included
 * when the object is absent; CONFIG_SECTION_POINTER allocates its struct
 * only when the object is there (absent or null: NULL).
 */
static void
walk_object(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	json_t	*value;
	void	*p;

	value = config_member_value(ld, object, parent, row->key, row->flags);
	if (value != NULL && !json_is_object(value)) {
		if (!json_is_null(value) || (~row->flags & CONFIG_NULLABLE))
			config_error_expected(ld, path, value,
			    row->flags & CONFIG_NULLABLE ?
			    "an object, or null" : "an object", NULL);
		value = NULL;
	}
	if (row->type == CONFIG_SECTION) {
		walk_section(ld, row->section, value, path, target);
		return;
	}
	if (value == NULL)
		return;
	p = config_xcalloc(1, row->element_size);
	*(void **)config_row_field(row, target) = p;
	walk_section(ld, row->section, value, path, p);
	if (row->check != NULL)
		row->check(ld, object, path, target);
}

/* A section array row: each element an object, in a struct of its own. */
static void
walk_object_array(struct config_load *ld, const struct config_row *row,
    json_t *object, const char *parent, const char *path, void *target)
{
	json_t	*array, *value;
	char	*list, *element;
	size_t	 i;

	array = config_member_array(ld, object, parent, row->key, row->flags);
	if (array == NULL)
		return;
	list = config_xcalloc(json_array_size(array), row->element_size);
	*(void **)config_row_field(row, target) = list;
	*config_row_count(row, target) = json_array_size(array);
	json_array_foreach(array, i, value) {
		element = config_path_element(path, i);
		if (!json_is_object(value))
			config_error_expected(ld, element, value, "an object",
			    NULL);
		else
			walk_section(ld, row->section, value, element,
			    list + i * row->element_size);
		free(element);
	}
	if (row->check != NULL)
		row->check(ld, object, path, target);
}

/*
 * Check OBJECT (at PATH; NULL when absent) against SECTION and fill TARGET:
 * unknown keys first, then each row in order, then the section's finish.
 */
static void
walk_section(struct config_load *ld, const struct config_section *section,
    json_t *object, const char *path, void *target)
{
	const struct config_row	*row;
	const char		*known[WALK_MAX_ROWS + 1];
	char			*child;
	size_t			 i;

	if (section->rows_count > WALK_MAX_ROWS)
		abort();	/* a table too big for this walker */
	if (object != NULL) {
		for (i = 0; i < section->rows_count; i++)
			known[i] = section->rows[i].key;
		known[i] = NULL;
		config_check_keys(ld, object, path, known);
	}
	for (i = 0; i < section->rows_count; i++) {
		row = &section->rows[i];
		child = config_path_key(path, row->key);
		switch (row->type) {
		case CONFIG_INTEGER:
			walk_integer(ld, row, object, path, child, target);
			break;
		case CONFIG_NUMBER:
			walk_number(ld, row, object, path, child, target);
			break;
		case CONFIG_BOOL:
			walk_bool(ld, row, object, path, child, target);
			break;
		case CONFIG_STRING:
			walk_string(ld, row, object, path, child, target);
			break;
		case CONFIG_CHOICE:
			walk_choice(ld, row, object, path, child, target);
			break;
		case CONFIG_STRING_LIST:
			walk_string_list(ld, row, object, path, child, target);
			break;
		case CONFIG_SECTION:
		case CONFIG_SECTION_POINTER:
			walk_object(ld, row, object, path, child, target);
			break;
		case CONFIG_SECTION_ARRAY:
			walk_object_array(ld, row, object, path, child, target);
			break;
		case CONFIG_CUSTOM:
			row->parse(ld, row, object, path, target);
			break;
		}
		free(child);
	}
	if (section->finish != NULL)
		section->finish(ld, object, path, target);
}

void
config_schema_free(const struct config_section *section, void *target)
{
	const struct config_row	*row;
	char			*list;
	size_t			 i, j;

	for (i = 0; i < section->rows_count; i++) {
		row = &section->rows[i];
		switch (row->type) {
		case CONFIG_INTEGER:
		case CONFIG_NUMBER:
		case CONFIG_BOOL:
			break;
		case CONFIG_CHOICE:
			if (row->store != CONFIG_STORE_STRING)
				break;
			/* FALLTHROUGH */
		case CONFIG_STRING:
			free(*(char **)config_row_field(row, target));
			break;
		case CONFIG_STRING_LIST:
			config_free_strings(
			    *(char ***)config_row_field(row, target),
			    *config_row_count(row, target));
			break;
		case CONFIG_SECTION:
			config_schema_free(row->section, target);
			break;
		case CONFIG_SECTION_POINTER:
			list = *(char **)config_row_field(row, target);
			if (list != NULL)
				config_schema_free(row->section, list);
			free(list);
			break;
		case CONFIG_SECTION_ARRAY:
			list = *(char **)config_row_field(row, target);
			for (j = 0; j < *config_row_count(row, target); j++)
				config_schema_free(row->section,
				    list + j * row->element_size);
			free(list);
			break;
		case CONFIG_CUSTOM:
			if (row->free != NULL)
				row->free(row, target);
			break;
		}
	}
}

/* The whole document. */
void
config_check_document(struct config_load *ld, json_t *root)
{
	char	*got;

	if (!json_is_object(root)) {
		got = config_describe_value(ld, "", root);
		config_error_at(ld, "", "expected an object at the top level, "
		    "got %s", got);
		free(got);
		return;
	}
	walk_section(ld, &config_schema, root, "", ld->config);
}

