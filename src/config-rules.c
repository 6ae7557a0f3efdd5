/*
 * config-rules.c -- what the string values of the configuration must look
 * like: each rule is a test and the words that name it in a message
 * ("expected an absolute path, got ...").
 */

#include <sys/types.h>

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "config-internal.h"

/* Rules for strings. */
static bool
valid_non_empty(const char *s)
{
	return (*s != '\0');
}

static bool
valid_absolute_path(const char *s)
{
	return (*s == '/');
}

static bool
valid_environment_name(const char *s)
{
	const char	*p;

	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	    *s == '_'))
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return (false);
	}
	return (true);
}

static bool
valid_backend_name(const char *s)
{
	const char	*p;

	if (*s == '\0' || strlen(s) > CONFIG_MAX_NAME_LENGTH)
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		    *p == '-'))
			return (false);
	}
	return (true);
}

static bool
valid_url(const char *s)
{
	const char	*p;
	size_t		 skip;

	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return (false);
	if (s[skip] == '\0' || s[skip] == '/')
		return (false);
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return (false);
	}
	return (true);
}

/* No MQTT topic level separator or wildcard: used in topics as one level. */
static bool
valid_topic_level(const char *s)
{
	return (*s != '\0' && strpbrk(s, "/+#") == NULL);
}

/* An MQTT topic filter: '+' and '#' only alone in a level, '#' last. */
static bool
valid_topic_filter(const char *s)
{
	const char	*level = s, *end;
	size_t		 n;

	if (*s == '\0' || strlen(s) > CONFIG_MAX_TOPIC_LENGTH)
		return (false);
	for (;;) {
		end = strchr(level, '/');
		n = end != NULL ? (size_t)(end - level) : strlen(level);
		if (memchr(level, '#', n) != NULL && (n != 1 || end != NULL))
			return (false);
		if (memchr(level, '+', n) != NULL && n != 1)
			return (false);
		if (end == NULL)
			return (true);
		level = end + 1;
	}
}

/* An HTTP header name: a token of RFC 9110, at most 64 bytes. */
static bool
valid_header_name(const char *s)
{
	const char	*p;

	if (*s == '\0' || strlen(s) > CONFIG_MAX_NAME_LENGTH)
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~",
		    *p) != NULL))
			return (false);
	}
	return (true);
}

/*
 * An HTTP header value: not empty, no control character but a tab (a CR
 * or LF would start another header), no space at either end, at most
 * CONFIG_MAX_HEADER_VALUE bytes.  Also the rule for the values read from
 * a variable or a file (config_header_value_valid).
 */
static bool
valid_header_value(const char *s)
{
	const char	*p;
	size_t		 length = strlen(s);

	if (length == 0 || length > CONFIG_MAX_HEADER_VALUE ||
	    s[0] == ' ' || s[0] == '\t' || s[length - 1] == ' ' ||
	    s[length - 1] == '\t')
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
			return (false);
	}
	return (true);
}

/* Is S a valid header value (for values the daemon reads at build)? */
bool
config_header_value_valid(const char *s)
{
	return (valid_header_value(s));
}

/* "HOST:PORT" or "[IPV6]:PORT", port 1 to 65535. */
static bool
valid_listen(const char *s)
{
	const char	*host_end, *port, *p;
	unsigned long	 value = 0;

	if (*s == '[') {
		if ((host_end = strchr(s, ']')) == NULL || host_end == s + 1)
			return (false);
		if (host_end[1] != ':')
			return (false);
		port = host_end + 2;
	} else {
		if ((host_end = strrchr(s, ':')) == NULL || host_end == s)
			return (false);
		/* An IPv6 address must be in brackets to tell it from the
		    port. */
		if (memchr(s, ':', (size_t)(host_end - s)) != NULL)
			return (false);
		port = host_end + 1;
	}
	for (p = s; p < host_end; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return (false);
	}
	if (*port == '\0' || strlen(port) > 5)
		return (false);
	for (p = port; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return (false);
		value = value * 10 + (unsigned long)(*p - '0');
	}
	return (value >= 1 && value <= 65535);
}

/* Octal digits, at most 0777; parsed by config_mode_from_string(). */
static bool
valid_mode(const char *s)
{
	unsigned int	 value = 0;
	const char	*p;

	if (*s == '\0')
		return (false);
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			return (false);
		value = value * 8 + (unsigned int)(*p - '0');
		if (value > 0777)
			return (false);
	}
	return (true);
}

/* The value of a string valid_mode() accepted. */
mode_t
config_mode_from_string(const char *s)
{
	mode_t	 value = 0;

	for (; *s != '\0'; s++)
		value = value * 8 + (mode_t)(*s - '0');
	return (value);
}

const struct config_string_rule config_rule_non_empty = {
	"a non-empty string", valid_non_empty
};
const struct config_string_rule config_rule_absolute_path = {
	"an absolute path", valid_absolute_path
};
const struct config_string_rule config_rule_environment_name = {
	"an environment variable name (letters, digits and '_', not starting "
	"with a digit)", valid_environment_name
};
const struct config_string_rule config_rule_backend_name = {
	"a name of 1 to 64 letters, digits, '_', '.' or '-'", valid_backend_name
};
const struct config_string_rule config_rule_url = {
	"a URL starting with http:// or https://", valid_url
};
const struct config_string_rule config_rule_header_name = {
	"a header name of 1 to 64 letters, digits or !#$%&'*+-.^_`|~",
	valid_header_name
};
const struct config_string_rule config_rule_header_value = {
	"a header value of 1 to 8192 bytes, without control characters or "
	"spaces at either end", valid_header_value
};
const struct config_string_rule config_rule_topic_level = {
	"a non-empty string without '/', '+' or '#'", valid_topic_level
};
const struct config_string_rule config_rule_topic_filter = {
	"an MQTT topic filter", valid_topic_filter
};
const struct config_string_rule config_rule_listen = {
	"\"HOST:PORT\" with a port from 1 to 65535 (such as \"127.0.0.1:9464\" "
	"or \"[::1]:9464\")", valid_listen
};
const struct config_string_rule config_rule_mode = {
	"a string of octal digits from \"0000\" to \"0777\" (such as \"0660\")",
	valid_mode
};

