/*
 * driver.c -- replay inputs through a fuzz harness without libFuzzer.
 *
 * Linked with one harness (fuzz_proto.c, fuzz_config.c, fuzz_hsp.c or
 * fuzz_cmd.c) and built with the project's normal compiler and warnings, it
 * calls LLVMFuzzerTestOneInput() once per file named on the command line; a
 * directory stands for the files in it, in name order.  "make
 * check-fuzz-corpus" runs it over the seed corpora and the regressions, so a
 * crash the fuzzer once found stays fixed.  When an input crashes the
 * harness, its name is printed before the process dies.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static unsigned long	driver_inputs;
static const char	*driver_current;	/* the input being run */

/* A crash: name the input, then die of the same signal. */
static void
driver_crash_handler(int sig)
{
	static const char	prefix[] = "driver: crashed on input ";
	const char		*path = driver_current;

	if (path != NULL) {
		if (write(STDERR_FILENO, prefix, sizeof prefix - 1) < 0 ||
		    write(STDERR_FILENO, path, strlen(path)) < 0 ||
		    write(STDERR_FILENO, "\n", 1) < 0)
			_exit(128 + sig);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read all of PATH; NULL on failure. */
static uint8_t *
driver_read(const char *path, size_t *size)
{
	FILE	*f;
	uint8_t	*data = NULL, *grown;
	size_t	 used = 0, allocated = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	for (;;) {
		if (used == allocated) {
			allocated = allocated == 0 ? 4096 : allocated * 2;
			if ((grown = realloc(data, allocated)) == NULL)
				goto fail;
			data = grown;
		}
		n = fread(data + used, 1, allocated - used, f);
		used += n;
		if (n == 0)
			break;
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	*size = used;
	return (data);

fail:
	free(data);
	fclose(f);
	return (NULL);
}

/* Run the harness on the file PATH. */
static int
driver_run_file(const char *path)
{
	uint8_t	*data;
	size_t	 size;

	if ((data = driver_read(path, &size)) == NULL) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	driver_current = path;
	LLVMFuzzerTestOneInput(data, size);
	driver_current = NULL;
	free(data);
	driver_inputs++;
	return (0);
}

/* Skip "." and "..", and hidden files such as editor droppings. */
static int
driver_visible(const struct dirent *entry)
{
	return (entry->d_name[0] != '.');
}

/* Run the harness on PATH: a file, or every file of a directory. */
static int
driver_run_path(const char *path)
{
	struct stat	  sb;
	struct dirent	**entries;
	char		 *child;
	int		  n, i, rc = 0;

	if (stat(path, &sb) == -1) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode))
		return (driver_run_file(path));
	if ((n = scandir(path, &entries, driver_visible, alphasort)) == -1) {
		fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (asprintf(&child, "%s/%s", path, entries[i]->d_name) == -1)
			rc = -1;
		else {
			if (driver_run_path(child) == -1)
				rc = -1;
			free(child);
		}
		free(entries[i]);
	}
	free(entries);
	return (rc);
}

/* Replay every file or directory named on the command line. */
int
main(int argc, char **argv)
{
	static const int	signals[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE,
				    SIGILL };
	size_t			j;
	int			i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s file|directory ...\n", argv[0]);
		return (2);
	}
	for (j = 0; j < sizeof signals / sizeof signals[0]; j++)
		signal(signals[j], driver_crash_handler);
	LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if (driver_run_path(argv[i]) == -1)
			rc = 1;
	}
	printf("%s: %lu inputs replayed, none crashed\n", argv[0],
	    driver_inputs);
	return (rc);
}
