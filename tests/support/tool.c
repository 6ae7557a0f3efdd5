/*
 * tool.c -- the helpers the C test and bench tools share (tool.h).  A test
 * tool out of memory has nothing better to do than say so and exit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tool.h"

/* Print "NAME: message" on standard error. */
static void
tool_vmessage(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", tool_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* Print a message on standard error and exit with STATUS. */
void
tool_fatal(int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	tool_vmessage(fmt, ap);
	va_end(ap);
	exit(status);
}

/* A bad command line: say what, point at --help, exit with STATUS. */
void
tool_usage_error(int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	tool_vmessage(fmt, ap);
	va_end(ap);
	fprintf(stderr, "(%s --help for usage)\n", tool_name);
	exit(status);
}

/* Print a warning on standard error. */
void
tool_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	tool_vmessage(fmt, ap);
	va_end(ap);
}

/* malloc or die; a size of 0 still gives a pointer to free. */
void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		tool_fatal(1, "out of memory");
	return p;
}

/* calloc or die. */
void *
xcalloc(size_t count, size_t size)
{
	void	*p;

	if ((p = calloc(count == 0 ? 1 : count, size == 0 ? 1 : size)) == NULL)
		tool_fatal(1, "out of memory");
	return p;
}

/* strdup or die. */
char *
xstrdup(const char *s)
{
	char	*copy;

	if ((copy = strdup(s)) == NULL)
		tool_fatal(1, "out of memory");
	return copy;
}

/* A newly allocated string built like printf, or die. */
char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		tool_fatal(1, "out of memory");
	return s;
}

/* Monotonic time in seconds. */
double
clock_monotonic(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock time in seconds since the epoch. */
double
clock_wall(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
