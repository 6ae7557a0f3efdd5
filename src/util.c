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
