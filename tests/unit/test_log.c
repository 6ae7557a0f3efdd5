/*
 * test_log.c -- unit tests of log.c: control characters in a message are
 * escaped, so one call is one line that starts with the daemon's own prefix
 * (DESIGN.md section 7.7), with and without journald.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "log.h"

START_TEST(escape_control_characters)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "plain text, 100% ok", "plain text, 100% ok" },
		{ "x\n<0>FORGED", "x\\n<0>FORGED" },
		{ "a\r\nb\tc", "a\\r\\nb\\tc" },
		{ "\x1b[2J\x01\x7f", "\\x1b[2J\\x01\\x7f" },
		/* C1 controls (U+0080..U+009F) in UTF-8; U+00A0 is text. */
		{ "\xc2\x9b" "31m \xc2\x85 \xc2\xa0", "\\u009b31m \\u0085 \xc2\xa0" },
		/* Printable UTF-8 as it is. */
		{ "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
		  "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80" },
		/* Invalid UTF-8, a cut sequence, an overlong '\n'. */
		{ "\xff\xe6\x97", "\\xff\\xe6\\x97" },
		{ "\xc0\x8a", "\\xc0\\x8a" },
		/* A backslash is text. */
		{ "C:\\n", "C:\\n" },
		{ "", "" },
	};
	char	 out[256];
	size_t	 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_uint_eq(log_escape(out, sizeof out, cases[i].in),
		    strlen(cases[i].out));
		ck_assert_str_eq(out, cases[i].out);
	}
}
END_TEST

START_TEST(escape_cut_between_escapes)
{
	char	 out[6];

	/* "ab\\n" needs 4 bytes and the NUL: the escape is left out. */
	ck_assert_uint_eq(log_escape(out, 4, "ab\ncd"), 2);
	ck_assert_str_eq(out, "ab");
	ck_assert_uint_eq(log_escape(out, 5, "ab\ncd"), 4);
	ck_assert_str_eq(out, "ab\\n");
	/* Nor is a UTF-8 character cut. */
	ck_assert_uint_eq(log_escape(out, 4, "a\xe6\x97\xa5"), 1);
	ck_assert_str_eq(out, "a");
	ck_assert_uint_eq(log_escape(out, 0, "a"), 0);
}
END_TEST

/*
 * Send stderr to a new temporary file, and set JOURNAL_STREAM to name it
 * when JOURNAL is true; returns the file's path (static).
 */
static const char *
log_capture(int journal)
{
	static char	 path[] = "/tmp/test_log.XXXXXX";
	char		 stream[64];
	struct stat	 sb;
	int		 fd;

	strcpy(path, "/tmp/test_log.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_ne(dup2(fd, STDERR_FILENO), -1);
	close(fd);
	ck_assert_int_eq(fstat(STDERR_FILENO, &sb), 0);
	snprintf(stream, sizeof stream, "%llu:%llu",
	    (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	if (journal)
		setenv("JOURNAL_STREAM", stream, 1);
	else
		unsetenv("JOURNAL_STREAM");
	log_init(0);
	return (path);
}

/* The contents of the file at PATH (to free), which is removed. */
static char *
log_captured(const char *path)
{
	char	*text;
	FILE	*f;
	long	 size;

	fflush(stderr);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)size + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	unlink(path);
	return (text);
}

START_TEST(journal_line_keeps_its_priority)
{
	const char	*path = log_capture(1);
	char		*text;

	ck_assert(log_to_journal());
	log_warnx("hsp: ignoring a malformed message on %s: %s", "t/x",
	    "unknown message_type \"x\n<0>FORGED\r<1>AGAIN\"");
	errno = ENOENT;
	log_warn("cannot read %s", "\n<2>FILE");
	text = log_captured(path);
	ck_assert_str_eq(text,
	    "<4>hsp: ignoring a malformed message on t/x: unknown "
	    "message_type \"x\\n<0>FORGED\\r<1>AGAIN\"\n"
	    "<4>cannot read \\n<2>FILE: No such file or directory\n");
	free(text);
}
END_TEST

START_TEST(stderr_line_starts_with_the_time)
{
	const char	*path = log_capture(0);
	char		*text, *newline;

	ck_assert(!log_to_journal());
	log_info("client %s", "1000\n2026-01-01T00:00:00.000Z hotreloadd: "
	    "crit: FORGED");
	text = log_captured(path);
	/* One line: the only newline ends it. */
	newline = strchr(text, '\n');
	ck_assert_ptr_nonnull(newline);
	ck_assert_str_eq(newline, "\n");
	ck_assert_ptr_nonnull(strstr(text, "Z hotreloadd: info: client "
	    "1000\\n2026-01-01T00:00:00.000Z hotreloadd: crit: FORGED\n"));
	free(text);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*escape = tcase_create("escape");
	TCase	*lines = tcase_create("lines");

	tcase_add_test(escape, escape_control_characters);
	tcase_add_test(escape, escape_cut_between_escapes);
	tcase_add_test(lines, journal_line_keeps_its_priority);
	tcase_add_test(lines, stderr_line_starts_with_the_time);
	suite_add_tcase(s, escape);
	suite_add_tcase(s, lines);
	return (s);
}

int
main(void)
{
	SRunner	*runner = srunner_create(log_suite());
	int	 failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
