/*
 * config.c -- read and validate the configuration file (DESIGN.md section 4).
 *
 * Loading takes three steps.  jansson parses the text (once lines starting
 * with '#', comments that JSON itself lacks, are blanked out).  A small
 * scanner then walks the same, already accepted, text once more and records
 * where every member key and array element stands, because jansson keeps no
 * positions.
 * Last, the validators walk the parsed document, fill a struct config and
 * report every problem they find, located through that index by key path.
 * Problems are sorted into file order at the end so the operator can read
 * them top to bottom.  Nothing here logs: the caller prints the problems.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hotreload/protocol.h"
#include "config.h"
#include "hotreloadd.h"

/* Limits of the schema that are not defaults. */
#define CONFIG_MAX_BACKENDS		32
#define CONFIG_MAX_NAME_LENGTH		64
#define CONFIG_MAX_TOPIC_LENGTH		65535

/* Longest string quoted back in a message before it is cut with "...". */
#define DESCRIBE_MAX_BYTES		40

/* Words longer than this get no "did you mean" suggestion. */
#define SUGGEST_MAX_LENGTH		64
#define SUGGEST_MAX_DISTANCE		2

/* A growing, always NUL-terminated string. */
struct buf {
	char	*data;
	size_t	 length;
	size_t	 size;
};

/* Where one member key or array element stands in the text. */
struct position {
	char	*path;
	int	 line;
	int	 column;
	size_t	 value_start;	/* offset of the value in the text */
	size_t	 value_length;
};

/* Every position of a document, sorted by path once built. */
struct position_index {
	struct position	*list;
	size_t		 count;
	size_t		 size;
};

/* The scanner's cursor over the text. */
struct scanner {
	const char		*text;
	size_t			 length;
	size_t			 offset;
	int			 line;
	int			 column;
	struct buf		 path;
	struct position_index	*index;
};

/* A problem found by the validators, before the sort into file order. */
struct pending_problem {
	int	 line;
	int	 column;
	size_t	 sequence;
	bool	 warning;
	char	*text;
};

/* The state of one load. */
struct load {
	const char		*name;
	const char		*text;
	struct position_index	 index;
	struct pending_problem	*problems;
	size_t			 problems_count;
	size_t			 problems_size;
	size_t			 errors;
	struct config		*config;
};

/* How a member is looked up: may it be absent, may it be null. */
#define MEMBER_OPTIONAL		0x0
#define MEMBER_REQUIRED		0x1
#define MEMBER_NULLABLE		0x2

/* What a string must look like, and how to say so in a message. */
struct string_rule {
	const char	*expected;
	bool		(*valid)(const char *);
};

