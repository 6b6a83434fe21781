/* Generation: params → protobuf, pull-style streams, blocking and callback generation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum stream_state { RUNNING, FINISHED, RESULT_TAKEN, FAILED };

struct eagle_stream {
    eagle_client *client;
    ec_call call;
    enum stream_state state;
    Eagle__V1__Response *chunk_resp;   /* backs `chunk` until the next call */
    eagle_chunk chunk;
    eagle_generate_result *result;     /* set when FINISHED */
    int error;                         /* set when FAILED */
    char error_msg[EAGLE_MSG_MAX];
};

EAGLE_API eagle_generate_params eagle_generate_default_params(void) {
    eagle_generate_params p;
    memset(&p, 0, sizeof p);
    return p;
}

EAGLE_API void eagle_generate_result_free(eagle_generate_result *result) {
    if (result == NULL) return;
    free(result->text);
    free(result->ids);
    free(result->decoding);
    free(result->decoding_reason);
    free(result);
}

/* Everything a Generate request points at besides the caller's own memory. */
typedef struct gen_msg {
    Eagle__V1__Request req;
    Eagle__V1__Generate gen;
    Eagle__V1__Sampling sampling;
    Eagle__V1__SpeculativeOptions spec;
    Eagle__V1__TokenIds tokens;
    Eagle__V1__ChatMessages chat;
    Eagle__V1__ChatMessage *chat_msgs;   /* n_chat, heap */
    Eagle__V1__ChatMessage **chat_ptrs;  /* n_chat, heap */
} gen_msg;

static void gen_msg_free(gen_msg *m) {
    free(m->chat_msgs);
    free(m->chat_ptrs);
}

/* Builds the request. Borrowed strings are cast to char * for protobuf-c, which only
 * reads them when packing. */
static int gen_msg_build(eagle_client *c, const eagle_generate_params *p, int stream, gen_msg *m) {
    memset(m, 0, sizeof *m);
    int prompts = (p->text != NULL) + (p->tokens != NULL) + (p->chat != NULL);
    if (prompts > 1) return ec_fail(c, EAGLE_E_INVAL, "set only one of text, tokens and chat");
    if (p->n_stop > 0 && p->stop == NULL) return ec_fail(c, EAGLE_E_INVAL, "n_stop > 0 but stop is NULL");
    for (size_t i = 0; i < p->n_stop; i++)
        if (p->stop[i] == NULL) return ec_fail(c, EAGLE_E_INVAL, "stop[%zu] is NULL", i);

    eagle__v1__request__init(&m->req);
    eagle__v1__generate__init(&m->gen);
    eagle__v1__sampling__init(&m->sampling);
    eagle__v1__speculative_options__init(&m->spec);
    m->req.kind_case = EAGLE__V1__REQUEST__KIND_GENERATE;
    m->req.generate = &m->gen;

    m->gen.model = (char *)(p->model != NULL ? p->model : "");
    if (p->text != NULL) {
        m->gen.prompt_case = EAGLE__V1__GENERATE__PROMPT_TEXT;
        m->gen.text = (char *)p->text;
    } else if (p->tokens != NULL) {
        eagle__v1__token_ids__init(&m->tokens);
        m->tokens.n_ids = p->n_tokens;
        m->tokens.ids = (uint32_t *)p->tokens;
        m->gen.prompt_case = EAGLE__V1__GENERATE__PROMPT_TOKENS;
        m->gen.tokens = &m->tokens;
    } else if (p->chat != NULL) {
        eagle__v1__chat_messages__init(&m->chat);
        if (p->n_chat > 0) {
            m->chat_msgs = calloc(p->n_chat, sizeof *m->chat_msgs);
            m->chat_ptrs = calloc(p->n_chat, sizeof *m->chat_ptrs);
            if (m->chat_msgs == NULL || m->chat_ptrs == NULL) {
                gen_msg_free(m);
                return ec_fail(c, EAGLE_E_NOMEM, "out of memory");
            }
        }
        for (size_t i = 0; i < p->n_chat; i++) {
            eagle__v1__chat_message__init(&m->chat_msgs[i]);
            m->chat_msgs[i].role = (char *)(p->chat[i].role != NULL ? p->chat[i].role : "");
            m->chat_msgs[i].content = (char *)(p->chat[i].content != NULL ? p->chat[i].content : "");
            m->chat_ptrs[i] = &m->chat_msgs[i];
        }
        m->chat.n_messages = p->n_chat;
        m->chat.messages = m->chat_ptrs;
        m->gen.prompt_case = EAGLE__V1__GENERATE__PROMPT_CHAT;
        m->gen.chat = &m->chat;
    }
    /* 0 = leave the field unset on the wire: the daemon's default length. (The daemon
     * refuses an explicit 0, which this API therefore never sends.) */
    if (p->max_tokens != 0) {
        m->gen._max_tokens_case = EAGLE__V1__GENERATE___MAX_TOKENS_MAX_TOKENS;
        m->gen.max_tokens = p->max_tokens;
    }
    m->sampling.temperature = p->temperature;
    m->sampling.top_k = p->top_k;
    m->sampling.top_p = p->top_p;
    m->sampling.seed = p->seed;
    m->gen.sampling = &m->sampling;
    m->gen.n_stop = p->n_stop;
    m->gen.stop = (char **)p->stop;
    m->spec.enabled = p->eagle != 0;
    m->spec.tree_depth = p->tree_depth;
    m->spec.tree_top_k = p->tree_top_k;
    m->spec.total_tokens = p->total_tokens;
    m->spec.static_tree = p->static_tree != 0;
    m->gen.speculative = &m->spec;
    m->gen.stream = stream != 0;
    m->gen.ignore_eos = p->ignore_eos != 0;
    return 0;
}

