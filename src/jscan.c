/*
 * jscan.c -- check a JSON text once and find members in it without building
 * a tree.
 *
 * Every HSP request is read here: building a jansson tree of a 700-byte
 * envelope cost about 130,000 instructions (a hash table and an allocation
 * per member), a third of the daemon's work per echo request, to read a
 * dozen strings out of it (issue 19).  jscan_check() walks the text once,
 * allocating nothing, and accepts exactly what json_loadb(text, length, 0)
 * accepts (RFC 8259 with jansson's limits: an object or array at the top,
 * nothing but white space after it, valid UTF-8, no \u0000, paired
 * surrogates, integers that fit a long long, reals that do not overflow,
 * at most JSCAN_MAX_DEPTH levels), except that jansson skips a NUL byte
 * right after a number or a literal (its reader takes NUL for an empty
 * buffer after an unget) and jscan refuses a raw NUL anywhere, as RFC 8259
 * does; tests/unit/test_jscan.c and the fuzzer hold it to that.
 *
 * Then jscan_members() finds the members of an object (the last one of a
 * key wins, as in jansson) and jscan_decode() copies a string out.  Both
 * only work on a text that jscan_check() accepted.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "jscan.h"

/*
 * Bytes that stand for themselves in a string: not a quote, a backslash, a
 * control character or the start of a UTF-8 sequence.  One lookup per byte
 * on the common path.
 */
