/*
 * util.c -- small helpers shared by the daemon's files.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
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

/* TS as "2026-12-02T11:35:07.123Z" in TEXT, which it returns. */
const char *
time_text_ms(const struct timespec *ts, char text[TIME_TEXT_SIZE])
{
	struct tm	tm;
	char		seconds[24];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(text, TIME_TEXT_SIZE, "%.19s.%03uZ", seconds,
	    (unsigned int)(ts->tv_nsec / 1000000) % 1000);
	return (text);
}

/*
 * Length of the valid UTF-8 sequence at S (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 if it is not one.  Reads no
 * further than a NUL.
 */
size_t
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

/* Is the NUL-terminated S valid UTF-8 throughout? */
bool
str_utf8_valid(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n;

	while (*p != '\0') {
		if ((n = str_utf8_sequence(p)) == 0)
			return (false);
		p += n;
	}
	return (true);
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

/* What a file of MODE is, for "not a regular file (a FIFO)". */
static const char *
file_type_name(mode_t mode)
{
	if (S_ISFIFO(mode))
		return ("a FIFO");
	if (S_ISDIR(mode))
		return ("a directory");
	if (S_ISSOCK(mode))
		return ("a socket");
	if (S_ISCHR(mode))
		return ("a character device");
	if (S_ISBLK(mode))
		return ("a block device");
	return ("not a file");
}

/*
 * Is PATH a regular file?  For files a library opens itself (the TLS files
 * OpenSSL and libcurl read): a FIFO there would block the loop in open().
 * Returns 0, or -1 with *CAUSE (to free) worded as file_read's.
 */
int
file_check_regular(const char *path, char **cause)
{
	struct stat	sb;

	*cause = NULL;
	if (stat(path, &sb) == -1) {
		*cause = str_printf("cannot open: %s", strerror(errno));
		return (-1);
	}
	if (!S_ISREG(sb.st_mode)) {
		*cause = str_printf("not a regular file (%s)",
		    file_type_name(sb.st_mode));
		return (-1);
	}
	return (0);
}

/*
 * The files of TLS, the section at PATH ("hsp.broker.tls"), must be
 * regular files (file_check_regular).  Returns 0 (also for no TLS), or -1
 * with *CAUSE (to free) naming the key and the file.
 */
int
file_check_tls(const struct config_tls *tls, const char *path, char **cause)
{
	const char	*names[] = { "ca_file", "cert_file", "key_file" };
	const char	*paths[3];
	char		*why;
	size_t		 i;

	if (tls == NULL)
		return (0);
	paths[0] = tls->ca_file;
	paths[1] = tls->cert_file;
	paths[2] = tls->key_file;
	for (i = 0; i < 3; i++) {
		if (paths[i] == NULL || file_check_regular(paths[i], &why) == 0)
			continue;
		*cause = str_printf("%s.%s %s: %s", path, names[i], paths[i],
		    why != NULL ? why : "out of memory");
		free(why);
		return (-1);
	}
	return (0);
}

/* Free BUFFER of SIZE bytes, cleared first: it may have held a secret. */
static void
file_buffer_free(char *buffer, size_t size)
{
	if (buffer == NULL)
		return;
	explicit_bzero(buffer, size);
	free(buffer);
}

/*
 * Read the regular file PATH, at most MAX bytes, into *DATA (NUL-terminated,
 * *LENGTH bytes, to free) and give its mode in *MODE (MODE may be NULL).
 *
 * Anything but a regular file (a FIFO, a device, a socket, a directory) is
 * refused without being read, and the file is opened with O_NONBLOCK, so
 * that a FIFO put in its place at the last moment cannot block the loop in
 * open() either.  A file larger than MAX is refused before it is read when
 * its size says so, and after MAX + 1 bytes otherwise (a file growing under
 * us).  Keys and passwords are read this way, so every buffer that held
 * the contents is cleared before it is freed.
 *
 * Returns 0, or -1 with *CAUSE (to free) without the path, which the caller
 * words: "cannot open: ...", "not a regular file (a FIFO)", "too large
 * (more than MAX bytes)", "cannot read: ...".
 */
int
file_read(const char *path, size_t max, char **data, size_t *length,
    mode_t *mode, char **cause)
{
	struct stat	 sb;
	char		*buffer = NULL, *bigger;
	size_t		 used = 0, size, grown;
	ssize_t		 n;
	int		 fd;

	*data = NULL;
	*length = 0;
	*cause = NULL;

	/*
	 * Look before opening, so that a device is not even opened (opening
	 * some has effects of its own), and check again after: the path may
	 * have been replaced in between.
	 */
	if (stat(path, &sb) == -1) {
		*cause = str_printf("cannot open: %s", strerror(errno));
		return (-1);
	}
	if (!S_ISREG(sb.st_mode)) {
		*cause = str_printf("not a regular file (%s)",
		    file_type_name(sb.st_mode));
		return (-1);
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		*cause = str_printf("cannot open: %s", strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1) {
		*cause = str_printf("cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		*cause = str_printf("not a regular file (%s)",
		    file_type_name(sb.st_mode));
		goto fail;
	}
	if ((uintmax_t)sb.st_size > max)
		goto too_large;

	/*
	 * Room for the size fstat gave and one byte more, to see the end of
	 * the file; files of /proc say 0 and grow the buffer as they are read.
	 */
	size = (size_t)sb.st_size + 1;
	if (size < 4096)
		size = 4096;
	if (size > max + 1)
		size = max + 1;
	if ((buffer = malloc(size + 1)) == NULL)
		goto no_memory;
	for (;;) {
		if (used == size) {
			grown = size * 2 > max + 1 ? max + 1 : size * 2;
			if ((bigger = malloc(grown + 1)) == NULL)
				goto no_memory;
			memcpy(bigger, buffer, used);
			file_buffer_free(buffer, size + 1);
			buffer = bigger;
			size = grown;
		}
		n = read(fd, buffer + used, size - used);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*cause = str_printf("cannot read: %s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max)
			goto too_large;
	}
	close(fd);
	buffer[used] = '\0';
	if (mode != NULL)
		*mode = sb.st_mode;
	*data = buffer;
	*length = used;
	return (0);

too_large:
	*cause = str_printf("too large (more than %zu bytes)", max);
	goto fail;
no_memory:
	*cause = str_printf("out of memory");
fail:
	if (buffer != NULL)
		file_buffer_free(buffer, size + 1);
	close(fd);
	return (-1);
}

/*
 * Read a secret (a key, a password) from the first line of the regular file
 * PATH, at most MAX bytes, into *SECRET (to free; may be empty).  A file
 * that users other than its owner and group may read is not refused, but
 * *WARNING (to free, otherwise NULL) says so, for the caller to log.
 * Returns 0, or -1 with *CAUSE (to free), both without the path.
 */
int
file_read_secret(const char *path, size_t max, char **secret,
    char **warning, char **cause)
{
	char	*data;
	size_t	 length;
	mode_t	 mode;

	*secret = NULL;
	*warning = NULL;
	if (file_read(path, max, &data, &length, &mode, cause) == -1)
		return (-1);
	data[strcspn(data, "\r\n")] = '\0';
	*secret = strdup(data);
	file_buffer_free(data, length + 1);
	if (*secret == NULL) {
		*cause = str_printf("out of memory");
		return (-1);
	}
	if (mode & S_IROTH) {
		*warning = str_printf("readable by every user (mode %04o); "
		    "chmod 0600, or 0640 for a group, is enough",
		    (unsigned int)(mode & 07777));
	}
	return (0);
}
