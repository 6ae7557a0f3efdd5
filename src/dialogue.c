/*
 * dialogue.c -- the DialogueManager and the "dialogue" tool.
 *
 * A TaskRequest for the dialogue tool carries "text" (required),
 * "conversation_id" and "system" (optional).  The manager keeps a bounded
 * history per conversation (at most DIALOGUE_MAX_CONVERSATIONS, the least
 * recently used evicted; at most DIALOGUE_MAX_TURNS turns each) and sends it
 * with each turn.  The history lives here, not in an LLM generation, so a
 * conversation goes on across reload-llm.
 */
#include <stdlib.h>
#include <string.h>

#include "hotreloadd.h"
#include "hsp.h"
#include "llm.h"
#include "log.h"

/* conversation id -> {"messages": [...], "used": n} */
static json_t		*dialogue_conversations;
static json_int_t	 dialogue_clock;
static uint64_t		 dialogue_turns;
static uint64_t		 dialogue_failed;
static uint64_t		 dialogue_evicted;

/* One turn waiting for the LLM. */
struct dialogue_turn {
	struct hsp_task	*task;
	char		*conversation_id;
	char		*text;
};

/* The conversation ID, or NULL. */
static json_t *
dialogue_get(const char *id)
{
	if (dialogue_conversations == NULL || id == NULL)
		return (NULL);
	return (json_object_get(dialogue_conversations, id));
}

/* Make room for one more conversation: evict the least recently used. */
static void
dialogue_evict(void)
{
	const char	*key, *oldest = NULL;
	json_t		*conversation;
	json_int_t	 used, oldest_used = 0;

	json_object_foreach(dialogue_conversations, key, conversation) {
		used = json_integer_value(json_object_get(conversation,
		    "used"));
		if (oldest == NULL || used < oldest_used) {
			oldest = key;
			oldest_used = used;
		}
	}
	if (oldest != NULL) {
		json_object_del(dialogue_conversations, oldest);
		dialogue_evicted++;
	}
}

/* Add a user turn and its answer to conversation ID. */
static void
dialogue_remember(const char *id, const char *question, const char *answer)
{
	json_t	*conversation, *messages;
	size_t	 excess;

	if (dialogue_conversations == NULL &&
	    (dialogue_conversations = json_object()) == NULL)
		return;
	if ((conversation = dialogue_get(id)) == NULL) {
		if (json_object_size(dialogue_conversations) >=
		    DIALOGUE_MAX_CONVERSATIONS)
			dialogue_evict();
		conversation = json_pack("{s:[], s:I}", "messages", "used",
		    (json_int_t)0);
		json_object_set_new(dialogue_conversations, id, conversation);
	}
	messages = json_object_get(conversation, "messages");
	json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user",
	    "content", question));
	json_array_append_new(messages, json_pack("{s:s, s:s}", "role",
	    "assistant", "content", answer));
	/* Oldest turns go first: a turn is a question and its answer. */
	if (json_array_size(messages) > 2 * DIALOGUE_MAX_TURNS) {
		excess = json_array_size(messages) - 2 * DIALOGUE_MAX_TURNS;
		while (excess-- > 0)
			json_array_remove(messages, 0);
	}
	json_object_set_new(conversation, "used",
	    json_integer(++dialogue_clock));
}

/* The LLM answered (or failed): finish the task. */
static void
dialogue_done_cb(const struct llm_result *result, void *arg)
{
	struct dialogue_turn	*turn = arg;
	json_t			*payload;

	if (!result->ok) {
		dialogue_failed++;
		task_finish(turn->task, "failure", NULL, result->error_code,
		    result->error_message);
		goto out;
	}
	dialogue_turns++;
	if (turn->conversation_id != NULL)
		dialogue_remember(turn->conversation_id, turn->text,
		    result->answer->text);
	payload = json_pack("{s:s, s:s, s:s, s:I}",
	    "text", result->answer->text,
	    "backend", result->backend,
	    "model", result->model,
	    "llm_generation", (json_int_t)result->generation);
	if (result->answer->usage != NULL)
		json_object_set(payload, "usage", result->answer->usage);
	if (turn->conversation_id != NULL)
		json_object_set_new(payload, "conversation_id",
		    json_string(turn->conversation_id));
	task_finish(turn->task, "success", payload, NULL, NULL);
out:
	free(turn->conversation_id);
	free(turn->text);
	free(turn);
}