static const unsigned char jscan_plain[256] = {
	/* 0x22 is '"', 0x5c is '\\'. */
	[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1
};

/* What changes the depth when skipping an object or array: a string's
 * start and the brackets. */
static const unsigned char jscan_bracket[256] = {
	['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1
};

struct jscan {
	const unsigned char	*s;
	size_t			 length;
	size_t			 pos;
	char			*error;
	size_t			 error_size;
};

/* Fail at the current position with WHY. */
static int
jscan_fail(struct jscan *j, const char *why)
{
	if (j->error_size > 0)
		snprintf(j->error, j->error_size, "%s at byte %zu", why,
		    j->pos);
	return (-1);
}

static void
jscan_space(struct jscan *j)
{
	while (j->pos < j->length && (j->s[j->pos] == ' ' ||
	    j->s[j->pos] == '\t' || j->s[j->pos] == '\n' ||
	    j->s[j->pos] == '\r'))
		j->pos++;
}

/* The value of the hex digit C, or -1. */
static int
jscan_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* The four hex digits at P (of at least 4 bytes), or -1. */
static long
jscan_hex4(const unsigned char *p)
{
	long	value = 0;
	int	i, digit;

	for (i = 0; i < 4; i++) {
		if ((digit = jscan_hex(p[i])) == -1)
			return (-1);
		value = value * 16 + digit;
	}
	return (value);
}

/*
 * The code point of the \u escape at J's position (just after the "\u"),
 * pairing surrogates; moves past it.  -1 when it is not one jansson takes.
 */
static long
jscan_unicode(struct jscan *j)
{
	long	cp, low;

	if (j->length - j->pos < 4 || (cp = jscan_hex4(j->s + j->pos)) == -1)
		return (jscan_fail(j, "invalid \\u escape"));
	j->pos += 4;
	if (cp == 0)
		return (jscan_fail(j, "\\u0000 in a string"));
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return (jscan_fail(j, "a lone low surrogate"));
	if (cp < 0xd800 || cp > 0xdbff)
		return (cp);
	if (j->length - j->pos < 6 || j->s[j->pos] != '\\' ||
	    j->s[j->pos + 1] != 'u' ||
	    (low = jscan_hex4(j->s + j->pos + 2)) < 0xdc00 || low > 0xdfff)
		return (jscan_fail(j, "a high surrogate without its low one"));
	j->pos += 6;
	return (0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00));
}

/* Length of the valid UTF-8 sequence at J's position, or 0. */
static size_t
jscan_utf8(const struct jscan *j)
{
	unsigned char	tail[4] = { 0, 0, 0, 0 };
	size_t		left = j->length - j->pos;

	/* str_utf8_sequence() reads up to 4 bytes, stopping at a NUL. */
	if (left >= 4)
		return (str_utf8_sequence(j->s + j->pos));
	memcpy(tail, j->s + j->pos, left);
	return (str_utf8_sequence(tail));
}

/* A string at J's position (its opening quote). */
static int
jscan_string(struct jscan *j)
{
	const unsigned char	*s = j->s;
	unsigned char		 c;
	size_t			 n;

	j->pos++;
	for (;;) {
		/* The common case: plain ASCII. */
		while (j->pos < j->length && jscan_plain[s[j->pos]])
			j->pos++;
		if (j->pos >= j->length)
			return (jscan_fail(j, "an unterminated string"));
		c = s[j->pos];
		if (c == '"') {
			j->pos++;
			return (0);
		}
		if (c < 0x20)
			return (jscan_fail(j, "a control character in a "
			    "string"));
		if (c >= 0x80) {
			if ((n = jscan_utf8(j)) == 0)
				return (jscan_fail(j, "invalid UTF-8"));
			j->pos += n;
			continue;
		}
		/* A backslash. */
		if (++j->pos >= j->length)
			return (jscan_fail(j, "an unterminated string"));
		c = s[j->pos];
		if (c == 'u') {
			j->pos++;
			if (jscan_unicode(j) == -1)
				return (-1);
		} else if (strchr("\"\\/bfnrt", c) != NULL && c != '\0')
			j->pos++;
		else
			return (jscan_fail(j, "an invalid escape"));
	}
}

static bool
jscan_digit(const struct jscan *j)
{
	return (j->pos < j->length && j->s[j->pos] >= '0' &&
	    j->s[j->pos] <= '9');
}

/*
 * A number at J's position.  jansson refuses an integer that does not fit
 * a long long and a real that overflows a double: so does this.
 */
static int
jscan_number(struct jscan *j)
{
	size_t			 start = j->pos, digits_at, digits;
	bool			 negative = false, real = false;
	char			 small[64], *copy;
	double			 value;
	bool			 over;

	if (j->s[j->pos] == '-') {
		negative = true;
		j->pos++;
	}
	digits_at = j->pos;
	if (!jscan_digit(j))
		return (jscan_fail(j, "an invalid number"));
	if (j->s[j->pos] == '0') {
		j->pos++;
		if (jscan_digit(j))
			return (jscan_fail(j, "a number with a leading 0"));
	} else {
		while (jscan_digit(j))
			j->pos++;
	}
	digits = j->pos - digits_at;
	if (j->pos < j->length && j->s[j->pos] == '.') {
		real = true;
		j->pos++;
		if (!jscan_digit(j))
			return (jscan_fail(j, "an invalid number"));
		while (jscan_digit(j))
			j->pos++;
	}
	if (j->pos < j->length && (j->s[j->pos] == 'e' ||
	    j->s[j->pos] == 'E')) {
		real = true;
		j->pos++;
		if (j->pos < j->length && (j->s[j->pos] == '+' ||
		    j->s[j->pos] == '-'))
			j->pos++;
		if (!jscan_digit(j))
			return (jscan_fail(j, "an invalid number"));
		while (jscan_digit(j))
			j->pos++;
	}
	if (!real) {
		/* No leading zeros: the digit count decides, but at 19. */
		if (digits < 19)
			return (0);
		if (digits > 19 || memcmp(j->s + digits_at, negative ?
		    "9223372036854775808" : "9223372036854775807", 19) > 0)
			return (jscan_fail(j, "an integer that does not fit "
			    "64 bits"));
		return (0);
	}
	/* Rare: a real; strtod decides overflow as jansson's does. */
	digits = j->pos - start;
	copy = digits < sizeof small ? small : malloc(digits + 1);
	if (copy == NULL)
		return (jscan_fail(j, "out of memory"));
	memcpy(copy, j->s + start, digits);
	copy[digits] = '\0';
	errno = 0;
	value = strtod(copy, NULL);
	over = (value == HUGE_VAL || value == -HUGE_VAL) && errno == ERANGE;
	if (copy != small)
		free(copy);
	if (over)
		return (jscan_fail(j, "a real number that overflows"));
	return (0);
}

/* The literal WORD at J's position. */
static int
jscan_literal(struct jscan *j, const char *word)
{
	size_t	n = strlen(word);

	if (j->length - j->pos < n || memcmp(j->s + j->pos, word, n) != 0)
		return (jscan_fail(j, "an invalid token"));
	j->pos += n;
	return (0);
}

/* An object key, the white space around it and the colon after it. */
static int
jscan_key(struct jscan *j)
{
	jscan_space(j);
	if (j->pos >= j->length || j->s[j->pos] != '"')
		return (jscan_fail(j, "a string key expected"));
	if (jscan_string(j) == -1)
		return (-1);
	jscan_space(j);
	if (j->pos >= j->length || j->s[j->pos] != ':')
		return (jscan_fail(j, "':' expected"));
	j->pos++;
	return (0);
}

/*
 * Check that TEXT of LENGTH bytes is a JSON text json_loadb() would take;
 * on success ROOT is its object or array.  Otherwise -1 with why and where
 * in ERROR.  Iterative (a bit per level says object or array), so a deep
 * text costs no stack.
 */
int
jscan_check(const char *text, size_t length, struct jscan_value *root,
    char *error, size_t error_size)
{
	struct jscan	 j = { (const unsigned char *)text, length, 0, error,
			    error_size };
	unsigned char	 objects[JSCAN_MAX_DEPTH / 8];
	size_t		 depth = 0, start, end;
	unsigned char	 c;
	bool		 object;

	memset(root, 0, sizeof *root);
	jscan_space(&j);
	if (j.pos >= length || (j.s[j.pos] != '{' && j.s[j.pos] != '['))
		return (jscan_fail(&j, "'[' or '{' expected"));
	start = j.pos;

value:
	if (j.pos >= length)
		return (jscan_fail(&j, "a value expected"));
	c = j.s[j.pos];
	if (c == '{' || c == '[') {
		if (depth == JSCAN_MAX_DEPTH)
			return (jscan_fail(&j, "nested too deep"));
		if (c == '{')
			objects[depth / 8] |= (unsigned char)(1U << depth % 8);
		else
			objects[depth / 8] &= (unsigned char)~(1U << depth % 8);
		depth++;
		j.pos++;
		jscan_space(&j);
		if (j.pos < length && j.s[j.pos] == (c == '{' ? '}' : ']')) {
			j.pos++;
			depth--;
			goto after;
		}
		if (c == '{' && jscan_key(&j) == -1)
			return (-1);
		jscan_space(&j);
		goto value;
	}
	if (c == '"') {
		if (jscan_string(&j) == -1)
			return (-1);
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		if (jscan_number(&j) == -1)
			return (-1);
	} else if (jscan_literal(&j, c == 't' ? "true" : c == 'f' ?
	    "false" : "null") == -1)
		return (-1);

after:
	if (depth == 0) {
		end = j.pos;
		jscan_space(&j);
		if (j.pos != length)
			return (jscan_fail(&j, "text after the end"));
		root->type = text[start] == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
		root->text = text + start;
		root->length = end - start;
		return (0);
	}
	jscan_space(&j);
	if (j.pos >= length)
		return (jscan_fail(&j, "an unterminated object or array"));
	c = j.s[j.pos];
	object = (objects[(depth - 1) / 8] >> (depth - 1) % 8) & 1;
	if (c == ',') {
		j.pos++;
		if (object && jscan_key(&j) == -1)
			return (-1);
		jscan_space(&j);
		goto value;
	}
	if (c == (object ? '}' : ']')) {
		j.pos++;
		depth--;
		goto after;
	}
	return (jscan_fail(&j, object ? "',' or '}' expected" :
	    "',' or ']' expected"));
}

/* Past the string at S (its opening quote) of a checked text. */
static const char *
jscan_skip_string(const char *s)
{
	for (s++;; s++) {
		/* Only a quote or a backslash matters here. */
		while (jscan_plain[(unsigned char)*s] ||
		    (unsigned char)*s >= 0x80)
			s++;
		if (*s == '"')
			return (s + 1);
		if (*s == '\\')
			s++;
	}
}

/* Past the value at S of a checked text, and its type in TYPE. */
static const char *
jscan_skip(const char *s, enum jscan_type *type)
{
	size_t	depth = 0;

	switch (*s) {
	case '"':
		*type = JSCAN_STRING;
		return (jscan_skip_string(s));
	case 't':
		*type = JSCAN_TRUE;
		return (s + 4);
	case 'f':
		*type = JSCAN_FALSE;
		return (s + 5);
	case 'n':
		*type = JSCAN_NULL;
		return (s + 4);
	case '{':
	case '[':
		*type = *s == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
		do {
			while (!jscan_bracket[(unsigned char)*s])
				s++;
			if (*s == '"') {
				s = jscan_skip_string(s);
				continue;
			}
			if (*s == '{' || *s == '[')
				depth++;
			else if (*s == '}' || *s == ']')
				depth--;
			s++;
		} while (depth > 0);
		return (s);
	default:
		*type = JSCAN_NUMBER;
		while (strchr("-+.eE0123456789", *s) != NULL && *s != '\0')
			s++;
		return (s);
	}
}

static const char *
jscan_skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return (s);
}

