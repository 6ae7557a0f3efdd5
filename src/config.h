/*
 * config.h -- the daemon's configuration: a JSON file read with jansson.
 *
 * config_load() parses and validates the whole file (DESIGN.md section 4) and
 * either returns a complete struct config with every default filled in, or
 * NULL and a list of problems, each "FILE:LINE:COLUMN: key.path: message".
 * Unknown keys are errors.  A loaded config is immutable: a reload loads a new
 * one and swaps it in, so whoever holds the old one may keep reading it.
 */
#ifndef HOTRELOAD_CONFIG_H
#define HOTRELOAD_CONFIG_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * The defaults are in the schema tables (config-schema.c), which the unit
 * test compares with hotreloadd.conf(5).  This one is also the fuzz
 * harnesses' bound on a request line.
 */
#define CONFIG_DEFAULT_MAX_REQUEST_BYTES	65536
/*
 * The largest configuration file read: far beyond any real one (the
 * commented example is 4 KiB), small enough that parsing it never stalls
 * the loop for long.
 */
#define CONFIG_MAX_FILE_BYTES			(1024 * 1024)

/* One diagnostic: an error or a warning, already formatted for the operator. */
struct config_problem {
	bool	 warning;	/* false: error */
	char	*text;		/* "FILE:LINE:COLUMN: key.path: message" */
};

/* All diagnostics of one load, in file order. */
struct config_problems {
	struct config_problem	*list;
	size_t			 count;
	size_t			 errors;
	size_t			 warnings;
};

struct config_tls {
	char	*ca_file;
	char	*ca_path;
	char	*cert_file;
	char	*key_file;
	int	 min_version;	/* 12 (TLS 1.2) or 13 (TLS 1.3) */
	bool	 insecure;	/* no host name check */
};

/* The longest value of an extra header (llm.backends[].headers). */
#define CONFIG_MAX_HEADER_VALUE	8192

/* An integer key whose default is null holds this when it is not set. */
#define CONFIG_UNSET	(-1)

/*
 * The generation parameters of a back end (llm.backends[].params), sent
 * under each provider's own names; what is not set is not sent.
 */
struct config_params {
	double	  temperature;		/* NAN: not set */
	double	  top_p;		/* NAN: not set */
	double	  presence_penalty;	/* NAN: not set */
	double	  frequency_penalty;	/* NAN: not set */
	int	  max_tokens;		/* CONFIG_UNSET: not set */
	int	  seed;			/* CONFIG_UNSET: not set */
	char	**stop;
	size_t	  stop_count;
};

/* Where the value of an extra header comes from. */
enum config_header_source {
	CONFIG_HEADER_LITERAL,	/* the text in the file */
	CONFIG_HEADER_ENV,	/* {"env": VAR}: secret */
	CONFIG_HEADER_FILE,	/* {"file": PATH}, its first line: secret */
};

/* One extra request header of a back end (llm.backends[].headers). */
struct config_header {
	char				*name;
	enum config_header_source	 source;
	char				*value;	/* text, variable or path */
};

struct config_backend {
	char	*name;
	char	*provider;	/* one of llm_provider_parse()'s names */
	char	*base_url;
	char	*model;
	char	*deployment;	/* azure_openai, or NULL */
	char	*api_version;	/* azure_openai */
	char	*api_key_env;	/* name of the variable, or NULL */
	char	*api_key_file;	/* path, or NULL */
	int	 timeout_s;
	int	 max_in_flight;
	struct config_params	 params;
	struct config_header	*headers;
	size_t			 headers_count;
	struct {
		double	 input_per_1k;	/* per 1000 tokens */
		double	 output_per_1k;
	} cost;
	struct {
		int	 requests_per_minute;	/* CONFIG_UNSET: no limit */
		int	 tokens_per_minute;	/* CONFIG_UNSET: no limit */
		int	 max_wait_s;
	} rate_limit;
	struct config_tls	*tls;	/* ca_file, cert_file, key_file; or NULL */
};

struct config_llm {
	struct config_backend	*backends;
	size_t			 backends_count;
	char			**fallback;	/* back-end names; default: all, in order */
	size_t			 fallback_count;
	bool			 probe_on_reload;
	int			 retire_timeout_s;
	size_t			 dialogue_history_bytes; /* all conversations */
};


