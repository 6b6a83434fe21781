/* The one-request-one-answer calls: health, models, load/unload, tokenizer, stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define REQUEST(kind_enum, field, msg)                   \
    Eagle__V1__Request req = EAGLE__V1__REQUEST__INIT;   \
    req.kind_case = EAGLE__V1__REQUEST__KIND_##kind_enum; \
    req.field = &(msg)

EAGLE_API int eagle_client_health(eagle_client *client, eagle_health *ret_health) {
    if (client == NULL || ret_health == NULL) return ec_fail(client, EAGLE_E_INVAL, "client or ret_health is NULL");
    Eagle__V1__Health h = EAGLE__V1__HEALTH__INIT;
    REQUEST(HEALTH, health, h);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_HEALTH, &resp);
    if (rc != 0) return rc;
    ret_health->serving = resp->health->serving != 0;
    ret_health->models = resp->health->models;
    ret_health->draining = resp->health->draining != 0;
    eagle__v1__response__free_unpacked(resp, NULL);
    return 0;
}

/* ---- models ---- */

static void model_info_clear(eagle_model_info *m) {
    free(m->name);
    free(m->target_dir);
    free(m->draft_dir);
}

/* Deep-copies a wire ModelInfo; 0 or EAGLE_E_NOMEM (then *out holds nothing to free). */
static int model_info_copy(const Eagle__V1__ModelInfo *w, eagle_model_info *out) {
    memset(out, 0, sizeof *out);
    out->name = ec_strdup(w->name);
    out->target_dir = ec_strdup(w->target_dir);
    out->draft_dir = ec_strdup(w->draft_dir);
    if (out->name == NULL || out->target_dir == NULL || out->draft_dir == NULL) {
        model_info_clear(out);
        memset(out, 0, sizeof *out);
        return EAGLE_E_NOMEM;
    }
    out->has_draft = w->has_draft != 0;
    out->vocab_size = w->vocab_size;
    out->context_length = w->context_length;
    out->hidden_size = w->hidden_size;
    out->layers = w->layers;
    out->parameters = w->parameters;
    return 0;
}

EAGLE_API void eagle_model_list_free(eagle_model_list *list) {
    if (list == NULL) return;
    for (size_t i = 0; i < list->n_models; i++) model_info_clear(&list->models[i]);
    free(list->models);
    free(list);
}

EAGLE_API int eagle_model_list_get(eagle_client *client, eagle_model_list **ret_list) {
    if (client == NULL || ret_list == NULL) return ec_fail(client, EAGLE_E_INVAL, "client or ret_list is NULL");
    Eagle__V1__ListModels lm = EAGLE__V1__LIST_MODELS__INIT;
    REQUEST(LIST_MODELS, list_models, lm);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_MODELS, &resp);
    if (rc != 0) return rc;
    const Eagle__V1__ModelList *w = resp->models;
    eagle_model_list *list = calloc(1, sizeof *list);
    if (list != NULL && w->n_models > 0 && (list->models = calloc(w->n_models, sizeof *list->models)) == NULL) {
        free(list);
        list = NULL;
    }
    for (size_t i = 0; list != NULL && i < w->n_models; i++) {
        if (model_info_copy(w->models[i], &list->models[i]) != 0) {
            eagle_model_list_free(list);
            list = NULL;
            break;
        }
        list->n_models++;
    }
    eagle__v1__response__free_unpacked(resp, NULL);
    if (list == NULL) return ec_fail(client, EAGLE_E_NOMEM, "out of memory");
    *ret_list = list;
    return 0;
}

EAGLE_API eagle_load_params eagle_load_default_params(void) {
    eagle_load_params p;
    memset(&p, 0, sizeof p);
    return p;
}

EAGLE_API void eagle_model_info_free(eagle_model_info *info) {
    if (info == NULL) return;
    model_info_clear(info);
    free(info);
}

EAGLE_API int eagle_model_load(eagle_client *client, const eagle_load_params *params,
                               eagle_model_info **ret_info) {
    return eagle_model_load_dtype(client, params, NULL, ret_info);
}

