/* backend_none.c - the "none" backend: someone else manages the server's
 * models; load only waits until the model is listed. See backend.h. */
#include "daemon/backend.h"

#include "common/clock.h"

#include <stdio.h>
#include <string.h>

/* The server answers and lists every model. */
static int
none_preflight(struct backend *b, const char *const *models, int nmodels,
               struct backend_preflight *pf)
{
    struct backend_err e;
    json_t *ids = NULL;
    int i;

    if (backend_server_models(b, &ids, &e) == -1) {
        backend_reason(pf, e.code, "%s", e.detail);
        return -1;
    }
    for (i = 0; i < nmodels; i++) {
        if (backend_ids_have(ids, models[i]))
            pf->models[i].found = 1;
        else
            backend_reason(pf, BACKEND_MODEL_NOT_FOUND,
                           "\"%s\" is not among the %zu models the server lists", models[i],
                           json_array_size(ids));
    }
    json_decref(ids);
    return pf->nreasons == 0 ? 0 : -1;
}

static int
none_load(struct backend *b, const char *model, struct backend_load *res,
          struct backend_err *err)
{
    const char *id = b->cfg.identifier[0] != '\0' ? b->cfg.identifier : model;
    int64_t t0 = clock_mono_ns(), ready;

    if (backend_wait_listed(b, id, t0 + (int64_t)backend_load_timeout_ms(b) * 1000000, &ready,
                            err) == -1)
        return -1;
    res->load_ms = 0;
    res->load_ready_ms = (ready - t0) / 1000000;
    snprintf(res->served_id, sizeof(res->served_id), "%s", id);
    return 0;
}

static int
none_unload(struct backend *b, const char *id, struct backend_err *err)
{
    return 0;
}

static json_t *
none_describe(struct backend *b)
{
    return json_pack("{s:s, s:s}", "type", "none", "base_url", b->cfg.base_url);
}

static void
none_free(struct backend *b)
{
}

const struct backend_ops backend_none_ops = {
    "none",    0,           backend_prepare_nothing,    none_preflight,
    none_load, none_unload, backend_server_list_loaded, none_describe,
    none_free,
};
