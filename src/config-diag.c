/*
 * config-diag.c -- the text of the configuration loader's diagnostics.
 *
 * Growing strings and allocators that abort, key paths (".key", "[3]",
 * ["odd key"]), values quoted back safely, and the problems themselves:
 * each is located through the position index by key path, and the list is
 * handed to the caller in file order.  Also the "did you mean" hint for a
 * mistyped key or choice.  Nothing here logs: the caller prints problems.
 */

#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"

/* Words longer than this get no "did you mean" suggestion. */
#define SUGGEST_MAX_LENGTH		64
#define SUGGEST_MAX_DISTANCE		2

/*
 * Running out of memory while reading a configuration is not something the
 * daemon can recover from in a useful way, so the allocators abort, as
 * tmux's xmalloc does.
 */
void *
config_xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		abort();
	return (p);
}

/* calloc() that cannot fail. */
void *
config_xcalloc(size_t count, size_t size)
{
	void	*p;

	if ((p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size)) == NULL)
		abort();
	return (p);
}

/* reallocarray() that cannot fail. */
void *
config_xreallocarray(void *old, size_t count, size_t size)
{
	void	*p;

	if (size != 0 && count > SIZE_MAX / size)
		abort();
	if ((p = realloc(old, count * size == 0 ? 1 : count * size)) == NULL)
		abort();
	return (p);
}

/* strdup() that cannot fail; NULL stays NULL. */
char *
config_xstrdup(const char *s)
{
	char	*p;

	if (s == NULL)
		return (NULL);
	if ((p = strdup(s)) == NULL)
		abort();
	return (p);
}

/* Start an empty string. */
void
config_buf_init(struct config_buf *b)
{
	b->size = 64;
	b->data = config_xmalloc(b->size);
	b->data[0] = '\0';
	b->length = 0;
}

/* Make room for MORE bytes and the terminating NUL. */
static void
buf_reserve(struct config_buf *b, size_t more)
{
	if (more > SIZE_MAX / 2 - b->length)
		abort();
	if (b->length + more + 1 <= b->size)
		return;
	while (b->length + more + 1 > b->size)
		b->size *= 2;
	b->data = config_xreallocarray(b->data, b->size, 1);
}

/* Append LENGTH bytes. */
void
config_buf_add(struct config_buf *b, const char *s, size_t length)
{
	buf_reserve(b, length);
	memcpy(b->data + b->length, s, length);
	b->length += length;
	b->data[b->length] = '\0';
}

/* Append a C string. */
void
config_buf_add_string(struct config_buf *b, const char *s)
{
	config_buf_add(b, s, strlen(s));
}

/* Append one byte. */
void
config_buf_add_char(struct config_buf *b, char c)
{
	config_buf_add(b, &c, 1);
}

/* Append formatted text, from a va_list. */
void
config_buf_vprintf(struct config_buf *b, const char *fmt, va_list ap)
{
	va_list	 copy;
	int	 n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		abort();
	buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->length, (size_t)n + 1, fmt, ap);
	b->length += (size_t)n;
}