EAGLE_API int eagle_model_load_dtype(eagle_client *client, const eagle_load_params *params,
                                     const char *dtype, eagle_model_info **ret_info) {
    if (client == NULL || params == NULL) return ec_fail(client, EAGLE_E_INVAL, "client or params is NULL");
    Eagle__V1__LoadModel lm = EAGLE__V1__LOAD_MODEL__INIT;
    lm.name = (char *)(params->name != NULL ? params->name : "");
    lm.target_dir = (char *)(params->target_dir != NULL ? params->target_dir : "");
    lm.draft_dir = (char *)(params->draft_dir != NULL ? params->draft_dir : "");
    lm.context_length = params->context_length;
    lm.dtype = (char *)(dtype != NULL ? dtype : "");
    REQUEST(LOAD_MODEL, load_model, lm);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_LOADED, &resp);
    if (rc != 0) return rc;
    if (ret_info != NULL) {
        eagle_model_info *info = malloc(sizeof *info);
        if (info == NULL || model_info_copy(resp->loaded, info) != 0) {
            free(info);
            eagle__v1__response__free_unpacked(resp, NULL);
            return ec_fail(client, EAGLE_E_NOMEM, "out of memory");
        }
        *ret_info = info;
    }
    eagle__v1__response__free_unpacked(resp, NULL);
    return 0;
}

EAGLE_API int eagle_model_memory_get(eagle_client *client, const char *name, eagle_model_memory *ret_memory) {
    if (client == NULL || name == NULL || ret_memory == NULL)
        return ec_fail(client, EAGLE_E_INVAL, "client, name or ret_memory is NULL");
    Eagle__V1__ListModels lm = EAGLE__V1__LIST_MODELS__INIT;
    REQUEST(LIST_MODELS, list_models, lm);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_MODELS, &resp);
    if (rc != 0) return rc;
    const Eagle__V1__ModelInfo *found = NULL;
    for (size_t i = 0; i < resp->models->n_models && found == NULL; i++) {
        if (strcmp(resp->models->models[i]->name, name) == 0) found = resp->models->models[i];
    }
    if (found == NULL) {
        eagle__v1__response__free_unpacked(resp, NULL);
        return ec_fail(client, EAGLE_E_NOT_FOUND, "model '%s' is not loaded", name);
    }
    memset(ret_memory, 0, sizeof *ret_memory);
    /* Truncated (and terminated) should a later daemon name a longer dtype. */
    snprintf(ret_memory->dtype, sizeof ret_memory->dtype, "%s", found->dtype);
    ret_memory->weight_bytes = found->weight_bytes;
    ret_memory->mapped_weight_bytes = found->mapped_weight_bytes;
    ret_memory->draft_weight_bytes = found->draft_weight_bytes;
    ret_memory->kv_bytes_per_token = found->kv_bytes_per_token;
    eagle__v1__response__free_unpacked(resp, NULL);
    return 0;
}

EAGLE_API int eagle_model_unload(eagle_client *client, const char *name) {
    if (client == NULL || name == NULL) return ec_fail(client, EAGLE_E_INVAL, "client or name is NULL");
    Eagle__V1__UnloadModel um = EAGLE__V1__UNLOAD_MODEL__INIT;
    um.name = (char *)name;
    REQUEST(UNLOAD_MODEL, unload_model, um);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_UNLOADED, &resp);
    if (rc != 0) return rc;
    eagle__v1__response__free_unpacked(resp, NULL);
    return 0;
}

/* ---- tokenizer ---- */