/*
 * Does the escaped key KEY (its JSON text, quotes included, KEY_LENGTH
 * bytes: "message\u005fid") say WANTED (of WANTED_LENGTH bytes) once
 * decoded?
 */
static bool
jscan_escaped_key_is(const char *key, size_t key_length, const char *wanted,
    size_t wanted_length)
{
	char		 small[64], *decoded;
	bool		 same;
	struct jscan_value v = { JSCAN_STRING, key, key_length };

	decoded = key_length <= sizeof small ? small : malloc(key_length);
	if (decoded == NULL)
		return (false);
	same = jscan_decode(&v, decoded) == wanted_length &&
	    memcmp(decoded, wanted, wanted_length) == 0;
	if (decoded != small)
		free(decoded);
	return (same);
}

/*
 * Find the members KEYS (NULL-terminated, at most JSCAN_MAX_KEYS) of
 * OBJECT, a value of a checked text: VALUES[i] is the last member named
 * KEYS[i], or of type JSCAN_NONE.  Not an object: every one absent.
 */
void
jscan_members(const struct jscan_value *object, const char *const *keys,
    struct jscan_value *values)
{
	const char		*s, *key, *value;
	enum jscan_type		 type;
	size_t			 i, count, lengths[JSCAN_MAX_KEYS], n;
	bool			 escaped;

