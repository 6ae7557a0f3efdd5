/*
 * config-scan.c -- where each key and array element stands in the text.
 *
 * jansson keeps no positions, so once it has accepted a text a small
 * scanner walks the same text again and records the line and column of
 * every member key and array element under its key path, and where its
 * value lies (to quote a number back as written).  Problems are located
 * through this index.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"

/* The scanner's cursor over the text. */
struct scanner {
	const char			*text;
	size_t				 length;
	size_t				 offset;
	int				 line;
	int				 column;
	struct config_buf		 path;
	struct config_position_index	*index;
};

static size_t
index_add(struct config_position_index *index, const char *path, int line,
    int column)
{
	struct config_position	*p;

	if (index->count == index->size) {
		index->size = index->size == 0 ? 64 : index->size * 2;
		index->list = config_xreallocarray(index->list, index->size,
		    sizeof *index->list);
	}
	p = &index->list[index->count];
	p->path = config_xstrdup(path);
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
	const struct config_position	*pa = a, *pb = b;

	return (strcmp(pa->path, pb->path));
}

/* Find where PATH stands, or NULL. */
const struct config_position *
config_index_find(const struct config_position_index *index, const char *path)
{
	struct config_position	 key = { .path = (char *)path };

	if (index->count == 0)
		return (NULL);
	return (bsearch(&key, index->list, index->count, sizeof *index->list,
	    index_compare));
}

/* Release an index. */
void
config_index_free(struct config_position_index *index)
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
scan_unicode(struct scanner *s, struct config_buf *out)
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
		config_buf_add_char(out, (char)code);
	else if (code < 0x800) {
		config_buf_add_char(out, (char)(0xc0 | (code >> 6)));
		config_buf_add_char(out, (char)(0x80 | (code & 0x3f)));
	} else if (code < 0x10000) {
		config_buf_add_char(out, (char)(0xe0 | (code >> 12)));
		config_buf_add_char(out, (char)(0x80 | ((code >> 6) & 0x3f)));
		config_buf_add_char(out, (char)(0x80 | (code & 0x3f)));
	} else {
		config_buf_add_char(out, (char)(0xf0 | (code >> 18)));
		config_buf_add_char(out, (char)(0x80 | ((code >> 12) & 0x3f)));
		config_buf_add_char(out, (char)(0x80 | ((code >> 6) & 0x3f)));
		config_buf_add_char(out, (char)(0x80 | (code & 0x3f)));
	}
	return (0);
}

/* Read a string literal, decoding it into OUT unless OUT is NULL. */
static int
scan_string(struct scanner *s, struct config_buf *out)
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
			config_buf_add_char(out, (char)c);
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
	struct config_buf	 key;
	size_t			 saved, slot;
	int			 line, column, c;

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
		config_buf_init(&key);
		if (scan_string(s, &key) != 0) {
			free(key.data);
			return (-1);
		}
		saved = s->path.length;
		config_buf_add_key(&s->path, key.data);
		free(key.data);
		slot = index_add(s->index, s->path.data, line, column);

		scan_skip_space(s);
		if (scan_peek(s) != ':')
			return (-1);
		scan_advance(s);
		scan_skip_space(s);
		if (scan_value(s, slot) != 0)
			return (-1);
		config_buf_truncate(&s->path, saved);

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
		config_buf_printf(&s->path, "[%zu]", i);
		slot = index_add(s->index, s->path.data, s->line, s->column);
		if (scan_value(s, slot) != 0)
			return (-1);
		config_buf_truncate(&s->path, saved);

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
void
config_index_build(struct config_position_index *index, const char *text,
    size_t length)
{
	struct scanner	 s;
	size_t		 slot;

	memset(&s, 0, sizeof s);
	s.text = text;
	s.length = length;
	s.line = 1;
	s.column = 1;
	s.index = index;
	config_buf_init(&s.path);

	scan_skip_space(&s);
	slot = index_add(index, "", s.line, s.column);
	scan_value(&s, slot);

	free(s.path.data);
	if (index->count > 1)
		qsort(index->list, index->count, sizeof *index->list,
		    index_compare);
}