static eagle_generate_result *result_from_wire(const Eagle__V1__GenerateResult *g) {
    eagle_generate_result *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    size_t len = strlen(g->text);
    r->text = malloc(len + 1);
    r->ids = malloc(g->n_ids > 0 ? g->n_ids * sizeof *r->ids : 1);
    r->decoding = ec_strdup(g->decoding);
    r->decoding_reason = ec_strdup(g->decoding_reason);
    if (r->text == NULL || r->ids == NULL || r->decoding == NULL || r->decoding_reason == NULL) {
        eagle_generate_result_free(r);
        return NULL;
    }
    memcpy(r->text, g->text, len + 1);
    r->text_len = len;
    if (g->n_ids > 0) memcpy(r->ids, g->ids, g->n_ids * sizeof *r->ids);
    r->n_ids = g->n_ids;
    r->stop_reason = (eagle_stop_reason)g->stop_reason;
    r->prompt_tokens = g->prompt_tokens;
    r->steps = g->steps;
    r->mean_accepted = g->mean_accepted;
    r->prefill_seconds = g->prefill_seconds;
    r->decode_seconds = g->decode_seconds;
    r->queue_seconds = g->queue_seconds;
    r->seed = g->seed;
    r->expected_accepted = g->expected_accepted;
    return r;
}

/* ---- pull-style stream ---- */