	for (count = 0; keys[count] != NULL; count++) {
		memset(&values[count], 0, sizeof values[count]);
		if (count < JSCAN_MAX_KEYS)
			lengths[count] = strlen(keys[count]);
	}
	if (object->type != JSCAN_OBJECT || count > JSCAN_MAX_KEYS)
		return;
	s = jscan_skip_space(object->text + 1);
	while (*s != '}') {
		key = s;
		s = jscan_skip_string(s);
		n = (size_t)(s - key);
		escaped = memchr(key, '\\', n) != NULL;
		for (i = 0; i < count; i++) {
			if (escaped ? jscan_escaped_key_is(key, n, keys[i],
			    lengths[i]) : n == lengths[i] + 2 &&
			    memcmp(key + 1, keys[i], lengths[i]) == 0)
				break;
		}
		s = jscan_skip_space(jscan_skip_space(s) + 1);
		value = s;
		s = jscan_skip(s, &type);
		if (i < count) {
			values[i].type = type;
			values[i].text = value;
			values[i].length = (size_t)(s - value);
		}
		s = jscan_skip_space(s);
		if (*s == ',')
			s = jscan_skip_space(s + 1);
	}
}

/* Append code point CP to OUT as UTF-8; returns the new end. */
static char *
jscan_put_utf8(char *out, unsigned long cp)
{
	if (cp < 0x80)
		*out++ = (char)cp;
	else if (cp < 0x800) {
		*out++ = (char)(0xc0 | cp >> 6);
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*out++ = (char)(0xe0 | cp >> 12);
		*out++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*out++ = (char)(0xf0 | cp >> 18);
		*out++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*out++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*out++ = (char)(0x80 | (cp & 0x3f));
	}
	return (out);
}

/*
 * Copy the string STRING (a value of a checked text) to OUT, unescaped and
 * NUL-terminated; OUT has room for STRING->length - 1 bytes, which is
 * always enough (an escape is never shorter than what it stands for).
 * Returns the length (a checked string holds no NUL).
 */
size_t
jscan_decode(const struct jscan_value *string, char *out)
{
	const char	*s = string->text + 1;
	const char	*end = string->text + string->length - 1;
	char		*o = out;
	const char	*run;
	unsigned long	 cp, low;

	while (s < end) {
		if (*s != '\\') {
			run = memchr(s, '\\', (size_t)(end - s));
			if (run == NULL)
				run = end;
			memcpy(o, s, (size_t)(run - s));
			o += run - s;
			s = run;
			continue;
		}
		s++;
		switch (*s++) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			cp = (unsigned long)jscan_hex4((const unsigned char *)s);
			s += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				low = (unsigned long)jscan_hex4(
				    (const unsigned char *)s + 2);
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (low - 0xdc00);
			}
			o = jscan_put_utf8(o, cp);
			break;
		default:	/* " \ / */
			*o++ = s[-1];
			break;
		}
	}
	*o = '\0';
	return ((size_t)(o - out));
}
