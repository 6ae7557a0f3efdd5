/*
 * digest.c -- SHA-256 of the configuration file and of the files it names.
 *
 * A reload replaces a service when the content of a file its section names
 * changed (a rotated api_key_file, password_file, TLS certificate), not
 * only its JSON (DESIGN.md 7.1): the configuration keeps a digest of each
 * such file, taken when it is loaded.  The hashing is nettle's, which
 * libcurl's GnuTLS loads anyway; OpenSSL's would initialise itself and cost
 * 2 MiB of resident memory for a few hashes (bench/RESULTS.md).
 *
 * A directory (tls.ca_path) is digested as the sorted names of its entries
 * with each regular file's content, so adding, removing or rewriting a
 * certificate changes it.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "hotreloadd.h"

/* What a digest reads at most: a file, and the files of a directory. */
#define DIGEST_MAX_FILE_BYTES		(1024 * 1024)
#define DIGEST_MAX_DIRECTORY_ENTRIES	4096

/* MD (SHA256_DIGEST_SIZE bytes) as 64 hex digits and a NUL in HEX. */
static void
digest_hex(const unsigned char *md, char hex[DIGEST_HEX_SIZE])
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < SHA256_DIGEST_SIZE; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[64] = '\0';
}

/* The SHA-256 of DATA (LENGTH bytes), in hex.  Returns 0. */
int
digest_sha256(const void *data, size_t length, char hex[DIGEST_HEX_SIZE])
{
	struct sha256_ctx	ctx;
	unsigned char		md[SHA256_DIGEST_SIZE];

	sha256_init(&ctx);
	sha256_update(&ctx, length, data);
	sha256_digest(&ctx, sizeof md, md);
	digest_hex(md, hex);
	return (0);
}

/* Add the regular file PATH (named NAME) to CTX. */
static int
digest_add_file(struct sha256_ctx *ctx, const char *name, const char *path,
    char **cause)
{
	char	*data, *why;
	size_t	 length;

	if (file_read(path, DIGEST_MAX_FILE_BYTES, &data, &length, NULL,
	    &why) == -1) {
		if (*name == '\0')
			*cause = why;
		else {
			*cause = str_printf("%s: %s", name, why);
			free(why);
		}
		if (*cause == NULL)
			*cause = strdup("out of memory");
		return (-1);
	}
	/* A file alone is its bytes, as sha256sum has it. */
	if (*name != '\0')
		sha256_update(ctx, strlen(name) + 1, (const uint8_t *)name);
	sha256_update(ctx, length, (const uint8_t *)data);
	free(data);
	return (0);
}

/* Add the entries of directory PATH to CTX, by name. */
static int
digest_add_directory(struct sha256_ctx *ctx, const char *path, char **cause)
{
	struct dirent	**entries;
	struct stat	  sb;
	char		 *child;
	int		  n, i, rc = 0;

	if ((n = scandir(path, &entries, NULL, alphasort)) == -1) {
		*cause = str_printf("cannot list: %s", strerror(errno));
		return (-1);
	}
	if (n > DIGEST_MAX_DIRECTORY_ENTRIES) {
		*cause = str_printf("more than %d entries",
		    DIGEST_MAX_DIRECTORY_ENTRIES);
		rc = -1;
	}
	for (i = 0; i < n; i++) {
		if (rc == 0 && entries[i]->d_name[0] != '.') {
			child = str_printf("%s/%s", path, entries[i]->d_name);
			/* Symbolic links (c_rehash's) are followed; what is
			 * not a regular file counts by its name. */
			if (child == NULL)
				rc = -1;
			else if (stat(child, &sb) == 0 && S_ISREG(sb.st_mode))
				rc = digest_add_file(ctx, entries[i]->d_name,
				    child, cause);
			else
				sha256_update(ctx, strlen(entries[i]->d_name) +
				    1, (const uint8_t *)entries[i]->d_name);
			free(child);
		}
		free(entries[i]);
	}
	free(entries);
	if (rc == -1 && *cause == NULL)
		*cause = strdup("out of memory");
	return (rc);
}

/*
 * The SHA-256 of what PATH holds: a regular file's bytes, or a directory's
 * entries.  Returns 0, or -1 with *CAUSE (to free) saying why not.
 */
int
digest_path(const char *path, char hex[DIGEST_HEX_SIZE], char **cause)
{
	struct sha256_ctx	 ctx;
	unsigned char		 md[SHA256_DIGEST_SIZE];
	struct stat		 sb;
	int			 rc;

	*cause = NULL;
	if (stat(path, &sb) == -1) {
		*cause = str_printf("cannot open: %s", strerror(errno));
		return (-1);
	}
	sha256_init(&ctx);
	if (S_ISDIR(sb.st_mode))
		rc = digest_add_directory(&ctx, path, cause);
	else
		rc = digest_add_file(&ctx, "", path, cause);
	if (rc == 0) {
		sha256_digest(&ctx, sizeof md, md);
		digest_hex(md, hex);
	}
	return (rc);
}