/* The dialogue tool: one turn of a conversation. */
static void
dialogue_exec(struct hsp_task *task)
{
	struct dialogue_turn	*turn;
	json_t			*params = task->parameters, *value;
	json_t			*conversation, *messages;
	const char		*text, *id = NULL, *system = NULL;

	text = json_string_value(json_object_get(params, "text"));
	if (text == NULL || *text == '\0') {
		task_finish(task, "failure", NULL, LLM_ERR_BAD_REQUEST,
		    "parameter \"text\" (a non-empty string) is required");
		return;
	}
	value = json_object_get(params, "conversation_id");
	if (value != NULL && !json_is_null(value)) {
		if (!json_is_string(value) || json_string_length(value) == 0) {
			task_finish(task, "failure", NULL, LLM_ERR_BAD_REQUEST,
			    "parameter \"conversation_id\" must be a "
			    "non-empty string");
			return;
		}
		id = json_string_value(value);
	}
	value = json_object_get(params, "system");
	if (value != NULL && !json_is_null(value)) {
		if (!json_is_string(value)) {
			task_finish(task, "failure", NULL, LLM_ERR_BAD_REQUEST,
			    "parameter \"system\" must be a string");
			return;
		}
		system = json_string_value(value);
	}

	if ((turn = calloc(1, sizeof *turn)) == NULL) {
		task_finish(task, "failure", NULL, LLM_ERR_UNAVAILABLE,
		    "out of memory");
		return;
	}
	turn->task = task;
	turn->text = strdup(text);
	turn->conversation_id = id != NULL ? strdup(id) : NULL;

	/* The history so far, then this question. */
	conversation = dialogue_get(id);
	messages = conversation != NULL ? json_deep_copy(json_object_get(
	    conversation, "messages")) : json_array();
	json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user",
	    "content", text));
	if (llm_submit(messages, system, dialogue_done_cb, turn) == -1) {
		dialogue_failed++;
		free(turn->conversation_id);
		free(turn->text);
		free(turn);
		task_finish(task, "failure", NULL, LLM_ERR_UNAVAILABLE,
		    "no LLM service is configured");
	}
	json_decref(messages);
}

const struct tool dialogue_tool = {
	.suffix = "dialogue_v1",
	.name = "dialogue",
	.description = "Multi-turn chat with the agent's LLM; parameters: "
	    "text, conversation_id (optional), system (optional).",
	.version = "1.0",
	.available = llm_available,
	.exec = dialogue_exec,
};

/* Status details of the dialogue_manager slot. */
json_t *
dialogue_status(void)
{
	return (json_pack("{s:I, s:i, s:i, s:I, s:I, s:I}",
	    "conversations", (json_int_t)(dialogue_conversations != NULL ?
	    json_object_size(dialogue_conversations) : 0),
	    "max_conversations", DIALOGUE_MAX_CONVERSATIONS,
	    "max_turns", DIALOGUE_MAX_TURNS,
	    "turns", (json_int_t)dialogue_turns,
	    "failed", (json_int_t)dialogue_failed,
	    "evicted", (json_int_t)dialogue_evicted));
}

/* Forget every conversation (exit). */
void
dialogue_free(void)
{
	json_decref(dialogue_conversations);
	dialogue_conversations = NULL;
}

/* The DialogueManager slot: it exists while an LLM service does. */
static struct service_instance *
dialogue_create(const struct config *config, char **cause)
{
	struct service_instance	*inst;

	*cause = NULL;
	if (config->llm == NULL)
		return (NULL);
	if ((inst = service_instance_create(&dialogue_service_ops, NULL)) ==
	    NULL)
		*cause = strdup("out of memory");
	return (inst);
}

/* Ready at once. */
static void
dialogue_start(struct service_instance *inst, service_started_cb cb)
{
	cb(inst, true, NULL);
}

/* Nothing of its own to finish: its turns hold LLM generations. */
static void
dialogue_retire(struct service_instance *inst)
{
	service_instance_retired(inst);
}

/* Nothing to free: the conversations outlive the slot's instances. */
static void
dialogue_destroy(__attribute__((unused)) struct service_instance *inst)
{
}

/* Status of the slot. */
static json_t *
dialogue_slot_status(__attribute__((unused)) struct service_instance *inst)
{
	return (dialogue_status());
}

/* Started once with the LLM service; rewired, never rebuilt. */
static bool
dialogue_changed(const struct config *old, const struct config *new)
{
	return (old == NULL && new->llm != NULL);
}

const struct service_ops dialogue_service_ops = {
	.name = "dialogue_manager",
	.create = dialogue_create,
	.start = dialogue_start,
	.retire = dialogue_retire,
	.destroy = dialogue_destroy,
	.status = dialogue_slot_status,
	.changed = dialogue_changed,
};