/* Append formatted text. */
void
config_buf_printf(struct config_buf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	config_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

/* Cut the string back to LENGTH bytes. */
void
config_buf_truncate(struct config_buf *b, size_t length)
{
	b->length = length;
	b->data[length] = '\0';
}

/* asprintf() that cannot fail. */
char *
config_xasprintf(const char *fmt, ...)
{
	struct config_buf	 b;
	va_list			 ap;

	config_buf_init(&b);
	va_start(ap, fmt);
	config_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return (b.data);
}

/*
 * Append S as a JSON string literal, so that control characters and quotes
 * in a key or value cannot garble a message.  Past LIMIT bytes the text is
 * cut, on a UTF-8 character boundary, and ends with "...".
 */
void
config_buf_add_quoted(struct config_buf *b, const char *s, size_t limit)
{
	size_t		 length = strlen(s), i;
	unsigned char	 c;
	bool		 cut = false;

	if (length > limit) {
		length = limit;
		while (length > 0 && ((unsigned char)s[length] & 0xc0) == 0x80)
			length--;
		cut = true;
	}
	config_buf_add_char(b, '"');
	for (i = 0; i < length; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			config_buf_add_char(b, '\\');
			config_buf_add_char(b, (char)c);
		} else if (c == '\n')
			config_buf_add_string(b, "\\n");
		else if (c == '\t')
			config_buf_add_string(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			config_buf_printf(b, "\\u%04x", c);
		else
			config_buf_add_char(b, (char)c);
	}
	if (cut)
		config_buf_add_string(b, "...");
	config_buf_add_char(b, '"');
}

/* True when KEY can be shown after a dot in a path without quoting. */
static bool
key_is_plain(const char *key)
{
	const char	*p;

	if (*key == '\0')
		return (false);
	for (p = key; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return (false);
	}
	return (true);
}

/*
 * Append one member to a key path: ".key", or ["key"] when the key holds
 * characters that would make the path ambiguous.  The scanner and the
 * validators both build paths here, so that their paths match.
 */
void
config_buf_add_key(struct config_buf *b, const char *key)
{
	if (!key_is_plain(key)) {
		config_buf_add_char(b, '[');
		config_buf_add_quoted(b, key, SIZE_MAX);
		config_buf_add_char(b, ']');
		return;
	}
	if (b->length > 0)
		config_buf_add_char(b, '.');
	config_buf_add_string(b, key);
}

/* The path of member KEY of the object at PARENT. */
char *
config_path_key(const char *parent, const char *key)
{
	struct config_buf	 b;

	config_buf_init(&b);
	config_buf_add_string(&b, parent);
	config_buf_add_key(&b, key);
	return (b.data);
}

/* The path of element INDEX of the array at PARENT. */
char *
config_path_element(const char *parent, size_t index)
{
	return (config_xasprintf("%s[%zu]", parent, index));
}

/* Record a position; returns its slot, whose value span is filled later. */
/*
 * Record a problem.  WHERE is the path whose position is shown (the key, the
 * element, or for a missing key the enclosing object); PATH is the key path
 * shown in the text, or "" for none.
 */
static void
problem_add(struct config_load *ld, bool warning, const char *where,
    const char *path, const char *message)
{
	const struct config_position	*p;
	struct config_pending_problem	*pp;
	struct config_buf		 b;
	int				 line = 1, column = 1;

	if ((p = config_index_find(&ld->index, where)) != NULL) {
		line = p->line;
		column = p->column;
	}

	config_buf_init(&b);
	config_buf_printf(&b, "%s:%d:%d: ", ld->name, line, column);
	if (*path != '\0')
		config_buf_printf(&b, "%s: ", path);
	config_buf_add_string(&b, message);

	if (ld->problems_count == ld->problems_size) {
		ld->problems_size = ld->problems_size == 0 ? 8 :
		    ld->problems_size * 2;
		ld->problems = config_xreallocarray(ld->problems,
		    ld->problems_size,
		    sizeof *ld->problems);
	}
	pp = &ld->problems[ld->problems_count];
	pp->line = line;
	pp->column = column;
	pp->sequence = ld->problems_count;
	pp->warning = warning;
	pp->text = b.data;
	ld->problems_count++;
	if (!warning)
		ld->errors++;
}

/* Record a problem (WARNING or an error) about the value at PATH. */
static void __attribute__((format(printf, 4, 0)))
problem_vat(struct config_load *ld, bool warning, const char *path,
    const char *fmt, va_list ap)
{
	struct config_buf	message;

	config_buf_init(&message);
	config_buf_vprintf(&message, fmt, ap);
	problem_add(ld, warning, path, path, message.data);
	free(message.data);
}

/* Record an error about the value at PATH. */
void
config_error_at(struct config_load *ld, const char *path, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	problem_vat(ld, false, path, fmt, ap);
	va_end(ap);
}

/* Record a warning about the value at PATH. */
void
config_warning_at(struct config_load *ld, const char *path, const char *fmt,
    ...)
{
	va_list	ap;

	va_start(ap, fmt);
	problem_vat(ld, true, path, fmt, ap);
	va_end(ap);
}

/* Record that required key KEY is missing from the object at PARENT. */
void
config_error_missing(struct config_load *ld, const char *parent,
    const char *key)
{
	char	*path = config_path_key(parent, key);

	problem_add(ld, false, parent, path, "required key is missing");
	free(path);
}

/* Order problems by position in the file, then by the order found. */
static int
problem_compare(const void *a, const void *b)
{
	const struct config_pending_problem	*pa = a, *pb = b;

	if (pa->line != pb->line)
		return (pa->line < pb->line ? -1 : 1);
	if (pa->column != pb->column)
		return (pa->column < pb->column ? -1 : 1);
	if (pa->sequence != pb->sequence)
		return (pa->sequence < pb->sequence ? -1 : 1);
	return (0);
}

/* Append one finished problem to the caller's list (taking TEXT). */
void
config_problems_append(struct config_problems *problems, bool warning,
    char *text)
{
	if (problems == NULL) {
		free(text);
		return;
	}
	problems->list = config_xreallocarray(problems->list, problems->count
	    + 1,
	    sizeof *problems->list);
	problems->list[problems->count].warning = warning;
	problems->list[problems->count].text = text;
	problems->count++;
	if (warning)
		problems->warnings++;
	else
		problems->errors++;
}

/* Hand the problems of a load to the caller, in file order. */
void
config_problems_flush(struct config_load *ld, struct config_problems *problems)
{
	size_t	 i;

	if (ld->problems_count > 1)
		qsort(ld->problems, ld->problems_count, sizeof *ld->problems,
		    problem_compare);
	for (i = 0; i < ld->problems_count; i++)
		config_problems_append(problems, ld->problems[i].warning,
		    ld->problems[i].text);
	free(ld->problems);
	ld->problems = NULL;
	ld->problems_count = ld->problems_size = 0;
}

/* Describe VALUE for the "got ..." part of a message, as it was written. */
char *
config_describe_value(struct config_load *ld, const char *path, json_t *value)
{
	const struct config_position	*p;
	struct config_buf		 b;

	config_buf_init(&b);
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		config_buf_add_string(&b, "an object");
		break;
	case JSON_ARRAY:
		config_buf_add_string(&b, "an array");
		break;
	case JSON_STRING:
		config_buf_add_string(&b, "the string ");
		config_buf_add_quoted(&b, json_string_value(value),
		    DESCRIBE_MAX_BYTES);
		break;
	case JSON_INTEGER:
		config_buf_printf(&b, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(value));
		break;
	case JSON_REAL:
		/* Show the number as written: 1.5, 64.0, 1e3. */
		p = config_index_find(&ld->index, path);
		if (p != NULL && p->value_length > 0 &&
		    p->value_length <= DESCRIBE_MAX_BYTES)
			config_buf_add(&b, ld->text + p->value_start,
			    p->value_length);
		else
			config_buf_printf(&b, "%g", json_real_value(value));
		break;
	case JSON_TRUE:
		config_buf_add_string(&b, "true");
		break;
	case JSON_FALSE:
		config_buf_add_string(&b, "false");
		break;
	case JSON_NULL:
		config_buf_add_string(&b, "null");
		break;
	}
	return (b.data);
}

