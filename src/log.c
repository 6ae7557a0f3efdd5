/*
 * log.c -- logging to stderr, with journald priority prefixes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "hotreloadd.h"
#include "log.h"

static int	log_verbosity;
static int	log_journal;

/* Does JOURNAL_STREAM name the file that stderr is? */
static int
log_detect_journal(void)
{
	const char		*env = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 sb;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return (0);
	if (fstat(fileno(stderr), &sb) == -1)
		return (0);
	return ((unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino);
}

void
log_init(int verbosity)
{
	log_verbosity = verbosity;
	log_journal = log_detect_journal();
	setvbuf(stderr, NULL, _IOLBF, 0);
}

void
log_set_verbosity(int verbosity)
{
	log_verbosity = verbosity;
}

int
log_get_verbosity(void)
{
	return (log_verbosity);
}

int
log_to_journal(void)
{
	return (log_journal);
}

/*
 * Copy SRC to DST (SIZE bytes, always NUL-terminated when SIZE > 0) with
 * every control character made visible: \n, \r and \t as such, the rest
 * of C0 and DEL as \xNN, C1 (U+0080 to U+009F) as \u00NN, and bytes that
 * are not valid UTF-8 as \xNN.  Printable UTF-8 is copied as it is.  What
 * does not fit is cut at a character or escape, never inside one.  Returns
 * the length of DST.
 *
 * Log lines quote text from the network and from files: escaped, that text
 * can never end a line and start one of its own, so it can neither forge
 * an entry nor, under journald, choose its priority with "<N>".
 */
size_t
log_escape(char *dst, size_t size, const char *src)
{
	const unsigned char	*p = (const unsigned char *)src;
	char			 escape[8];
	const char		*piece;
	size_t			 used = 0, n, sequence;

	if (size == 0)
		return (0);
	while (*p != '\0') {
		sequence = str_utf8_sequence(p);
		piece = escape;
		if (sequence == 0) {
			snprintf(escape, sizeof escape, "\\x%02x", *p);
			sequence = 1;
		} else if (*p == '\n')
			piece = "\\n";
		else if (*p == '\r')
			piece = "\\r";
		else if (*p == '\t')
			piece = "\\t";
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(escape, sizeof escape, "\\x%02x", *p);
		else if (*p == 0xc2 && p[1] <= 0x9f)
			snprintf(escape, sizeof escape, "\\u%04x", p[1]);
		else {
			/* Printable: the sequence as it is. */
			memcpy(escape, p, sequence);
			escape[sequence] = '\0';
		}
		n = strlen(piece);
		if (used + n >= size)
			break;
		memcpy(dst + used, piece, n);
		used += n;
		p += sequence;
	}
	dst[used] = '\0';
	return (used);
}

/*
 * Write one line at PRIORITY, with SUFFIX (may be NULL) after the text.
 * Every line is one call of fprintf that starts with the daemon's own
 * prefix ("<N>" under journald, the time and level otherwise), and the text
 * after it is escaped (log_escape), so whatever a message quotes, one call
 * is exactly one line.
 */
static void __attribute__((format(printf, 3, 0)))
log_vwrite(int priority, const char *suffix, const char *fmt, va_list ap)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice",
		"info", "debug"
	};
	char		 message[4096];
	char		 line[4 * sizeof message];
	struct timespec	 ts;
	char		 when[TIME_TEXT_SIZE];
	size_t		 used;

	vsnprintf(message, sizeof message, fmt, ap);
	if (suffix != NULL) {
		used = strlen(message);
		snprintf(message + used, sizeof message - used, ": %s", suffix);
	}
	log_escape(line, sizeof line, message);
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", priority, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%s hotreloadd: %s: %s\n", time_text_ms(&ts, when),
	    names[priority], line);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbosity < 1)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx_status(int status, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(status);
}
