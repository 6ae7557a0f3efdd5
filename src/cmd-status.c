/*
 * cmd-status.c -- "status": what runs, what waits, and every service.
 *
 * Read-only: answered at once, even while a reload holds the queue.
 */
#include <sys/stat.h>

#include <string.h>
#include <unistd.h>

#include "hotreloadd.h"

/* The queue part of status: the running command and the pending count. */
static json_t *
cmd_status_queue(void)
{
	struct cmdq		*q = hr->cmdq;
	struct cmdq_item	*item = q->running;
	json_t			*running = json_null();

	if (item != NULL)
		running = json_pack("{s:s, s:O, s:I, s:f}",
		    "command", item->cmd->name,
		    "id", item->id,
		    "uid", (json_int_t)item->uid,
		    "running_s", cmdq_item_running_s(item));
	return (json_pack("{s:o, s:I, s:I}",
	    "running", running,
	    "pending", (json_int_t)q->pending_count,
	    "depth", (json_int_t)q->depth));
}

/*
 * The limits in force, so an operator sees what bounds the daemon: the
 * control socket's, then those of each configured service.
 */
static json_t *
cmd_status_limits(void)
{
	const struct config	*config = hr->config;
	json_t			*limits;

	limits = json_pack("{s:i, s:I, s:I, s:i, s:i, s:i, s:I, s:i, s:i, "
	    "s:i, s:i}",
	    "max_clients", config->control.max_clients,
	    "max_request_bytes", (json_int_t)config->control.max_request_bytes,
	    "queue_depth", (json_int_t)config->control.queue_depth,
	    "command_timeout_s", config->control.command_timeout_s,
	    "idle_timeout_s", config->control.idle_timeout_s,
	    "drain_timeout_s", config->drain.timeout_s,
	    "max_reply_bytes_queued",
		(json_int_t)config->control.max_reply_bytes_queued,
	    "reserved_admin_clients", config->control.reserved_admin_clients,
	    "max_clients_per_uid", config->control.max_clients_per_uid,
	    "metrics_max_connections", config->metrics.max_connections,
	    "metrics_timeout_s", config->metrics.timeout_s);
	if (config->hsp != NULL) {
		json_object_set_new(limits, "hsp_max_message_bytes",
		    json_integer((json_int_t)config->hsp->max_message_bytes));
		json_object_set_new(limits, "hsp_max_tasks_in_flight",
		    json_integer(config->hsp->max_tasks_in_flight));
		json_object_set_new(limits, "hsp_dedup_window",
		    json_integer((json_int_t)config->hsp->dedup_window));
		json_object_set_new(limits, "hsp_dedup_window_bytes",
		    json_integer((json_int_t)config->hsp->dedup_window_bytes));
		json_object_set_new(limits, "hsp_discovery_max_bytes",
		    json_integer((json_int_t)config->hsp->discovery_max_bytes));
	}
	if (config->llm != NULL)
		json_object_set_new(limits, "llm_dialogue_history_bytes",
		    json_integer(
		    (json_int_t)config->llm->dialogue_history_bytes));
	return (limits);
}

/* A SHA-256 in hex, or null when there is none. */
static json_t *
cmd_status_sha(const char *hex)
{
	return (hex != NULL && *hex != '\0' ? json_string(hex) : json_null());
}

/*
 * The SHA-256 of the configuration file as it is now.  Hashed again only
 * when stat says the file changed (inode, size, modification time): a
 * monitor that polls status must not cost a read and a hash each time.
 */
static int
cmd_status_file_sha(char hex[DIGEST_HEX_SIZE], char **cause)
{
	static struct stat	 seen;
	static char		 seen_hex[DIGEST_HEX_SIZE];
	struct stat		 sb;
	bool			 known;

	*cause = NULL;
	known = stat(hr->config_path, &sb) == 0;
	if (known && seen_hex[0] != '\0' &&
	    sb.st_ino == seen.st_ino && sb.st_dev == seen.st_dev &&
	    sb.st_size == seen.st_size &&
	    sb.st_mtim.tv_sec == seen.st_mtim.tv_sec &&
	    sb.st_mtim.tv_nsec == seen.st_mtim.tv_nsec) {
		memcpy(hex, seen_hex, DIGEST_HEX_SIZE);
		return (0);
	}
	seen_hex[0] = '\0';
	if (digest_path(hr->config_path, hex, cause) == -1)
		return (-1);
	/* Stat before the read: a change in between is seen next time. */
	if (known) {
		seen = sb;
		memcpy(seen_hex, hex, DIGEST_HEX_SIZE);
	}
	return (0);
}

/*
 * Where the running configuration came from: the file's path, "file" or
 * "rollback", the digest of what runs and of the file as it is now (they
 * differ after a rollback, or when the file was edited and not yet
 * reloaded), and the digest each service was built from.
 */
static json_t *
cmd_status_config(void)
{
	json_t			*config, *services;
	struct service_slot	*slot;
	const char		*source = hr->config_source;
	char			 hex[DIGEST_HEX_SIZE], *cause = NULL;
	int			 i;

	services = json_object();
	for (i = 0; i < SERVICE_COUNT; i++) {
		slot = registry_slot(hr->registry, i);
		if (slot->rolled_back)
			source = "rollback";
		if (slot->current != NULL && slot->config != NULL &&
		    config_section_changed(NULL, slot->config, slot->name))
			json_object_set_new(services, slot->name,
			    cmd_status_sha(slot->config->sha256));
	}
	config = json_pack("{s:s, s:s, s:o, s:o}",
	    "path", hr->config_path,
	    "source", source,
	    "running_sha256", cmd_status_sha(hr->config->sha256),
	    "services", services);
	if (cmd_status_file_sha(hex, &cause) == 0)
		json_object_set_new(config, "file_sha256", json_string(hex));
	else {
		json_object_set_new(config, "file_sha256", json_null());
		json_object_set_new(config, "file_error", json_string(
		    cause != NULL ? cause : "out of memory"));
		free(cause);
	}
	return (config);
}

/* Reply with the status object of DESIGN.md section 5. */
static enum cmd_retval
cmd_status_exec(struct cmdq_item *item)
{
	json_t	*services;
	int	 i;

	services = json_object();
	for (i = 0; i < SERVICE_COUNT; i++) {
		struct service_slot *slot = registry_slot(hr->registry, i);

		json_object_set_new(services, slot->name,
		    registry_slot_status(slot));
	}
	cmdq_item_ok(item, json_pack("{s:s, s:I, s:f, s:b, s:b, s:I, s:o, "
	    "s:o, s:o, s:o, s:o}",
	    "version", HOTRELOAD_VERSION,
	    "pid", (json_int_t)getpid(),
	    "uptime_s", daemon_uptime_s(),
	    "draining", hr->registry->draining,
	    "shutting_down", hr->registry->shutting_down,
	    "in_flight", (json_int_t)registry_in_flight(hr->registry),
	    "queue", cmd_status_queue(),
	    "services", services,
	    "clients", control_clients_status(hr->control),
	    "limits", cmd_status_limits(),
	    "config", cmd_status_config()));
	return (CMD_RETURN_NORMAL);
}

const struct cmd_entry cmd_status_entry = {
	.name = HR_CMD_STATUS,
	.check = cmd_check_no_args,
	.exec = cmd_status_exec,
};
