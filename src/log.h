/*
 * log.h -- the daemon's logging vocabulary (after OpenBSD's log.c).
 *
 * Messages go to stderr.  Under journald (JOURNAL_STREAM names our stderr)
 * each line carries a "<N>" syslog priority prefix so the journal keeps the
 * level; otherwise lines start with an ISO-8601 timestamp and the level.
 * The text after that prefix is escaped (log_escape): a message that quotes
 * a peer or a file is still exactly one line, and only the daemon chooses
 * how it starts.
 */
#ifndef HOTRELOAD_LOG_H
#define HOTRELOAD_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Set up logging: VERBOSITY 0 shows info and up, 1 adds debug. */
void	log_init(int verbosity);
void	log_set_verbosity(int verbosity);
int	log_get_verbosity(void);
/* True when stderr is connected to the journal. */
int	log_to_journal(void);

/*
 * SRC with control characters and invalid UTF-8 escaped (\n, \x1b,
 * \u009b), into DST of SIZE bytes; returns the length written.
 */
size_t	log_escape(char *dst, size_t size, const char *src);

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
/* The same with exit status STATUS (EX_CONFIG for a bad configuration). */
void	fatalx_status(int, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

#endif /* HOTRELOAD_LOG_H */
