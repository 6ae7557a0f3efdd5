/*
 * config.c -- read and validate the configuration file (DESIGN.md section 4).
 *
 * Loading takes three steps.  jansson parses the text (once lines starting
 * with '#', comments that JSON itself lacks, are blanked out).  A small
 * scanner (config-scan.c) then walks the same, already accepted, text once
 * more and records where every member key and array element stands,
 * because jansson keeps no positions.
 * Last, the validators (config-schema.c) walk the parsed document, fill a
 * struct config and report every problem they find, located through that
 * index by key path (config-diag.c).
 * Problems are sorted into file order at the end so the operator can read
 * them top to bottom.  Nothing here logs: the caller prints the problems.
 */

#include <sys/types.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-internal.h"
#include "hotreloadd.h"

/*
 * Read the configuration file into memory, NUL-terminated.  It must be a
 * regular file of at most CONFIG_MAX_FILE_BYTES: a FIFO put in its place
 * must not hang the loop on the next reload, nor a huge file stall it.
 */
static int
read_file(const char *path, char **text, size_t *length,
    struct config_problems *problems)
{
	char	*cause;

	if (file_read(path, CONFIG_MAX_FILE_BYTES, text, length, NULL,
	    &cause) == 0)
		return (0);
	config_problems_append(problems, false, config_xasprintf("%s: %s", path,
	    cause != NULL ? cause : "out of memory"));
	free(cause);
	return (-1);
}

/*
 * A copy of TEXT with its comment lines blanked out: lines whose first
 * non-blank character is '#' (the shipped example relies on them).  JSON has
 * no comments, but no line of valid JSON can start with '#', since a string
 * cannot span lines, so this changes the meaning of nothing else.  Comments
 * become spaces rather than disappearing, so every line and column stays
 * where the operator sees it.
 */
static char *
strip_comment_lines(const char *text, size_t length)
{
	char	*copy;
	size_t	 i;
	bool	 line_start = true, in_comment = false;

	copy = config_xmalloc(length + 1);
	if (length > 0)
		memcpy(copy, text, length);
	copy[length] = '\0';
	for (i = 0; i < length; i++) {
		if (copy[i] == '\n') {
			line_start = true;
			in_comment = false;
		} else if (in_comment)
			copy[i] = ' ';
		else if (line_start && copy[i] == '#') {
			in_comment = true;
			copy[i] = ' ';
		} else if (copy[i] != ' ' && copy[i] != '\t' && copy[i] != '\r')
			line_start = false;
	}
	return (copy);
}

static void	config_digest_files(struct config *);

struct config *
config_load(const char *path, struct config_problems *problems)
{
	struct config	*c;
	char		*text;
	size_t		 length;

	if (read_file(path, &text, &length, problems) != 0)
		return (NULL);
	c = config_load_buffer(path, text, length, problems);
	if (c != NULL && digest_sha256(text, length, c->sha256) == -1)
		c->sha256[0] = '\0';
	free(text);
	if (c != NULL)
		config_digest_files(c);
	return (c);
}

/*
 * Digest each file whose content counts (CONFIG_CONTENT rows).  One that
 * cannot be read gets its error instead: the service that needs it says so
 * when it is built, and its digest changes when it becomes readable.
 */
static void
config_digest_files(struct config *c)
{
	const char	*key;
	json_t		*entry;
	char		 hex[DIGEST_HEX_SIZE], *cause;

	json_object_foreach(c->files, key, entry) {
		if (digest_path(json_string_value(json_object_get(entry,
		    "path")), hex, &cause) == 0)
			json_object_set_new(entry, "sha256", json_string(hex));
		else {
			json_object_set_new(entry, "error", json_string(
			    cause != NULL ? cause : "out of memory"));
			free(cause);
		}
	}
}

struct config *
config_load_buffer(const char *name, const char *text, size_t length,
    struct config_problems *problems)
{
	struct config_load	 ld;
	json_error_t		 error;
	json_t			*root;
	struct config		*c = NULL;
	char			*json;

	json = strip_comment_lines(text, length);

	/*
	 * Duplicate keys are rejected: with jansson the last one would win
	 * silently, and that is the kind of mistake a reload must not hide.
	 */
	root = json_loadb(json, length,
	    JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    &error);
	if (root == NULL) {
		config_problems_append(problems, false,
		    config_xasprintf("%s:%d:%d: invalid "
		    "JSON: %s", name, error.line < 1 ? 1 : error.line,
		    error.column < 1 ? 1 : error.column, error.text));
		goto out;
	}

	memset(&ld, 0, sizeof ld);
	ld.name = name;
	ld.text = json;
	config_index_build(&ld.index, json, length);

	c = config_xcalloc(1, sizeof *c);
	c->references = 1;
	c->path = config_xstrdup(name);
	c->root = root;
	if ((c->files = json_object()) == NULL)
		abort();
	ld.config = c;
	config_check_document(&ld, root);

	config_problems_flush(&ld, problems);
	config_index_free(&ld.index);
	if (ld.errors != 0) {
		config_free(c);
		c = NULL;
	}
out:
	free(json);
	return (c);
}

/* Take another reference to C. */
struct config *
config_ref(struct config *c)
{
	c->references++;
	return (c);
}

/* Drop a reference; the last one frees the configuration. */
void
config_free(struct config *c)
{
	if (c == NULL || --c->references > 0)
		return;
	free(c->path);
	json_decref(c->root);
	json_decref(c->files);
	config_schema_free(&config_schema, c);
	free(c);
}

void
config_problems_clear(struct config_problems *problems)
{
	size_t	 i;

	if (problems == NULL)
		return;
	for (i = 0; i < problems->count; i++)
		free(problems->list[i].text);
	free(problems->list);
	memset(problems, 0, sizeof *problems);
}

/*
 * Does a file named in section NAME hold other content under NEW than
 * under OLD (or has one become readable, or not)?
 */
bool
config_files_changed(const struct config *old, const struct config *new,
    const char *name)
{
	const struct config	*pair[2] = { old, new };
	const char		*key;
	json_t			*entry;
	size_t			 length = strlen(name);
	int			 i;

	for (i = 0; i < 2; i++) {
		json_object_foreach(pair[i]->files, key, entry) {
			if (strncmp(key, name, length) != 0 ||
			    (key[length] != '.' && key[length] != '['))
				continue;
			if (!json_equal(entry, json_object_get(
			    pair[1 - i]->files, key)))
				return (true);
		}
	}
	return (false);
}

/* Two optional strings are the same (both NULL counts as the same). */
static bool
strings_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

bool
config_section_changed(const struct config *old, const struct config *new,
    const char *name)
{
	json_t	*a, *b;

	a = old == NULL ? NULL : json_object_get(old->root, name);
	b = new == NULL ? NULL : json_object_get(new->root, name);
	if (a == NULL && b == NULL)
		return (false);
	if (a == NULL || b == NULL || !json_equal(a, b))
		return (true);
	/* The same keys; the content of a file they name may differ. */
	if (config_files_changed(old, new, name))
		return (true);
	/* The HSP connector subscribes to topics built from ai_id. */
	if (strcmp(name, "hsp") == 0)
		return (!strings_equal(old->ai_id, new->ai_id));
	return (false);
}