EAGLE_API int eagle_tokenize(eagle_client *client, const char *model, const char *text,
                             int add_special_tokens, uint32_t **ret_ids, size_t *ret_n_ids) {
    if (client == NULL || text == NULL || ret_ids == NULL || ret_n_ids == NULL)
        return ec_fail(client, EAGLE_E_INVAL, "client, text, ret_ids or ret_n_ids is NULL");
    Eagle__V1__Tokenize t = EAGLE__V1__TOKENIZE__INIT;
    t.model = (char *)(model != NULL ? model : "");
    t.text = (char *)text;
    t.add_special_tokens = add_special_tokens != 0;
    REQUEST(TOKENIZE, tokenize, t);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_TOKENIZE, &resp);
    if (rc != 0) return rc;
    size_t n = resp->tokenize->n_ids;
    uint32_t *ids = NULL;
    if (n > 0) {
        ids = malloc(n * sizeof *ids);
        if (ids == NULL) {
            eagle__v1__response__free_unpacked(resp, NULL);
            return ec_fail(client, EAGLE_E_NOMEM, "out of memory");
        }
        memcpy(ids, resp->tokenize->ids, n * sizeof *ids);
    }
    eagle__v1__response__free_unpacked(resp, NULL);
    *ret_ids = ids;
    *ret_n_ids = n;
    return 0;
}

EAGLE_API int eagle_detokenize(eagle_client *client, const char *model, const uint32_t *ids,
                               size_t n_ids, int skip_special_tokens, char **ret_text) {
    if (client == NULL || ret_text == NULL || (ids == NULL && n_ids > 0))
        return ec_fail(client, EAGLE_E_INVAL, "client, ids or ret_text is NULL");
    Eagle__V1__Detokenize d = EAGLE__V1__DETOKENIZE__INIT;
    d.model = (char *)(model != NULL ? model : "");
    d.ids = (uint32_t *)ids;
    d.n_ids = n_ids;
    d.skip_special_tokens = skip_special_tokens != 0;
    REQUEST(DETOKENIZE, detokenize, d);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_DETOKENIZE, &resp);
    if (rc != 0) return rc;
    char *text = ec_strdup(resp->detokenize->text);
    eagle__v1__response__free_unpacked(resp, NULL);
    if (text == NULL) return ec_fail(client, EAGLE_E_NOMEM, "out of memory");
    *ret_text = text;
    return 0;
}

/* ---- statistics ---- */

EAGLE_API void eagle_stats_free(eagle_stats *stats) {
    if (stats == NULL) return;
    for (size_t i = 0; i < stats->n_models; i++) free(stats->models[i].name);
    free(stats->models);
    free(stats);
}

EAGLE_API int eagle_stats_get(eagle_client *client, const char *model, eagle_stats **ret_stats) {
    if (client == NULL || ret_stats == NULL) return ec_fail(client, EAGLE_E_INVAL, "client or ret_stats is NULL");
    Eagle__V1__GetStats g = EAGLE__V1__GET_STATS__INIT;
    g.model = (char *)(model != NULL ? model : "");
    REQUEST(GET_STATS, get_stats, g);
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_STATS, &resp);
    if (rc != 0) return rc;
    const Eagle__V1__StatsReply *w = resp->stats;
    eagle_stats *st = calloc(1, sizeof *st);
    if (st != NULL && w->n_models > 0 && (st->models = calloc(w->n_models, sizeof *st->models)) == NULL) {
        free(st);
        st = NULL;
    }
    for (size_t i = 0; st != NULL && i < w->n_models; i++) {
        const Eagle__V1__ModelStats *m = w->models[i];
        eagle_model_stats *o = &st->models[i];
        if ((o->name = ec_strdup(m->name)) == NULL) {
            eagle_stats_free(st);
            st = NULL;
            break;
        }
        st->n_models++;
        o->requests = m->requests;
        o->tokens_generated = m->tokens_generated;
        o->prompt_tokens = m->prompt_tokens;
        o->mean_accepted = m->mean_accepted;
        o->tokens_per_second = m->tokens_per_second;
        o->active = m->active;
        o->queued = m->queued;
        o->errors = m->errors;
    }
    if (st != NULL) st->uptime_seconds = w->uptime_seconds;
    eagle__v1__response__free_unpacked(resp, NULL);
    if (st == NULL) return ec_fail(client, EAGLE_E_NOMEM, "out of memory");
    *ret_stats = st;
    return 0;
}