struct config_hsp {
	char			*host;
	int			 port;
	char			*username;
	char			*password_file;
	struct config_tls	*tls;		/* NULL: plain TCP */
	int			 keepalive_s;
	int			 protocol;	/* 5 (mqttv5) or 4 (mqttv311) */
	bool			 persistent;	/* session: "persistent" */
	char			*share_group;
	char			**extra_subscriptions;
	size_t			 extra_subscriptions_count;
	int			 connect_timeout_s;
	int			 retire_timeout_s;
	size_t			 dedup_window;
	int			 session_expiry_s;	/* persistent, v5 */
	size_t			 max_message_bytes;	/* on receipt, before parsing */
	int			 max_tasks_in_flight;	/* beyond: stop reading */
	size_t			 dedup_window_bytes;
	size_t			 discovery_max_bytes;
	int			 advert_interval_s;	/* re-advertise */
};

/* A SHA-256 in hex, with its NUL. */
#define DIGEST_HEX_SIZE	65

struct config {
	unsigned int		 references;
	char			*path;		/* the file it was read from */
	json_t			*root;		/* the parsed document */
	/* SHA-256 of the file's bytes ("" when not read from a file). */
	char			 sha256[DIGEST_HEX_SIZE];
	/*
	 * The files whose content counts (api_key_file, password_file, TLS
	 * files), by key path: {"llm.backends[0].api_key_file": {"path":
	 * P, "sha256": HEX} or {"path": P, "error": WHY}}.
	 */
	json_t			*files;

	char			*ai_id;		/* NULL when absent */

	struct {
		char		*socket;
		mode_t		 mode;
		uid_t		*admin_uids;
		size_t		 admin_uids_count;
		char		**admin_groups;
		size_t		 admin_groups_count;
		gid_t		*admin_gids;	/* the groups that exist */
		size_t		 admin_gids_count;
		int		 max_clients;
		size_t		 max_request_bytes;
		int		 queue_depth;
		int		 command_timeout_s;
		int		 idle_timeout_s;
		size_t		 max_reply_bytes_queued;
		int		 reserved_admin_clients;	/* of max_clients */
		int		 max_clients_per_uid;	/* non-admin uids */
		int		 history_size;	/* commands "history" keeps */
		size_t		 watch_buffer_bytes;	/* per watcher */
	} control;

	struct {
		int		 timeout_s;
	} drain;

	struct config_llm	*llm;		/* NULL: not configured */
	struct config_hsp	*hsp;		/* NULL: not configured */

	struct {
		char		*listen;	/* "HOST:PORT" or NULL */
		int		 max_connections;
		int		 timeout_s;
	} metrics;
};

/*
 * Read and validate PATH.  Returns the configuration, or NULL when there is
 * at least one error.  Problems (errors and warnings) are appended to
 * PROBLEMS, which the caller releases with config_problems_clear().
 */
struct config	*config_load(const char *path, struct config_problems *problems);

/* The same, from a buffer; NAME is used in messages in place of a file. */
struct config	*config_load_buffer(const char *name, const char *text,
		    size_t length, struct config_problems *problems);

/*
 * Configurations are reference counted: config_load() returns one reference,
 * config_ref() takes another, config_free() drops one and frees the
 * configuration with the last (NULL is fine).
 */
struct config	*config_ref(struct config *);
void		 config_free(struct config *);

/* Release the problems of a load and reset the list to empty. */
void		 config_problems_clear(struct config_problems *);

/*
 * True when the top-level section NAME (e.g. "llm", "hsp") differs between
 * the two configurations (an absent section differs from a present one).
 * For "hsp", a change of ai_id counts as a change of the section.
 */
bool		 config_section_changed(const struct config *old,
		    const struct config *new, const char *name);
/*
 * Is S fit to be the value of an HTTP header (the rule of the literal
 * values of llm.backends[].headers, for those read from a variable or a
 * file when a generation is built)?
 */
bool		 config_header_value_valid(const char *s);

/* Does a file named in SECTION hold other content (config_load digests)? */
bool		 config_files_changed(const struct config *old,
		    const struct config *new, const char *section);

#endif /* HOTRELOAD_CONFIG_H */
