/*
 * log.h -- the daemon's logging vocabulary (after OpenBSD's log.c).
 *
 * Messages go to stderr.  Under journald (JOURNAL_STREAM names our stderr)
 * each line carries a "<N>" syslog priority prefix so the journal keeps the
 * level; otherwise lines start with an ISO-8601 timestamp and the level.
 */
#ifndef HOTRELOAD_LOG_H
#define HOTRELOAD_LOG_H

#include <stdarg.h>

/* Set up logging: VERBOSITY 0 shows info and up, 1 adds debug. */
void	log_init(int verbosity);
void	log_set_verbosity(int verbosity);
int	log_get_verbosity(void);
/* True when stderr is connected to the journal. */
int	log_to_journal(void);

/* An error or warning with ": strerror(errno)" appended. */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
/* An error or warning without errno. */
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Something an operator wants to see in the normal course of events. */
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Detail for -v. */
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Fatal errors at start-up only: log and exit 1. */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* HOTRELOAD_LOG_H */
