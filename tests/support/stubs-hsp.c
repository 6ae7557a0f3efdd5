/*
 * stubs-hsp.c -- a stand-in HSP connector for the tests that drive the
 * router (src/router.c) without a broker: an instance that owns nothing and
 * is always connected, and the daemon pointer the modules use, which
 * main.c defines in the daemon.  See stubs-hsp.h.
 */
#include "hotreloadd.h"
#include "hsp.h"
#include "stubs-hsp.h"

struct daemon	*hr;

/* The stand-in connector is always connected. */
bool
hsp_is_connected(__attribute__((unused)) struct service_instance *inst)
{
	return (true);
}

/* The stand-in connector owns nothing. */
static void
stubs_hsp_connector_destroy(__attribute__((unused))
    struct service_instance *inst)
{
}

static const struct service_ops stubs_hsp_connector_ops = {
	.name = "stub", .destroy = stubs_hsp_connector_destroy,
};

/* A connector instance to put in the registry's HSP slot; NULL if out of
 * memory. */
struct service_instance *
stubs_hsp_connector_create(void)
{
	return (service_instance_create(&stubs_hsp_connector_ops, NULL));
}