static void	 error_at(struct load *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 warning_at(struct load *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 buf_vprintf(struct buf *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	 buf_printf(struct buf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static char	*xasprintf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

/*
 * Running out of memory while reading a configuration is not something the
 * daemon can recover from in a useful way, so the allocators abort, as
 * tmux's xmalloc does.
 */
static void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		abort();
	return (p);
}

/* calloc() that cannot fail. */
static void *
xcalloc(size_t count, size_t size)
{
	void	*p;

	if ((p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size)) == NULL)
		abort();
	return (p);
}

/* reallocarray() that cannot fail. */
static void *
xreallocarray(void *old, size_t count, size_t size)
{
	void	*p;

	if (size != 0 && count > SIZE_MAX / size)
		abort();
	if ((p = realloc(old, count * size == 0 ? 1 : count * size)) == NULL)
		abort();
	return (p);
}

/* strdup() that cannot fail; NULL stays NULL. */
static char *
xstrdup(const char *s)
{
	char	*p;

	if (s == NULL)
		return (NULL);
	if ((p = strdup(s)) == NULL)
		abort();
	return (p);
}

/* Start an empty string. */
static void
buf_init(struct buf *b)
{
	b->size = 64;
	b->data = xmalloc(b->size);
	b->data[0] = '\0';
	b->length = 0;
}

/* Make room for MORE bytes and the terminating NUL. */
static void
buf_reserve(struct buf *b, size_t more)
{
	if (more > SIZE_MAX / 2 - b->length)
		abort();
	if (b->length + more + 1 <= b->size)
		return;
	while (b->length + more + 1 > b->size)
		b->size *= 2;
	b->data = xreallocarray(b->data, b->size, 1);
}

/* Append LENGTH bytes. */
static void
buf_add(struct buf *b, const char *s, size_t length)
{
	buf_reserve(b, length);
	memcpy(b->data + b->length, s, length);
	b->length += length;
	b->data[b->length] = '\0';
}

/* Append a C string. */
static void
buf_add_string(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append one byte. */
static void
buf_add_char(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

/* Append formatted text, from a va_list. */
static void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
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
static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

/* Cut the string back to LENGTH bytes. */
static void
buf_truncate(struct buf *b, size_t length)
{
	b->length = length;
	b->data[length] = '\0';
}

/* asprintf() that cannot fail. */
static char *
xasprintf(const char *fmt, ...)
{
	struct buf	 b;
	va_list		 ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return (b.data);
}

/*
 * Append S as a JSON string literal, so that control characters and quotes
 * in a key or value cannot garble a message.  Past LIMIT bytes the text is
 * cut, on a UTF-8 character boundary, and ends with "...".
 */
static void
buf_add_quoted(struct buf *b, const char *s, size_t limit)
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
	buf_add_char(b, '"');
	for (i = 0; i < length; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf_add_char(b, '\\');
			buf_add_char(b, (char)c);
		} else if (c == '\n')
			buf_add_string(b, "\\n");
		else if (c == '\t')
			buf_add_string(b, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\u%04x", c);
		else
			buf_add_char(b, (char)c);
	}
	if (cut)
		buf_add_string(b, "...");
	buf_add_char(b, '"');
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
static void
buf_add_key(struct buf *b, const char *key)
{
	if (!key_is_plain(key)) {
		buf_add_char(b, '[');
		buf_add_quoted(b, key, SIZE_MAX);
		buf_add_char(b, ']');
		return;
	}
	if (b->length > 0)
		buf_add_char(b, '.');
	buf_add_string(b, key);
}

/* The path of member KEY of the object at PARENT. */
static char *
path_key(const char *parent, const char *key)
{
	struct buf	 b;

	buf_init(&b);
	buf_add_string(&b, parent);
	buf_add_key(&b, key);
	return (b.data);
}

/* The path of element INDEX of the array at PARENT. */
static char *
path_element(const char *parent, size_t index)
{
	return (xasprintf("%s[%zu]", parent, index));
}

/* Record a position; returns its slot, whose value span is filled later. */
static size_t
index_add(struct position_index *index, const char *path, int line,
    int column)
{
	struct position	*p;

	if (index->count == index->size) {
		index->size = index->size == 0 ? 64 : index->size * 2;
		index->list = xreallocarray(index->list, index->size,
		    sizeof *index->list);
	}
	p = &index->list[index->count];
	p->path = xstrdup(path);
	p->line = line;
	p->column = column;
	p->value_start = 0;
	p->value_length = 0;
	return (index->count++);
}

/* Order positions by path, for qsort() and bsearch(). */
static int
index_compare(const void *a, const void *b)
{
	const struct position	*pa = a, *pb = b;

	return (strcmp(pa->path, pb->path));
}

/* Find where PATH stands, or NULL. */
static const struct position *
index_find(const struct position_index *index, const char *path)
{
	struct position	 key = { .path = (char *)path };

	if (index->count == 0)
		return (NULL);
	return (bsearch(&key, index->list, index->count, sizeof *index->list,
	    index_compare));
}

/* Release an index. */
static void
index_free(struct position_index *index)
{
	size_t	 i;

	for (i = 0; i < index->count; i++)
		free(index->list[i].path);
	free(index->list);
	memset(index, 0, sizeof *index);
}

/* The next byte, or -1 at the end of the text. */
static int
scan_peek(struct scanner *s)
{
	if (s->offset >= s->length)
		return (-1);
	return ((unsigned char)s->text[s->offset]);
}

/*
 * Step over one byte.  Columns count characters, as jansson's do: only the
 * first byte of a UTF-8 sequence moves the column.
 */
static void
scan_advance(struct scanner *s)
{
	unsigned char	 c;

	if (s->offset >= s->length)
		return;
	c = (unsigned char)s->text[s->offset++];
	if (c == '\n') {
		s->line++;
		s->column = 1;
	} else if ((c & 0xc0) != 0x80)
		s->column++;
}

/* Skip JSON white space. */
static void
scan_skip_space(struct scanner *s)
{
	int	 c;

	while ((c = scan_peek(s)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		scan_advance(s);
}

/* Read four hex digits after "\u". */
static int
scan_hex4(struct scanner *s, unsigned int *value)
{
	int	 c, i;

	*value = 0;
	for (i = 0; i < 4; i++) {
		c = scan_peek(s);
		if (c >= '0' && c <= '9')
			*value = *value * 16 + (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*value = *value * 16 + (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*value = *value * 16 + (unsigned int)(c - 'A' + 10);
		else
			return (-1);
		scan_advance(s);
	}
	return (0);
}

/* Decode the rest of a "\uXXXX" escape (and its low surrogate) to UTF-8. */
static int
scan_unicode(struct scanner *s, struct buf *out)
{
	unsigned int	 code, low;

	if (scan_hex4(s, &code) != 0)
		return (-1);
	if (code >= 0xd800 && code <= 0xdbff) {
		if (scan_peek(s) != '\\')
			return (-1);
		scan_advance(s);
		if (scan_peek(s) != 'u')
			return (-1);
		scan_advance(s);
		if (scan_hex4(s, &low) != 0 || low < 0xdc00 || low > 0xdfff)
			return (-1);
		code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
	}
	if (out == NULL)
		return (0);
	if (code < 0x80)
		buf_add_char(out, (char)code);
	else if (code < 0x800) {
		buf_add_char(out, (char)(0xc0 | (code >> 6)));
		buf_add_char(out, (char)(0x80 | (code & 0x3f)));
	} else if (code < 0x10000) {
		buf_add_char(out, (char)(0xe0 | (code >> 12)));
		buf_add_char(out, (char)(0x80 | ((code >> 6) & 0x3f)));
		buf_add_char(out, (char)(0x80 | (code & 0x3f)));
	} else {
		buf_add_char(out, (char)(0xf0 | (code >> 18)));
		buf_add_char(out, (char)(0x80 | ((code >> 12) & 0x3f)));
		buf_add_char(out, (char)(0x80 | ((code >> 6) & 0x3f)));
		buf_add_char(out, (char)(0x80 | (code & 0x3f)));
	}
	return (0);
}

/* Read a string literal, decoding it into OUT unless OUT is NULL. */
static int
scan_string(struct scanner *s, struct buf *out)
{
	int	 c;

	scan_advance(s);		/* the opening quote */
	for (;;) {
		if ((c = scan_peek(s)) == -1)
			return (-1);
		scan_advance(s);
		if (c == '"')
			return (0);
		if (c == '\\') {
			if ((c = scan_peek(s)) == -1)
				return (-1);
			scan_advance(s);
			switch (c) {
			case '"':
			case '\\':
			case '/':
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				if (scan_unicode(s, out) != 0)
					return (-1);
				continue;
			default:
				return (-1);
			}
		}
		if (out != NULL)
			buf_add_char(out, (char)c);
	}
}

/* Read a number or a literal (true, false, null). */
static int
scan_literal(struct scanner *s)
{
	size_t	 start = s->offset;
	int	 c;

	while ((c = scan_peek(s)) != -1 && c != ',' && c != ']' && c != '}' &&
	    c != ' ' && c != '\t' && c != '\n' && c != '\r')
		scan_advance(s);
	return (s->offset == start ? -1 : 0);
}

static int	scan_value(struct scanner *, size_t);

/* Read an object, recording the position of each member key. */
static int
scan_object(struct scanner *s)
{
	struct buf	 key;
	size_t		 saved, slot;
	int		 line, column, c;

	scan_advance(s);		/* { */
	scan_skip_space(s);
	if (scan_peek(s) == '}') {
		scan_advance(s);
		return (0);
	}
	for (;;) {
		scan_skip_space(s);
		if (scan_peek(s) != '"')
			return (-1);
		line = s->line;
		column = s->column;
		buf_init(&key);
		if (scan_string(s, &key) != 0) {
			free(key.data);
			return (-1);
		}
		saved = s->path.length;
		buf_add_key(&s->path, key.data);
		free(key.data);
		slot = index_add(s->index, s->path.data, line, column);

		scan_skip_space(s);
		if (scan_peek(s) != ':')
			return (-1);
		scan_advance(s);
		scan_skip_space(s);
		if (scan_value(s, slot) != 0)
			return (-1);
		buf_truncate(&s->path, saved);

		scan_skip_space(s);
		c = scan_peek(s);
		scan_advance(s);
		if (c == '}')
			return (0);
		if (c != ',')
			return (-1);
	}
}

/* Read an array, recording the position of each element. */
static int
scan_array(struct scanner *s)
{
	size_t	 saved, slot, i;
	int	 c;

	scan_advance(s);		/* [ */
	scan_skip_space(s);
	if (scan_peek(s) == ']') {
		scan_advance(s);
		return (0);
	}
	for (i = 0;; i++) {
		scan_skip_space(s);
		saved = s->path.length;
		buf_printf(&s->path, "[%zu]", i);
		slot = index_add(s->index, s->path.data, s->line, s->column);
		if (scan_value(s, slot) != 0)
			return (-1);
		buf_truncate(&s->path, saved);

		scan_skip_space(s);
		c = scan_peek(s);
		scan_advance(s);
		if (c == ']')
			return (0);
		if (c != ',')
			return (-1);
	}
}

/* Read one value and note where its text lies in position SLOT. */
static int
scan_value(struct scanner *s, size_t slot)
{
	size_t	 start = s->offset;
	int	 c, error;

	c = scan_peek(s);
	if (c == '{')
		error = scan_object(s);
	else if (c == '[')
		error = scan_array(s);
	else if (c == '"')
		error = scan_string(s, NULL);
	else
		error = scan_literal(s);
	s->index->list[slot].value_start = start;
	s->index->list[slot].value_length = s->offset - start;
	return (error);
}

/*
 * Build the position index of a text jansson has accepted.  The root value
 * has the empty path.  Should the scanner ever disagree with jansson, it
 * stops and keeps what it has; a position that is not found is shown as the
 * start of the file.
 */
static void
index_build(struct position_index *index, const char *text, size_t length)
{
	struct scanner	 s;
	size_t		 slot;

	memset(&s, 0, sizeof s);
	s.text = text;
	s.length = length;
	s.line = 1;
	s.column = 1;
	s.index = index;
	buf_init(&s.path);

	scan_skip_space(&s);
	slot = index_add(index, "", s.line, s.column);
	scan_value(&s, slot);

	free(s.path.data);
	if (index->count > 1)
		qsort(index->list, index->count, sizeof *index->list,
		    index_compare);
}

/*
 * Record a problem.  WHERE is the path whose position is shown (the key, the
 * element, or for a missing key the enclosing object); PATH is the key path
 * shown in the text, or "" for none.
 */
static void
problem_add(struct load *ld, bool warning, const char *where, const char *path,
    const char *message)
{
	const struct position	*p;
	struct pending_problem	*pp;
	struct buf		 b;
	int			 line = 1, column = 1;

	if ((p = index_find(&ld->index, where)) != NULL) {
		line = p->line;
		column = p->column;
	}

	buf_init(&b);
	buf_printf(&b, "%s:%d:%d: ", ld->name, line, column);
	if (*path != '\0')
		buf_printf(&b, "%s: ", path);
	buf_add_string(&b, message);

	if (ld->problems_count == ld->problems_size) {
		ld->problems_size = ld->problems_size == 0 ? 8 :
		    ld->problems_size * 2;
		ld->problems = xreallocarray(ld->problems, ld->problems_size,
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

/* Record an error about the value at PATH. */
static void
error_at(struct load *ld, const char *path, const char *fmt, ...)
{
	struct buf	 message;
	va_list		 ap;

	buf_init(&message);
	va_start(ap, fmt);
	buf_vprintf(&message, fmt, ap);
	va_end(ap);
	problem_add(ld, false, path, path, message.data);
	free(message.data);
}

/* Record a warning about the value at PATH. */
static void
warning_at(struct load *ld, const char *path, const char *fmt, ...)
{
	struct buf	 message;
	va_list		 ap;

	buf_init(&message);
	va_start(ap, fmt);
	buf_vprintf(&message, fmt, ap);
	va_end(ap);
	problem_add(ld, true, path, path, message.data);
	free(message.data);
}

/* Record that required key KEY is missing from the object at PARENT. */
static void
error_missing(struct load *ld, const char *parent, const char *key)
{
	char	*path = path_key(parent, key);

	problem_add(ld, false, parent, path, "required key is missing");
	free(path);
}

/* Order problems by position in the file, then by the order found. */
static int
problem_compare(const void *a, const void *b)
{
	const struct pending_problem	*pa = a, *pb = b;

	if (pa->line != pb->line)
		return (pa->line < pb->line ? -1 : 1);
	if (pa->column != pb->column)
		return (pa->column < pb->column ? -1 : 1);
	if (pa->sequence != pb->sequence)
		return (pa->sequence < pb->sequence ? -1 : 1);
	return (0);
}

/* Append one finished problem to the caller's list (taking TEXT). */
static void
problems_append(struct config_problems *problems, bool warning, char *text)
{
	if (problems == NULL) {
		free(text);
		return;
	}
	problems->list = xreallocarray(problems->list, problems->count + 1,
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
static void
problems_flush(struct load *ld, struct config_problems *problems)
{
	size_t	 i;

	if (ld->problems_count > 1)
		qsort(ld->problems, ld->problems_count, sizeof *ld->problems,
		    problem_compare);
	for (i = 0; i < ld->problems_count; i++)
		problems_append(problems, ld->problems[i].warning,
		    ld->problems[i].text);
	free(ld->problems);
	ld->problems = NULL;
	ld->problems_count = ld->problems_size = 0;
}

/* Describe VALUE for the "got ..." part of a message, as it was written. */
static char *
describe_value(struct load *ld, const char *path, json_t *value)
{
	const struct position	*p;
	struct buf		 b;

	buf_init(&b);
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		buf_add_string(&b, "an object");
		break;
	case JSON_ARRAY:
		buf_add_string(&b, "an array");
		break;
	case JSON_STRING:
		buf_add_string(&b, "the string ");
		buf_add_quoted(&b, json_string_value(value), DESCRIBE_MAX_BYTES);
		break;
	case JSON_INTEGER:
		buf_printf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		break;
	case JSON_REAL:
		/* Show the number as written: 1.5, 64.0, 1e3. */
		p = index_find(&ld->index, path);
		if (p != NULL && p->value_length > 0 &&
		    p->value_length <= DESCRIBE_MAX_BYTES)
			buf_add(&b, ld->text + p->value_start, p->value_length);
		else
			buf_printf(&b, "%g", json_real_value(value));
		break;
	case JSON_TRUE:
		buf_add_string(&b, "true");
		break;
	case JSON_FALSE:
		buf_add_string(&b, "false");
		break;
	case JSON_NULL:
		buf_add_string(&b, "null");
		break;
	}
	return (b.data);
}

/* Record "expected EXPECTED, got <VALUE>" and optional SUFFIX at PATH. */
static void
error_expected(struct load *ld, const char *path, json_t *value,
    const char *expected, const char *suffix)
{
	char	*got;

	got = describe_value(ld, path, value);
	error_at(ld, path, "expected %s, got %s%s", expected, got,
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
static char *
suggestion_text(const char *word, const char *const *candidates, size_t count)
{
	const char	*best;
	struct buf	 b;

	buf_init(&b);
	if ((best = suggest(word, candidates, count)) != NULL) {
		buf_add_string(&b, " (did you mean ");
		buf_add_quoted(&b, best, SIZE_MAX);
		buf_add_string(&b, "?)");
	}
	return (b.data);
}

/* Number of entries of a NULL-terminated list of names. */
static size_t
names_count(const char *const *names)
{
	size_t	 n = 0;

	while (names[n] != NULL)
		n++;
	return (n);
}

/* Report every member of OBJECT (at PATH) that is not one of KNOWN. */
static void
check_keys(struct load *ld, json_t *object, const char *path,
    const char *const *known)
{
	const char	*key;
	json_t		*value;
	char		*child, *hint;
	size_t		 count = names_count(known), i;

	json_object_foreach(object, key, value) {
		for (i = 0; i < count; i++) {
			if (strcmp(key, known[i]) == 0)
				break;
		}
		if (i != count)
			continue;
		child = path_key(path, key);
		hint = suggestion_text(key, known, count);
		error_at(ld, child, "unknown key%s", hint);
		free(hint);
		free(child);
	}
}

/* Rules for strings. */
static bool
valid_non_empty(const char *s)
{
	return (*s != '\0');
}

static bool
valid_absolute_path(const char *s)
{
	return (*s == '/');
}

static bool
valid_environment_name(const char *s)
{
	const char	*p;

	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	    *s == '_'))
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return (false);
	}
	return (true);
}

static bool
valid_backend_name(const char *s)
{
	const char	*p;

	if (*s == '\0' || strlen(s) > CONFIG_MAX_NAME_LENGTH)
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		    *p == '-'))
			return (false);
	}
	return (true);
}

static bool
valid_url(const char *s)
{
	const char	*p;
	size_t		 skip;

	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return (false);
	if (s[skip] == '\0' || s[skip] == '/')
		return (false);
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return (false);
	}
	return (true);
}

/* No MQTT topic level separator or wildcard: used in topics as one level. */
static bool
valid_topic_level(const char *s)
{
	return (*s != '\0' && strpbrk(s, "/+#") == NULL);
}

/* An MQTT topic filter: '+' and '#' only alone in a level, '#' last. */
static bool
valid_topic_filter(const char *s)
{
	const char	*level = s, *end;
	size_t		 n;

	if (*s == '\0' || strlen(s) > CONFIG_MAX_TOPIC_LENGTH)
		return (false);
	for (;;) {
		end = strchr(level, '/');
		n = end != NULL ? (size_t)(end - level) : strlen(level);
		if (memchr(level, '#', n) != NULL && (n != 1 || end != NULL))
			return (false);
		if (memchr(level, '+', n) != NULL && n != 1)
			return (false);
		if (end == NULL)
			return (true);
		level = end + 1;
	}
}

/* "HOST:PORT" or "[IPV6]:PORT", port 1 to 65535. */
static bool
valid_listen(const char *s)
{
	const char	*host_end, *port, *p;
	unsigned long	 value = 0;

	if (*s == '[') {
		if ((host_end = strchr(s, ']')) == NULL || host_end == s + 1)
			return (false);
		if (host_end[1] != ':')
			return (false);
		port = host_end + 2;
	} else {
		if ((host_end = strrchr(s, ':')) == NULL || host_end == s)
			return (false);
		/* An IPv6 address must be in brackets to tell it from the port. */
		if (memchr(s, ':', (size_t)(host_end - s)) != NULL)
			return (false);
		port = host_end + 1;
	}
	for (p = s; p < host_end; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return (false);
	}
	if (*port == '\0' || strlen(port) > 5)
		return (false);
	for (p = port; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return (false);
		value = value * 10 + (unsigned long)(*p - '0');
	}
	return (value >= 1 && value <= 65535);
}

/* Octal digits, at most 0777; parsed by mode_from_string(). */
static bool
valid_mode(const char *s)
{
	unsigned int	 value = 0;
	const char	*p;

	if (*s == '\0')
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return (false);
		value = value * 8 + (unsigned int)(*p - '0');
		if (value > 0777)
			return (false);
	}
	return (true);
}

/* The value of a string valid_mode() accepted. */
static mode_t
mode_from_string(const char *s)
{
	mode_t	 value = 0;

	for (; *s != '\0'; s++)
		value = value * 8 + (mode_t)(*s - '0');
	return (value);
}

static const struct string_rule rule_non_empty = {
	"a non-empty string", valid_non_empty
};
static const struct string_rule rule_absolute_path = {
	"an absolute path", valid_absolute_path
};
static const struct string_rule rule_environment_name = {
	"an environment variable name (letters, digits and '_', not starting "
	"with a digit)", valid_environment_name
};
static const struct string_rule rule_backend_name = {
	"a name of 1 to 64 letters, digits, '_', '.' or '-'", valid_backend_name
};
static const struct string_rule rule_url = {
	"a URL starting with http:// or https://", valid_url
};
static const struct string_rule rule_topic_level = {
	"a non-empty string without '/', '+' or '#'", valid_topic_level
};
static const struct string_rule rule_topic_filter = {
	"an MQTT topic filter", valid_topic_filter
};
static const struct string_rule rule_listen = {
	"\"HOST:PORT\" with a port from 1 to 65535 (such as \"127.0.0.1:9464\" "
	"or \"[::1]:9464\")", valid_listen
};
static const struct string_rule rule_mode = {
	"a string of octal digits from \"0000\" to \"0777\" (such as \"0660\")",
	valid_mode
};

/*
 * Check that VALUE (at PATH) is a string RULE accepts, or null when
 * MEMBER_NULLABLE is in FLAGS.  Returns the string, or NULL for null and on
 * error.
 */
static const char *
check_string(struct load *ld, const char *path, json_t *value, int flags,
    const struct string_rule *rule)
{
	char	*expected;

	if (json_is_null(value) && (flags & MEMBER_NULLABLE))
		return (NULL);
	if (json_is_string(value) && rule->valid(json_string_value(value)))
		return (json_string_value(value));
	if (flags & MEMBER_NULLABLE)
		expected = xasprintf("%s, or null", rule->expected);
	else
		expected = xstrdup(rule->expected);
	error_expected(ld, path, value, expected, NULL);
	free(expected);
	return (NULL);
}

/* Check that VALUE (at PATH) is an integer from MIN to MAX. */
static int
check_integer(struct load *ld, const char *path, json_t *value, json_int_t min,
    json_int_t max, json_int_t *out)
{
	char	*expected;

	if (json_is_integer(value) && json_integer_value(value) >= min &&
	    json_integer_value(value) <= max) {
		*out = json_integer_value(value);
		return (0);
	}
	expected = xasprintf("an integer from %" JSON_INTEGER_FORMAT " to %"
	    JSON_INTEGER_FORMAT, min, max);
	error_expected(ld, path, value, expected, NULL);
	free(expected);
	return (-1);
}

/*
 * Member KEY of OBJECT (whose path is PARENT), or NULL when absent; a missing
 * MEMBER_REQUIRED key is reported.  OBJECT may be NULL (an absent section),
 * so that its defaults are filled in the same way.
 */
static json_t *
member_value(struct load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;

	value = object == NULL ? NULL : json_object_get(object, key);
	if (value == NULL && object != NULL && (flags & MEMBER_REQUIRED))
		error_missing(ld, parent, key);
	return (value);
}

/* True when member KEY is present and not null. */
static bool
member_is_set(json_t *object, const char *key)
{
	json_t	*value;

	value = object == NULL ? NULL : json_object_get(object, key);
	return (value != NULL && !json_is_null(value));
}

/* A string member; a copy of FALLBACK when absent, NULL for null or error. */
static char *
member_string(struct load *ld, json_t *object, const char *parent,
    const char *key, int flags, const struct string_rule *rule,
    const char *fallback)
{
	json_t		*value;
	const char	*s;
	char		*path;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return (xstrdup(fallback));
	path = path_key(parent, key);
	s = check_string(ld, path, value, flags, rule);
	free(path);
	return (xstrdup(s));
}

/* An integer member from MIN to MAX; FALLBACK when absent or wrong. */
static json_int_t
member_integer(struct load *ld, json_t *object, const char *parent,
    const char *key, json_int_t min, json_int_t max, json_int_t fallback)
{
	json_t		*value;
	json_int_t	 n = fallback;
	char		*path;

	if ((value = member_value(ld, object, parent, key, 0)) == NULL)
		return (fallback);
	path = path_key(parent, key);
	if (check_integer(ld, path, value, min, max, &n) != 0)
		n = fallback;
	free(path);
	return (n);
}

/* A boolean member; FALLBACK when absent or wrong. */
static bool
member_bool(struct load *ld, json_t *object, const char *parent,
    const char *key, bool fallback)
{
	json_t	*value;
	char	*path;

	if ((value = member_value(ld, object, parent, key, 0)) == NULL)
		return (fallback);
	if (json_is_boolean(value))
		return (json_is_true(value));
	path = path_key(parent, key);
	error_expected(ld, path, value, "true or false", NULL);
	free(path);
	return (fallback);
}

/*
 * A member that must be one of NAMES (NULL-terminated).  Returns its index,
 * FALLBACK when absent, or -1 on error.
 */
static int
member_choice(struct load *ld, json_t *object, const char *parent,
    const char *key, int flags, const char *const *names, int fallback)
{
	json_t		*value;
	struct buf	 expected;
	char		*path, *hint = NULL;
	size_t		 count = names_count(names), i;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return ((flags & MEMBER_REQUIRED) && object != NULL ? -1 :
		    fallback);
	if (json_is_string(value)) {
		for (i = 0; i < count; i++) {
			if (strcmp(json_string_value(value), names[i]) == 0)
				return ((int)i);
		}
		hint = suggestion_text(json_string_value(value), names, count);
	}

	buf_init(&expected);
	if (count > 2)
		buf_add_string(&expected, "one of ");
	for (i = 0; i < count; i++) {
		if (i > 0)
			buf_add_string(&expected, i + 1 == count ? " or " : ", ");
		buf_add_quoted(&expected, names[i], SIZE_MAX);
	}
	path = path_key(parent, key);
	error_expected(ld, path, value, expected.data, hint);
	free(path);
	free(expected.data);
	free(hint);
	return (-1);
}

/* An object member, or NULL when absent or wrong. */
static json_t *
member_object(struct load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;
	char	*path;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return (NULL);
	if (json_is_object(value))
		return (value);
	path = path_key(parent, key);
	error_expected(ld, path, value, "an object", NULL);
	free(path);
	return (NULL);
}

/* An array member, or NULL when absent or wrong. */
static json_t *
member_array(struct load *ld, json_t *object, const char *parent,
    const char *key, int flags)
{
	json_t	*value;
	char	*path;

	if ((value = member_value(ld, object, parent, key, flags)) == NULL)
		return (NULL);
	if (json_is_array(value))
		return (value);
	path = path_key(parent, key);
	error_expected(ld, path, value, "an array", NULL);
	free(path);
	return (NULL);
}

/*
 * An array member of strings that RULE accepts.  Returns copies of the
 * valid ones; errors are reported for the others.
 */
static char **
member_string_list(struct load *ld, json_t *object, const char *parent,
    const char *key, const struct string_rule *rule, size_t *count)
{
	json_t		*array, *value;
	const char	*s;
	char		**list, *path, *element;
	size_t		 i;

	*count = 0;
	if ((array = member_array(ld, object, parent, key, 0)) == NULL)
		return (NULL);
	list = xcalloc(json_array_size(array), sizeof *list);
	path = path_key(parent, key);
	json_array_foreach(array, i, value) {
		element = path_element(path, i);
		if ((s = check_string(ld, element, value, 0, rule)) != NULL)
			list[(*count)++] = xstrdup(s);
		free(element);
	}
	free(path);
	return (list);
}

/* control.admin_uids: user ids, excluding (uid_t)-1. */
static void
check_admin_uids(struct load *ld, json_t *control)
{
	struct config	*c = ld->config;
	json_t		*array, *value;
	json_int_t	 uid;
	char		*element;
	size_t		 i;

	array = member_array(ld, control, "control", "admin_uids", 0);
	if (array == NULL)
		return;
	c->control.admin_uids = xcalloc(json_array_size(array),
	    sizeof *c->control.admin_uids);
	json_array_foreach(array, i, value) {
		element = path_element("control.admin_uids", i);
		if (check_integer(ld, element, value, 0, 4294967294LL,
		    &uid) == 0)
			c->control.admin_uids[c->control.admin_uids_count++] =
			    (uid_t)uid;
		free(element);
	}
}

/* S as a JSON string literal, for a message. */
static char *
quoted(const char *s)
{
	struct buf	 b;

	buf_init(&b);
	buf_add_quoted(&b, s, DESCRIBE_MAX_BYTES);
	return (b.data);
}

/*
 * control.admin_groups: group names, looked up now.  A group that does not
 * exist is only a warning: the same file may serve several machines, and
 * root is an admin in any case.
 */
static void
check_admin_groups(struct load *ld, json_t *control)
{
	struct config	*c = ld->config;
	struct group	*gr;
	json_t		*array, *value;
	const char	*name;
	char		*element, *shown;
	size_t		 i;
	int		 saved_errno;

	array = member_array(ld, control, "control", "admin_groups", 0);
	if (array == NULL)
		return;
	c->control.admin_groups = xcalloc(json_array_size(array),
	    sizeof *c->control.admin_groups);
	c->control.admin_gids = xcalloc(json_array_size(array),
	    sizeof *c->control.admin_gids);
	json_array_foreach(array, i, value) {
		element = path_element("control.admin_groups", i);
		name = check_string(ld, element, value, 0, &rule_non_empty);
		if (name == NULL) {
			free(element);
			continue;
		}
		c->control.admin_groups[c->control.admin_groups_count++] =
		    xstrdup(name);

		errno = 0;
		gr = getgrnam(name);
		saved_errno = errno;
		if (gr != NULL) {
			c->control.admin_gids[c->control.admin_gids_count++] =
			    gr->gr_gid;
			free(element);
			continue;
		}
		/* getgrnam(3): these mean "not found", not a failure. */
		shown = quoted(name);
		if (saved_errno == 0 || saved_errno == ENOENT ||
		    saved_errno == ESRCH || saved_errno == EBADF ||
		    saved_errno == EPERM)
			warning_at(ld, element, "no group named %s on this "
			    "system; ignored", shown);
		else
			warning_at(ld, element, "cannot look up group %s: %s; "
			    "ignored", shown, strerror(saved_errno));
		free(shown);
		free(element);
	}
}

/* The control section: the socket, who is an admin, and the limits. */
static void
check_control(struct load *ld, json_t *control)
{
	static const char *const keys[] = {
		"socket", "mode", "admin_uids", "admin_groups", "max_clients",
		"max_request_bytes", "queue_depth", "command_timeout_s",
		"idle_timeout_s", "max_reply_bytes_queued",
		"reserved_admin_clients", "max_clients_per_uid", NULL
	};
	struct config		*c = ld->config;
	struct sockaddr_un	 sun;
	char			*mode;

	check_keys(ld, control, "control", keys);

	c->control.socket = member_string(ld, control, "control", "socket", 0,
	    &rule_absolute_path, HR_DEFAULT_SOCKET);
	if (c->control.socket != NULL &&
	    strlen(c->control.socket) >= sizeof sun.sun_path) {
		error_at(ld, "control.socket", "expected an absolute path "
		    "shorter than %zu bytes, got a path of %zu bytes",
		    sizeof sun.sun_path, strlen(c->control.socket));
	}

	c->control.mode = CONFIG_DEFAULT_MODE;
	mode = member_string(ld, control, "control", "mode", 0, &rule_mode,
	    NULL);
	if (mode != NULL)
		c->control.mode = mode_from_string(mode);
	free(mode);

	check_admin_uids(ld, control);
	check_admin_groups(ld, control);

	c->control.max_clients = member_integer(ld, control, "control",
	    "max_clients", 1, 4096, CONFIG_DEFAULT_MAX_CLIENTS);
	c->control.max_request_bytes = member_integer(ld, control, "control",
	    "max_request_bytes", 256, 16777216,
	    CONFIG_DEFAULT_MAX_REQUEST_BYTES);
	c->control.queue_depth = member_integer(ld, control, "control",
	    "queue_depth", 1, 1024, CONFIG_DEFAULT_QUEUE_DEPTH);
	c->control.command_timeout_s = member_integer(ld, control, "control",
	    "command_timeout_s", 1, 86400, CONFIG_DEFAULT_COMMAND_TIMEOUT_S);
	c->control.idle_timeout_s = member_integer(ld, control, "control",
	    "idle_timeout_s", 1, 86400, CONFIG_DEFAULT_IDLE_TIMEOUT_S);
	c->control.max_reply_bytes_queued = member_integer(ld, control,
	    "control", "max_reply_bytes_queued", 65536, 1073741824,
	    CONFIG_DEFAULT_MAX_REPLY_BYTES_QUEUED);
	c->control.max_clients_per_uid = member_integer(ld, control,
	    "control", "max_clients_per_uid", 1, 4096,
	    CONFIG_DEFAULT_MAX_CLIENTS_PER_UID);
	/*
	 * The reserve must leave a slot for everyone else.  Unset, it is
	 * the default cut to max_clients - 1 (a tiny max_clients in a test
	 * or a one-operator machine stays valid); set, it must fit.
	 */
	if (member_is_set(control, "reserved_admin_clients")) {
		c->control.reserved_admin_clients = member_integer(ld, control,
		    "control", "reserved_admin_clients", 0, 4095, 0);
		if (c->control.reserved_admin_clients >=
		    c->control.max_clients && c->control.max_clients > 0)
			error_at(ld, "control.reserved_admin_clients",
			    "must be less than control.max_clients (%d), so "
			    "that non-admin clients get a slot",
			    c->control.max_clients);
	} else {
		c->control.reserved_admin_clients =
		    CONFIG_DEFAULT_RESERVED_ADMIN_CLIENTS;
		if (c->control.reserved_admin_clients >=
		    c->control.max_clients)
			c->control.reserved_admin_clients =
			    c->control.max_clients - 1;
	}
}

/* The drain section (NULL when absent: defaults only). */
static void
check_drain(struct load *ld, json_t *drain)
{
	static const char *const keys[] = { "timeout_s", NULL };

	if (drain != NULL)
		check_keys(ld, drain, "drain", keys);
	ld->config->drain.timeout_s = member_integer(ld, drain, "drain",
	    "timeout_s", 0, 86400, CONFIG_DEFAULT_DRAIN_TIMEOUT_S);
}

/* One element of llm.backends, at PATH. */
static void
check_backend(struct load *ld, json_t *object, const char *path,
    struct config_backend *b)
{
	static const char *const keys[] = {
		"name", "provider", "base_url", "model", "api_key_env",
		"api_key_file", "timeout_s", "max_in_flight", NULL
	};
	static const char *const providers[] = {
		"openai", "ollama", "anthropic", NULL
	};
	char	*child;
	int	 provider;

	if (!json_is_object(object)) {
		error_expected(ld, path, object, "an object", NULL);
		return;
	}
	check_keys(ld, object, path, keys);

	b->name = member_string(ld, object, path, "name", MEMBER_REQUIRED,
	    &rule_backend_name, NULL);
	provider = member_choice(ld, object, path, "provider", MEMBER_REQUIRED,
	    providers, -1);
	if (provider >= 0)
		b->provider = xstrdup(providers[provider]);
	b->base_url = member_string(ld, object, path, "base_url",
	    MEMBER_REQUIRED, &rule_url, NULL);
	b->model = member_string(ld, object, path, "model", MEMBER_REQUIRED,
	    &rule_non_empty, NULL);
	b->api_key_env = member_string(ld, object, path, "api_key_env",
	    MEMBER_NULLABLE, &rule_environment_name, NULL);
	b->api_key_file = member_string(ld, object, path, "api_key_file",
	    MEMBER_NULLABLE, &rule_absolute_path, NULL);
	if (member_is_set(object, "api_key_env") &&
	    member_is_set(object, "api_key_file")) {
		child = path_key(path, "api_key_file");
		error_at(ld, child, "cannot be set together with api_key_env; "
		    "set one of them (or neither)");
		free(child);
	}
	b->timeout_s = member_integer(ld, object, path, "timeout_s", 1, 3600,
	    60);
	b->max_in_flight = member_integer(ld, object, path, "max_in_flight", 1,
	    10000, 64);
}

/*
 * The names the back ends of BACKENDS claim, as written (even when a name
 * is otherwise invalid), so that a bad name is reported once and not again
 * by every fallback entry that uses it.  Entries without a name are NULL.
 */
static const char **
backend_names(json_t *backends, size_t *count)
{
	const char	**names;
	json_t		 *value, *name;
	size_t		  i;

	*count = json_array_size(backends);
	names = xcalloc(*count, sizeof *names);
	json_array_foreach(backends, i, value) {
		name = json_is_object(value) ? json_object_get(value, "name") :
		    NULL;
		if (json_is_string(name))
			names[i] = json_string_value(name);
	}
	return (names);
}

/* Index of NAME in NAMES (entries may be NULL), or -1. */
static ssize_t
name_find(const char **names, size_t count, const char *name)
{
	size_t	 i;

	for (i = 0; i < count; i++) {
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return ((ssize_t)i);
	}
	return (-1);
}

/*
 * llm.fallback: back-end names, each known and listed once.  When absent,
 * every back end in file order.
 */
static void
check_fallback(struct load *ld, json_t *object, json_t *backends)
{
	struct config_llm	 *llm = ld->config->llm;
	const char		**names, **known;
	json_t			 *array, *value;
	const char		 *name;
	char			 *element, *hint, *shown;
	size_t			  count, known_count, i;
	ssize_t			  found;

	names = backend_names(backends, &count);

	array = member_array(ld, object, "llm", "fallback", 0);
	if (array == NULL) {
		if (json_object_get(object, "fallback") == NULL) {
			llm->fallback = xcalloc(count, sizeof *llm->fallback);
			for (i = 0; i < count; i++) {
				if (names[i] != NULL)
					llm->fallback[llm->fallback_count++] =
					    xstrdup(names[i]);
			}
		}
		free(names);
		return;
	}
	if (json_array_size(array) == 0)
		error_at(ld, "llm.fallback", "expected a non-empty array of "
		    "back-end names (leave it out to try every back end in "
		    "order)");

	/* Candidates for suggestions: the named back ends only. */
	known = xcalloc(count, sizeof *known);
	known_count = 0;
	for (i = 0; i < count; i++) {
		if (names[i] != NULL)
			known[known_count++] = names[i];
	}

	llm->fallback = xcalloc(json_array_size(array), sizeof *llm->fallback);
	json_array_foreach(array, i, value) {
		element = path_element("llm.fallback", i);
		name = check_string(ld, element, value, 0, &rule_non_empty);
		if (name == NULL) {
			free(element);
			continue;
		}
		shown = quoted(name);
		found = name_find((const char **)llm->fallback,
		    llm->fallback_count, name);
		if (name_find(names, count, name) == -1) {
			hint = suggestion_text(name, known, known_count);
			error_at(ld, element, "no back end is named %s%s",
			    shown, hint);
			free(hint);
		} else if (found != -1)
			error_at(ld, element, "back end %s is listed twice",
			    shown);
		else
			llm->fallback[llm->fallback_count++] = xstrdup(name);
		free(shown);
		free(element);
	}
	free(known);
	free(names);
}

/* The llm section: back ends and the order they are tried in. */
static void
check_llm(struct load *ld, json_t *object)
{
	static const char *const keys[] = {
		"backends", "fallback", "probe_on_reload", "retire_timeout_s",
		"dialogue_history_bytes", NULL
	};
	struct config_llm	*llm;
	json_t			*backends, *value;
	char			*element, *shown, *other;
	size_t			 i, j;

	llm = ld->config->llm = xcalloc(1, sizeof *ld->config->llm);
	check_keys(ld, object, "llm", keys);

	backends = member_array(ld, object, "llm", "backends",
	    MEMBER_REQUIRED);
	if (backends != NULL) {
		if (json_array_size(backends) == 0)
			error_at(ld, "llm.backends", "expected a non-empty "
			    "array of back ends");
		else if (json_array_size(backends) > CONFIG_MAX_BACKENDS)
			error_at(ld, "llm.backends", "expected at most %d back "
			    "ends, got %zu", CONFIG_MAX_BACKENDS,
			    json_array_size(backends));
		llm->backends = xcalloc(json_array_size(backends),
		    sizeof *llm->backends);
		llm->backends_count = json_array_size(backends);
		json_array_foreach(backends, i, value) {
			element = path_element("llm.backends", i);
			check_backend(ld, value, element, &llm->backends[i]);
			free(element);
		}

		/* A name is used once; report each repeat at its name. */
		for (i = 0; i < llm->backends_count; i++) {
			if (llm->backends[i].name == NULL)
				continue;
			for (j = 0; j < i; j++) {
				if (llm->backends[j].name != NULL &&
				    strcmp(llm->backends[i].name,
				    llm->backends[j].name) == 0)
					break;
			}
			if (j == i)
				continue;
			element = xasprintf("llm.backends[%zu].name", i);
			other = path_element("llm.backends", j);
			shown = quoted(llm->backends[i].name);
			error_at(ld, element, "duplicate back-end name %s "
			    "(already used by %s)", shown, other);
			free(shown);
			free(other);
			free(element);
		}
		check_fallback(ld, object, backends);
	}

	llm->probe_on_reload = member_bool(ld, object, "llm",
	    "probe_on_reload", true);
	llm->retire_timeout_s = member_integer(ld, object, "llm",
	    "retire_timeout_s", 1, 86400, 120);
	llm->dialogue_history_bytes = member_integer(ld, object, "llm",
	    "dialogue_history_bytes", 65536, 4294967296LL,
	    CONFIG_DEFAULT_DIALOGUE_HISTORY_BYTES);
}

/* hsp.broker.tls: certificate authority, and an optional client cert. */
static void
check_tls(struct load *ld, json_t *object)
{
	static const char *const keys[] = {
		"ca_file", "ca_path", "cert_file", "key_file", NULL
	};
	static const char	*path = "hsp.broker.tls";
	struct config_tls	*tls;

	tls = ld->config->hsp->tls = xcalloc(1, sizeof *tls);
	check_keys(ld, object, path, keys);
	tls->ca_file = member_string(ld, object, path, "ca_file",
	    MEMBER_NULLABLE, &rule_absolute_path, NULL);
	tls->ca_path = member_string(ld, object, path, "ca_path",
	    MEMBER_NULLABLE, &rule_absolute_path, NULL);
	tls->cert_file = member_string(ld, object, path, "cert_file",
	    MEMBER_NULLABLE, &rule_absolute_path, NULL);
	tls->key_file = member_string(ld, object, path, "key_file",
	    MEMBER_NULLABLE, &rule_absolute_path, NULL);

	if (!member_is_set(object, "ca_file") &&
	    !member_is_set(object, "ca_path"))
		error_at(ld, path, "set ca_file or ca_path (or both) to "
		    "verify the broker");
	if (member_is_set(object, "cert_file") !=
	    member_is_set(object, "key_file"))
		error_at(ld, path, "cert_file and key_file go together: set "
		    "both or neither");
}

/* hsp.broker: where the broker is and how to log in. */
static void
check_broker(struct load *ld, json_t *object)
{
	static const char *const keys[] = {
		"host", "port", "username", "password_file", "tls",
		"keepalive_s", NULL
	};
	static const char	*path = "hsp.broker";
	struct config_hsp	*hsp = ld->config->hsp;
	json_t			*tls;

	check_keys(ld, object, path, keys);
	hsp->host = member_string(ld, object, path, "host", 0, &rule_non_empty,
	    "127.0.0.1");
	hsp->port = member_integer(ld, object, path, "port", 1, 65535, 1883);
	hsp->username = member_string(ld, object, path, "username",
	    MEMBER_NULLABLE, &rule_non_empty, NULL);
	hsp->password_file = member_string(ld, object, path, "password_file",
	    MEMBER_NULLABLE, &rule_absolute_path, NULL);
	tls = json_object_get(object, "tls");
	if (json_is_object(tls))
		check_tls(ld, tls);
	else if (tls != NULL && !json_is_null(tls))
		error_expected(ld, "hsp.broker.tls", tls, "an object, or null",
		    NULL);
	hsp->keepalive_s = member_integer(ld, object, path, "keepalive_s", 5,
	    65535, 60);
}

/* The hsp section: the broker connection and the MQTT session. */
static void
check_hsp(struct load *ld, json_t *object)
{
	static const char *const keys[] = {
		"broker", "protocol", "session", "share_group",
		"extra_subscriptions", "connect_timeout_s", "retire_timeout_s",
		"dedup_window", "session_expiry_s", "max_message_bytes",
		"max_tasks_in_flight", "dedup_window_bytes",
		"discovery_max_bytes", NULL
	};
	static const char *const protocols[] = { "mqttv5", "mqttv311", NULL };
	static const char *const sessions[] = { "clean", "persistent", NULL };
	struct config_hsp	*hsp;
	json_t			*broker;

	hsp = ld->config->hsp = xcalloc(1, sizeof *ld->config->hsp);
	check_keys(ld, object, "hsp", keys);

	broker = member_object(ld, object, "hsp", "broker", MEMBER_REQUIRED);
	if (broker != NULL)
		check_broker(ld, broker);

	hsp->protocol = member_choice(ld, object, "hsp", "protocol", 0,
	    protocols, 0) == 1 ? 4 : 5;
	hsp->persistent = member_choice(ld, object, "hsp", "session", 0,
	    sessions, 0) == 1;
	/*
	 * A persistent session needs a session expiry and a way to end the
	 * session of a connector a reload replaced: both are MQTT 5.
	 */
	if (hsp->persistent && hsp->protocol == 4)
		error_at(ld, "hsp.session", "a \"persistent\" session needs "
		    "\"protocol\": \"mqttv5\" (MQTT 3.1.1 has no session "
		    "expiry and cannot end the session of a replaced "
		    "connector)");
	hsp->share_group = member_string(ld, object, "hsp", "share_group",
	    MEMBER_NULLABLE, &rule_topic_level, NULL);
	hsp->extra_subscriptions = member_string_list(ld, object, "hsp",
	    "extra_subscriptions", &rule_topic_filter,
	    &hsp->extra_subscriptions_count);
	hsp->connect_timeout_s = member_integer(ld, object, "hsp",
	    "connect_timeout_s", 1, 600, 10);
	hsp->retire_timeout_s = member_integer(ld, object, "hsp",
	    "retire_timeout_s", 1, 3600, 30);
	hsp->dedup_window = member_integer(ld, object, "hsp", "dedup_window", 1,
	    16777216, 65536);
	hsp->session_expiry_s = member_integer(ld, object, "hsp",
	    "session_expiry_s", 1, 2147483647, 86400);
	/* 268435455: the largest packet MQTT can carry. */
	hsp->max_message_bytes = member_integer(ld, object, "hsp",
	    "max_message_bytes", 1024, 268435455,
	    CONFIG_DEFAULT_MAX_MESSAGE_BYTES);
	hsp->max_tasks_in_flight = member_integer(ld, object, "hsp",
	    "max_tasks_in_flight", 1, 65535,
	    CONFIG_DEFAULT_MAX_TASKS_IN_FLIGHT);
	hsp->dedup_window_bytes = member_integer(ld, object, "hsp",
	    "dedup_window_bytes", 65536, 4294967296LL,
	    CONFIG_DEFAULT_DEDUP_WINDOW_BYTES);
	hsp->discovery_max_bytes = member_integer(ld, object, "hsp",
	    "discovery_max_bytes", 65536, 4294967296LL,
	    CONFIG_DEFAULT_DISCOVERY_MAX_BYTES);
}

/* The metrics section (NULL when absent: defaults only). */
static void
check_metrics(struct load *ld, json_t *metrics)
{
	static const char *const keys[] = {
		"listen", "max_connections", "timeout_s", NULL
	};

	if (metrics != NULL)
		check_keys(ld, metrics, "metrics", keys);
	ld->config->metrics.listen = member_string(ld, metrics, "metrics",
	    "listen", MEMBER_NULLABLE, &rule_listen, NULL);
	ld->config->metrics.max_connections = member_integer(ld, metrics,
	    "metrics", "max_connections", 1, 1024,
	    CONFIG_DEFAULT_METRICS_MAX_CONNECTIONS);
	ld->config->metrics.timeout_s = member_integer(ld, metrics, "metrics",
	    "timeout_s", 1, 3600, CONFIG_DEFAULT_METRICS_TIMEOUT_S);
}

/* The whole document. */
static void
check_document(struct load *ld, json_t *root)
{
	static const char *const keys[] = {
		"ai_id", "control", "drain", "llm", "hsp", "metrics", NULL
	};
	struct config	*c = ld->config;
	json_t		*section;
	char		*got;

	if (!json_is_object(root)) {
		got = describe_value(ld, "", root);
		error_at(ld, "", "expected an object at the top level, got %s",
		    got);
		free(got);
		return;
	}
	check_keys(ld, root, "", keys);

	c->ai_id = member_string(ld, root, "", "ai_id", 0, &rule_topic_level,
	    NULL);

	section = member_object(ld, root, "", "control", MEMBER_REQUIRED);
	if (section != NULL)
		check_control(ld, section);

	check_drain(ld, member_object(ld, root, "", "drain", 0));

	if ((section = member_object(ld, root, "", "llm", 0)) != NULL)
		check_llm(ld, section);

	if ((section = member_object(ld, root, "", "hsp", 0)) != NULL) {
		check_hsp(ld, section);
		/* The agent's topics are built from its id. */
		if (json_object_get(root, "ai_id") == NULL)
			error_at(ld, "hsp", "requires the top-level key "
			    "\"ai_id\" (the agent's id)");
	}

	check_metrics(ld, member_object(ld, root, "", "metrics", 0));
}

/*
 * Read the configuration file into memory, NUL-terminated.  It must be a
 * regular file of at most CONFIG_MAX_FILE_BYTES: a FIFO put in its place
 * must not hang the loop on the next reload, nor a huge file stall it.
 */
static int
read_file(const char *path, char **text, size_t *length,
    struct config_problems *problems)
{
	char	*cause;

	if (file_read(path, CONFIG_MAX_FILE_BYTES, text, length, NULL,
	    &cause) == 0)
		return (0);
	problems_append(problems, false, xasprintf("%s: %s", path,
	    cause != NULL ? cause : "out of memory"));
	free(cause);
	return (-1);
}

/*
 * A copy of TEXT with its comment lines blanked out: lines whose first
 * non-blank character is '#' (the shipped example relies on them).  JSON has
 * no comments, but no line of valid JSON can start with '#', since a string
 * cannot span lines, so this changes the meaning of nothing else.  Comments
 * become spaces rather than disappearing, so every line and column stays
 * where the operator sees it.
 */
static char *
strip_comment_lines(const char *text, size_t length)
{
	char	*copy;
	size_t	 i;
	bool	 line_start = true, in_comment = false;

	copy = xmalloc(length + 1);
	if (length > 0)
		memcpy(copy, text, length);
	copy[length] = '\0';
	for (i = 0; i < length; i++) {
		if (copy[i] == '\n') {
			line_start = true;
			in_comment = false;
		} else if (in_comment)
			copy[i] = ' ';
		else if (line_start && copy[i] == '#') {
			in_comment = true;
			copy[i] = ' ';
		} else if (copy[i] != ' ' && copy[i] != '\t' && copy[i] != '\r')
			line_start = false;
	}
	return (copy);
}

struct config *
config_load(const char *path, struct config_problems *problems)
{
	struct config	*c;
	char		*text;
	size_t		 length;

	if (read_file(path, &text, &length, problems) != 0)
		return (NULL);
	c = config_load_buffer(path, text, length, problems);
	free(text);
	return (c);
}

struct config *
config_load_buffer(const char *name, const char *text, size_t length,
    struct config_problems *problems)
{
	struct load	 ld;
	json_error_t	 error;
	json_t		*root;
	struct config	*c = NULL;
	char		*json;

	json = strip_comment_lines(text, length);

	/*
	 * Duplicate keys are rejected: with jansson the last one would win
	 * silently, and that is the kind of mistake a reload must not hide.
	 */
	root = json_loadb(json, length, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    &error);
	if (root == NULL) {
		problems_append(problems, false, xasprintf("%s:%d:%d: invalid "
		    "JSON: %s", name, error.line < 1 ? 1 : error.line,
		    error.column < 1 ? 1 : error.column, error.text));
		goto out;
	}

	memset(&ld, 0, sizeof ld);
	ld.name = name;
	ld.text = json;
	index_build(&ld.index, json, length);

	c = xcalloc(1, sizeof *c);
	c->references = 1;
	c->path = xstrdup(name);
	c->root = root;
	ld.config = c;
	check_document(&ld, root);

	problems_flush(&ld, problems);
	index_free(&ld.index);
	if (ld.errors != 0) {
		config_free(c);
		c = NULL;
	}
out:
	free(json);
	return (c);
}

/* Release a counted list of strings. */
static void
free_strings(char **list, size_t count)
{
	size_t	 i;

	for (i = 0; i < count; i++)
		free(list[i]);
	free(list);
}

/* Release the llm section. */
static void
free_llm(struct config_llm *llm)
{
	struct config_backend	*b;
	size_t			 i;

	if (llm == NULL)
		return;
	for (i = 0; i < llm->backends_count; i++) {
		b = &llm->backends[i];
		free(b->name);
		free(b->provider);
		free(b->base_url);
		free(b->model);
		free(b->api_key_env);
		free(b->api_key_file);
	}
	free(llm->backends);
	free_strings(llm->fallback, llm->fallback_count);
	free(llm);
}

/* Release the hsp section. */
static void
free_hsp(struct config_hsp *hsp)
{
	if (hsp == NULL)
		return;
	free(hsp->host);
	free(hsp->username);
	free(hsp->password_file);
	if (hsp->tls != NULL) {
		free(hsp->tls->ca_file);
		free(hsp->tls->ca_path);
		free(hsp->tls->cert_file);
		free(hsp->tls->key_file);
		free(hsp->tls);
	}
	free(hsp->share_group);
	free_strings(hsp->extra_subscriptions, hsp->extra_subscriptions_count);
	free(hsp);
}

/* Take another reference to C. */
struct config *
config_ref(struct config *c)
{
	c->references++;
	return (c);
}

/* Drop a reference; the last one frees the configuration. */
void
config_free(struct config *c)
{
	if (c == NULL || --c->references > 0)
		return;
	free(c->path);
	json_decref(c->root);
	free(c->ai_id);
	free(c->control.socket);
	free(c->control.admin_uids);
	free_strings(c->control.admin_groups, c->control.admin_groups_count);
	free(c->control.admin_gids);
	free_llm(c->llm);
	free_hsp(c->hsp);
	free(c->metrics.listen);
	free(c);
}

void
config_problems_clear(struct config_problems *problems)
{
	size_t	 i;

	if (problems == NULL)
		return;
	for (i = 0; i < problems->count; i++)
		free(problems->list[i].text);
	free(problems->list);
	memset(problems, 0, sizeof *problems);
}

/* Two optional strings are the same (both NULL counts as the same). */
static bool
strings_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

bool
config_section_changed(const struct config *old, const struct config *new,
    const char *name)
{
	json_t	*a, *b;

	a = old == NULL ? NULL : json_object_get(old->root, name);
	b = new == NULL ? NULL : json_object_get(new->root, name);
	if (a == NULL && b == NULL)
		return (false);
	if (a == NULL || b == NULL || !json_equal(a, b))
		return (true);
	/* The HSP connector subscribes to topics built from ai_id. */
	if (strcmp(name, "hsp") == 0)
		return (!strings_equal(old->ai_id, new->ai_id));
	return (false);
}
