/*
 * util.c -- small helpers shared by the daemon's files.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hotreloadd.h"

/* Format into a new string; NULL when out of memory. */
char *
str_vprintf(const char *fmt, va_list ap)
{
	char	*s;

	if (vasprintf(&s, fmt, ap) == -1)
		return (NULL);
	return (s);
}

/* Format into a new string; NULL when out of memory. */
char *
str_printf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = str_vprintf(fmt, ap);
	va_end(ap);
	return (s);
}

/* Seconds since SINCE on the monotonic clock. */
double
timespec_elapsed_s(const struct timespec *since)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((double)(now.tv_sec - since->tv_sec) +
	    (double)(now.tv_nsec - since->tv_nsec) / 1e9);
}

/* Length of the valid UTF-8 sequence at S (RFC 3629), or 0 if it is not. */
static size_t
str_utf8_sequence(const unsigned char *s)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		length, i;

	if (s[0] < 0x80)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		length = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		length = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		length = 4;
		if (s[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f;	/* over U+10FFFF */
	} else
		return (0);
	if (s[1] < lo || s[1] > hi)
		return (0);
	for (i = 2; i < length; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return (0);
	}
	return (length);
}

/*
 * Replace every byte of S that is not part of valid UTF-8 with '?', in
 * place, so that S can go into a JSON string (jansson refuses invalid
 * UTF-8).  Returns how many bytes were replaced.
 */
size_t
str_utf8_repair(char *s)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 n, replaced = 0;

	while (*p != '\0') {
		if ((n = str_utf8_sequence(p)) == 0) {
			*p++ = '?';
			replaced++;
		} else
			p += n;
	}
	return (replaced);
}
