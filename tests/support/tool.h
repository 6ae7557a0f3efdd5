/*
 * tool.h -- what the C test and bench tools share (tests/support/loadpeer,
 * tests/support/llmserver, bench/ctlbench): dying with a message, allocating
 * or dying, and clocks.  Each program defines tool_name, the prefix of its
 * messages.
 */
#ifndef HOTRELOAD_TOOL_H
#define HOTRELOAD_TOOL_H

#include <stddef.h>

extern const char	*tool_name;

void		 tool_fatal(int status, const char *fmt, ...)
		    __attribute__((noreturn, format(printf, 2, 3)));
void		 tool_usage_error(int status, const char *fmt, ...)
		    __attribute__((noreturn, format(printf, 2, 3)));
void		 tool_warnx(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
char		*xstrdup(const char *);
char		*xasprintf(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
double		 clock_monotonic(void);
double		 clock_wall(void);

#endif