/* Record "expected EXPECTED, got <VALUE>" and optional SUFFIX at PATH. */
void
config_error_expected(struct config_load *ld, const char *path, json_t *value,
    const char *expected, const char *suffix)
{
	char	*got;

	got = config_describe_value(ld, path, value);
	config_error_at(ld, path, "expected %s, got %s%s", expected, got,
	    suffix == NULL ? "" : suffix);
	free(got);
}

/*
 * Edit distance between A and B counting insertions, deletions,
 * substitutions and swaps of two neighbours (so "sockte" is 1 from
 * "socket").  Words longer than SUGGEST_MAX_LENGTH are never close.
 */
static size_t
edit_distance(const char *a, const char *b)
{
	unsigned char	 d[SUGGEST_MAX_LENGTH + 1][SUGGEST_MAX_LENGTH + 1];
	size_t		 la = strlen(a), lb = strlen(b), i, j, v, cost;

	if (la > SUGGEST_MAX_LENGTH || lb > SUGGEST_MAX_LENGTH)
		return (SIZE_MAX);
	for (i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			cost = a[i - 1] != b[j - 1];
			v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1U < v)
				v = d[i - 1][j] + 1U;
			if (d[i][j - 1] + 1U < v)
				v = d[i][j - 1] + 1U;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1U < v)
				v = d[i - 2][j - 2] + 1U;
			d[i][j] = (unsigned char)v;
		}
	}
	return (d[la][lb]);
}

/* The candidate closest to WORD, if close enough to be a likely typo. */
static const char *
suggest(const char *word, const char *const *candidates, size_t count)
{
	const char	*best = NULL;
	size_t		 best_distance = SIZE_MAX, distance, i;

	for (i = 0; i < count; i++) {
		distance = edit_distance(word, candidates[i]);
		if (distance < best_distance) {
			best = candidates[i];
			best_distance = distance;
		}
	}
	if (best_distance == 0 || best_distance > SUGGEST_MAX_DISTANCE ||
	    best_distance >= strlen(word))
		return (NULL);
	return (best);
}

/* " (did you mean "X"?)" for WORD among CANDIDATES, or an empty string. */
char *
config_suggestion_text(const char *word, const char *const *candidates,
    size_t count)
{
	const char		*best;
	struct config_buf	 b;

	config_buf_init(&b);
	if ((best = suggest(word, candidates, count)) != NULL) {
		config_buf_add_string(&b, " (did you mean ");
		config_buf_add_quoted(&b, best, SIZE_MAX);
		config_buf_add_string(&b, "?)");
	}
	return (b.data);
}

/* Number of entries of a NULL-terminated list of names. */
size_t
config_names_count(const char *const *names)
{
	size_t	 n = 0;

	while (names[n] != NULL)
		n++;
	return (n);
}

/* Report every member of OBJECT (at PATH) that is not one of KNOWN. */
void
config_check_keys(struct config_load *ld, json_t *object, const char *path,
    const char *const *known)
{
	const char	*key;
	json_t		*value;
	char		*child, *hint;
	size_t		 count = config_names_count(known), i;

	json_object_foreach(object, key, value) {
		for (i = 0; i < count; i++) {
			if (strcmp(key, known[i]) == 0)
				break;
		}
		if (i != count)
			continue;
		child = config_path_key(path, key);
		hint = config_suggestion_text(key, known, count);
		config_error_at(ld, child, "unknown key%s", hint);
		free(hint);
		free(child);
	}
}

/* S as a JSON string literal, for a message. */
char *
config_quoted(const char *s)
{
	struct config_buf	 b;

	config_buf_init(&b);
	config_buf_add_quoted(&b, s, DESCRIBE_MAX_BYTES);
	return (b.data);
}

