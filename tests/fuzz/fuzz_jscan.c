/*
 * fuzz_jscan.c -- libFuzzer harness of src/jscan.c, differential against
 * jansson: the input is one JSON text; jscan_check() must take it exactly
 * when json_loadb(input, size, 0) does (but for jansson's NUL quirk, see
 * jscan.c), and then every member jansson sees at the top is found by
 * jscan_members() with the same type and, for a string, the same bytes.
 */
#include <string.h>

#include <jansson.h>

#include "jscan.h"
#include "fuzz.h"

int
LLVMFuzzerInitialize(__attribute__((unused)) int *argc,
    __attribute__((unused)) char ***argv)
{
	return (0);
}

/* jscan's type of a jansson value. */
static enum jscan_type
fuzz_jscan_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:	return (JSCAN_OBJECT);
	case JSON_ARRAY:	return (JSCAN_ARRAY);
	case JSON_STRING:	return (JSCAN_STRING);
	case JSON_INTEGER:
	case JSON_REAL:		return (JSCAN_NUMBER);
	case JSON_TRUE:		return (JSCAN_TRUE);
	case JSON_FALSE:	return (JSCAN_FALSE);
	default:		return (JSCAN_NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jscan_value	 root, found[1];
	const char		*text = (const char *)data, *key;
	const char		*keys[2] = { NULL, NULL };
	json_t			*tree, *value;
	char			 error[96], *decoded;
	int			 rc;

	tree = json_loadb(text, size, 0, NULL);
	rc = jscan_check(text, size, &root, error, sizeof error);
	if (tree == NULL) {
		FUZZ_CHECK(rc == -1);
		return (0);
	}
	if (rc == -1) {
		FUZZ_CHECK(memchr(data, '\0', size) != NULL);
		json_decref(tree);
		return (0);
	}
	FUZZ_CHECK(root.type == fuzz_jscan_type(tree));
	if (json_is_object(tree)) {
		json_object_foreach(tree, key, value) {
			keys[0] = key;
			jscan_members(&root, keys, found);
			FUZZ_CHECK(found[0].type == fuzz_jscan_type(value));
			if (!json_is_string(value))
				continue;
			decoded = malloc(found[0].length);
			FUZZ_CHECK(decoded != NULL);
			FUZZ_CHECK(jscan_decode(&found[0], decoded) ==
			    json_string_length(value));
			FUZZ_CHECK(memcmp(decoded, json_string_value(value),
			    json_string_length(value)) == 0);
			free(decoded);
		}
	}
	json_decref(tree);
	return (0);
}