static int stream_begin(eagle_client *client, const eagle_generate_params *params, int stream,
                        eagle_stream **ret) {
    if (client == NULL || params == NULL)
        return ec_fail(client, EAGLE_E_INVAL, "client or params is NULL");
    eagle_stream *s = calloc(1, sizeof *s);
    if (s == NULL) return ec_fail(client, EAGLE_E_NOMEM, "out of memory");
    gen_msg m;
    int rc = gen_msg_build(client, params, stream, &m);
    if (rc == 0) {
        rc = ec_call_begin(client, &s->call, &m.req);
        gen_msg_free(&m);
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->client = client;
    s->state = RUNNING;
    *ret = s;
    return 0;
}

EAGLE_API int eagle_stream_start(eagle_client *client, const eagle_generate_params *params,
                                 eagle_stream **ret_stream) {
    if (ret_stream == NULL) return ec_fail(client, EAGLE_E_INVAL, "ret_stream is NULL");
    return stream_begin(client, params, 1, ret_stream);
}

EAGLE_API uint64_t eagle_stream_id(const eagle_stream *stream) {
    return stream != NULL ? stream->call.id : 0;
}

static void release_chunk(eagle_stream *s) {
    if (s->chunk_resp != NULL) {
        eagle__v1__response__free_unpacked(s->chunk_resp, NULL);
        s->chunk_resp = NULL;
    }
}

static int stream_fail(eagle_stream *s, int code) {
    s->state = FAILED;
    s->error = code;
    snprintf(s->error_msg, sizeof s->error_msg, "%s", eagle_last_error());
    ec_call_end(s->client, &s->call);
    return code;
}

EAGLE_API int eagle_stream_next(eagle_stream *s, const eagle_chunk **ret_chunk) {
    if (s == NULL || ret_chunk == NULL) return ec_fail(NULL, EAGLE_E_INVAL, "stream or ret_chunk is NULL");
    release_chunk(s);
    switch (s->state) {
    case FINISHED:
    case RESULT_TAKEN:
        *ret_chunk = NULL;
        return 0;
    case FAILED:
        return ec_fail(s->client, s->error, "%s", s->error_msg);
    case RUNNING:
        break;
    }
    Eagle__V1__Response *resp = NULL;
    int rc = ec_call_next(s->client, &s->call, &resp);
    if (rc != 0) return stream_fail(s, rc);
    switch (resp->kind_case) {
    case EAGLE__V1__RESPONSE__KIND_CHUNK: {
        const Eagle__V1__GenerateChunk *ch = resp->chunk;
        s->chunk_resp = resp;
        s->chunk.ids = ch->ids;
        s->chunk.n_ids = ch->n_ids;
        s->chunk.text = ch->text;
        s->chunk.text_len = strlen(ch->text);
        s->chunk.accepted = ch->accepted;
        *ret_chunk = &s->chunk;
        return 0;
    }
    case EAGLE__V1__RESPONSE__KIND_GENERATE:
        s->result = result_from_wire(resp->generate);
        eagle__v1__response__free_unpacked(resp, NULL);
        if (s->result == NULL) return stream_fail(s, ec_fail(s->client, EAGLE_E_NOMEM, "out of memory"));
        s->state = FINISHED;
        ec_call_end(s->client, &s->call);
        *ret_chunk = NULL;
        return 0;
    case EAGLE__V1__RESPONSE__KIND_STATUS:
        rc = ec_fail_status(s->client, resp->status);
        eagle__v1__response__free_unpacked(resp, NULL);
        return stream_fail(s, rc);
    default:
        rc = ec_fail(s->client, EAGLE_E_PROTOCOL, "server answered a generate request with response kind %d",
                     (int)resp->kind_case);
        eagle__v1__response__free_unpacked(resp, NULL);
        return stream_fail(s, rc);
    }
}

EAGLE_API int eagle_stream_result(eagle_stream *s, eagle_generate_result **ret_result) {
    if (s == NULL || ret_result == NULL) return ec_fail(NULL, EAGLE_E_INVAL, "stream or ret_result is NULL");
    if (s->state != FINISHED)
        return ec_fail(s->client, EAGLE_E_STATE, s->state == RESULT_TAKEN ? "result already taken"
                                                 : s->state == FAILED    ? "the request failed"
                                                                         : "the stream has not ended");
    *ret_result = s->result;
    s->result = NULL;
    s->state = RESULT_TAKEN;
    return 0;
}

EAGLE_API int eagle_stream_cancel(eagle_stream *s) {
    if (s == NULL) return ec_fail(NULL, EAGLE_E_INVAL, "stream is NULL");
    if (ec_call_done(s->client, &s->call)) return 0;
    int rc = eagle_client_cancel(s->client, s->call.id);
    return rc == EAGLE_E_NOT_FOUND ? 0 : rc; /* finished before the cancel arrived */
}

EAGLE_API const char *eagle_stream_error(const eagle_stream *s) {
    return s != NULL && s->state == FAILED ? s->error_msg : "";
}

EAGLE_API void eagle_stream_free(eagle_stream *s) {
    if (s == NULL) return;
    release_chunk(s);
    if (s->state == RUNNING) {
        if (!ec_call_done(s->client, &s->call)) {
            Eagle__V1__Cancel cancel = EAGLE__V1__CANCEL__INIT;
            cancel.target_id = s->call.id;
            Eagle__V1__Request req = EAGLE__V1__REQUEST__INIT;
            req.kind_case = EAGLE__V1__REQUEST__KIND_CANCEL;
            req.cancel = &cancel;
            (void)ec_send_detached(s->client, &req); /* answers to both are dropped on arrival */
        }
        ec_call_end(s->client, &s->call);
    }
    eagle_generate_result_free(s->result);
    free(s);
}

/* ---- blocking and callback generation ---- */

static int run_to_end(eagle_stream *s, eagle_chunk_fn on_chunk, void *user_data,
                      eagle_generate_result **ret_result) {
    int cancelled = 0;
    for (;;) {
        const eagle_chunk *chunk = NULL;
        int rc = eagle_stream_next(s, &chunk);
        if (rc != 0) return rc;
        if (chunk == NULL) break;
        if (on_chunk != NULL && !cancelled && on_chunk(chunk, user_data) != 0) {
            cancelled = 1;
            rc = eagle_stream_cancel(s);
            if (rc != 0 && rc != EAGLE_E_CANCELLED) return rc;
        }
    }
    eagle_generate_result *r = NULL;
    int rc = eagle_stream_result(s, &r);
    if (rc != 0) return rc;
    if (ret_result != NULL) *ret_result = r; else eagle_generate_result_free(r);
    return 0;
}

EAGLE_API int eagle_generate(eagle_client *client, const eagle_generate_params *params,
                             eagle_generate_result **ret_result) {
    if (ret_result == NULL) return ec_fail(client, EAGLE_E_INVAL, "ret_result is NULL");
    eagle_stream *s = NULL;
    int rc = stream_begin(client, params, 0, &s);
    if (rc != 0) return rc;
    rc = run_to_end(s, NULL, NULL, ret_result);
    eagle_stream_free(s);
    return rc;
}

EAGLE_API int eagle_generate_stream(eagle_client *client, const eagle_generate_params *params,
                                    eagle_chunk_fn on_chunk, void *user_data,
                                    eagle_generate_result **ret_result) {
    eagle_stream *s = NULL;
    int rc = stream_begin(client, params, 1, &s);
    if (rc != 0) return rc;
    rc = run_to_end(s, on_chunk, user_data, ret_result);
    eagle_stream_free(s);
    return rc;
}
