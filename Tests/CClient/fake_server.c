/*
 * fake-eagled: a tiny stand-in for eagled that speaks the wire protocol (framing, hello,
 * ids, streaming, cancel, statuses) with canned, deterministic answers, so libeagle and
 * the Python binding can be tested without the real daemon or a model.
 *
 *   fake-eagled --socket PATH [--max-frame BYTES]
 *
 * Models: "tiny" (default; has a draft head; context 64 tokens, vocab 256), "plain" (no
 * draft head), "slow" (like tiny, 20 ms per token). A generation of n tokens (max_tokens;
 * unset = 8; an explicit 0 or above 1000 is INVALID_ARGUMENT) yields ids (h + 7 i) % 200 + 10 where h hashes the prompt (and the
 * seed when temperature > 0), each detokenized as "w<id> ". Errors mirror the daemon's
 * contract: unknown model NOT_FOUND, negative temperature / max_tokens > 1000 / token id
 * >= 256 / prompt longer than the context INVALID_ARGUMENT, EAGLE on a model without a
 * head FAILED_PRECONDITION. Prompt texts that trigger faults (for the client's tests):
 *   "error:N"      status with wire code N, message "injected error N"
 *   "oversize"     a frame header announcing 0x7fffffff bytes (and nothing more)
 *   "garbage"      a frame whose payload is not a protobuf Response
 *   "close"        the connection is closed without an answer
 *   "id0"          a connection-level status (id 0, UNAVAILABLE), then close
 *   "chunks-only"  one chunk, then a terminal result of the wrong kind (tokenize)
 * Hello with client_name "reject-me" is answered with FAILED_PRECONDITION and a close;
 * "bad-magic" gets a hello reply with a wrong magic.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "eagle/eagle.pb-c.h"

#define VOCAB 256
#define CONTEXT 64
#define MAX_TOKENS_CAP 1000

static uint32_t max_frame = 64 * 1024;
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t stat_requests, stat_tokens, stat_prompt, stat_errors;
static time_t started;

/* ---- connections ---- */

typedef struct job {
    uint64_t id;
    volatile int cancel;
    struct job *next;
} job;

typedef struct conn {
    int fd;
    pthread_mutex_t mu;      /* guards jobs, n_workers, closing; serializes writes */
    pthread_cond_t cv;
    job *jobs;
    int n_workers;
    volatile int closing;
} conn;

static int write_all(int fd, const void *buf, size_t len) {
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len) {
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void put_be32(uint8_t *b, uint32_t v) {
    b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); b[2] = (uint8_t)(v >> 8); b[3] = (uint8_t)v;
}

static void send_raw(conn *c, const void *bytes, size_t len) {
    pthread_mutex_lock(&c->mu);
    (void)write_all(c->fd, bytes, len);
    pthread_mutex_unlock(&c->mu);
}

static void send_resp(conn *c, const Eagle__V1__Response *r) {
    size_t n = eagle__v1__response__get_packed_size(r);
    uint8_t *buf = malloc(n + 4);
    if (buf == NULL) return;
    put_be32(buf, (uint32_t)n);
    eagle__v1__response__pack(r, buf + 4);
    send_raw(c, buf, n + 4);
    free(buf);
}

static void send_status(conn *c, uint64_t id, int code, const char *msg) {
    Eagle__V1__Status st = EAGLE__V1__STATUS__INIT;
    st.code = (Eagle__V1__Code)code;
    st.message = (char *)msg;
    Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
    r.id = id;
    r.kind_case = EAGLE__V1__RESPONSE__KIND_STATUS;
    r.status = &st;
    send_resp(c, &r);
    if (id != 0) {
        pthread_mutex_lock(&stats_mu);
        stat_errors++;
        pthread_mutex_unlock(&stats_mu);
    }
}

static void send_empty(conn *c, uint64_t id, Eagle__V1__Response__KindCase kind) {
    Eagle__V1__Empty e = EAGLE__V1__EMPTY__INIT;
    Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
    r.id = id;
    r.kind_case = kind;
    r.cancelled = &e; /* same union slot as `unloaded` */
    send_resp(c, &r);
}

/* ---- models ---- */

typedef struct model {
    const char *name;
    int has_draft;
    int delay_ms;
} model;

static const model models[] = {{"tiny", 1, 0}, {"plain", 0, 0}, {"slow", 1, 20}};
#define N_MODELS (sizeof models / sizeof models[0])

static const model *find_model(const char *name) {
    if (name == NULL || name[0] == '\0') return &models[0];
    for (size_t i = 0; i < N_MODELS; i++)
        if (strcmp(models[i].name, name) == 0) return &models[i];
    return NULL;
}

static void fill_info(const model *m, Eagle__V1__ModelInfo *info) {
    eagle__v1__model_info__init(info);
    info->name = (char *)m->name;
    info->target_dir = (char *)"/models/fake";
    info->draft_dir = (char *)(m->has_draft ? "/models/fake-head" : "");
    info->has_draft = m->has_draft;
    info->vocab_size = VOCAB;
    info->context_length = CONTEXT;
    info->hidden_size = 16;
    info->layers = 2;
    info->parameters = 12345;
    info->dtype = (char *)"bf16";
    info->weight_bytes = 4096;
    info->mapped_weight_bytes = 3072;
    info->draft_weight_bytes = m->has_draft ? 512 : 0;
    info->kv_bytes_per_token = 128;
}

/* ---- generation ---- */

typedef struct gen_job {
    conn *c;
    job *j;
    Eagle__V1__Request *req;  /* owned */
    const model *m;
    uint32_t hash;
    uint32_t n_prompt;
} gen_job;

static uint32_t fnv(uint32_t h, const void *data, size_t len) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void job_remove(conn *c, job *j) {
    pthread_mutex_lock(&c->mu);
    for (job **pp = &c->jobs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == j) { *pp = j->next; break; }
    c->n_workers--;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    free(j);
}

static void *gen_thread(void *arg) {
    gen_job *g = arg;
    conn *c = g->c;
    const Eagle__V1__Generate *req = g->req->generate;
    uint64_t id = g->req->id;
    uint32_t n = req->_max_tokens_case == EAGLE__V1__GENERATE___MAX_TOKENS_MAX_TOKENS ? req->max_tokens : 8;
    uint64_t seed = req->sampling ? req->sampling->seed : 0;
    float temp = req->sampling ? req->sampling->temperature : 0.0f;
    if (temp > 0 && seed == 0) seed = 42;
    uint32_t h = g->hash;
    if (temp > 0) h = fnv(h, &seed, sizeof seed);

    uint32_t *ids = calloc(n, sizeof *ids);
    char *text = calloc((size_t)n * 8 + 1, 1);
    size_t text_len = 0;
    uint32_t produced = 0;
    int stop_reason = EAGLE__V1__STOP_REASON__STOP_REASON_MAX_TOKENS;
    int cancelled = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (g->m->delay_ms) sleep_ms(g->m->delay_ms);
        if (g->j->cancel || c->closing) { cancelled = 1; break; }
        uint32_t tok = (h + 7u * i) % 200u + 10u;
        ids[produced++] = tok;
        char piece[16];
        int pl = snprintf(piece, sizeof piece, "w%u ", tok);
        memcpy(text + text_len, piece, (size_t)pl);
        text_len += (size_t)pl;
        text[text_len] = '\0';
        int stopped = 0;
        for (size_t s = 0; s < req->n_stop; s++) {
            char *at = req->stop[s][0] ? strstr(text, req->stop[s]) : NULL;
            if (at != NULL) { *at = '\0'; text_len = (size_t)(at - text); stopped = 1; }
        }
        if (req->stream) {
            Eagle__V1__GenerateChunk ch = EAGLE__V1__GENERATE_CHUNK__INIT;
            ch.n_ids = 1;
            ch.ids = &tok;
            ch.text = stopped ? (char *)"" : piece;
            ch.accepted = 1;
            Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
            r.id = id;
            r.kind_case = EAGLE__V1__RESPONSE__KIND_CHUNK;
            r.chunk = &ch;
            send_resp(c, &r);
        }
        if (stopped) { stop_reason = EAGLE__V1__STOP_REASON__STOP_REASON_STOP_STRING; break; }
    }
    if (cancelled) {
        send_status(c, id, EAGLE__V1__CODE__CANCELLED, "request cancelled");
    } else {
        Eagle__V1__GenerateResult res = EAGLE__V1__GENERATE_RESULT__INIT;
        res.n_ids = produced;
        res.ids = ids;
        res.text = text;
        res.stop_reason = (Eagle__V1__StopReason)stop_reason;
        res.prompt_tokens = g->n_prompt;
        res.steps = produced;
        res.mean_accepted = 1.0;
        res.seed = seed;
        res.decode_seconds = 0.001 * produced;
        Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
        r.id = id;
        r.kind_case = EAGLE__V1__RESPONSE__KIND_GENERATE;
        r.generate = &res;
        /* Counted before the result goes out, so a client's next GetStats sees them. */
        pthread_mutex_lock(&stats_mu);
        stat_tokens += produced;
        stat_prompt += g->n_prompt;
        pthread_mutex_unlock(&stats_mu);
        send_resp(c, &r);
    }
    free(ids);
    free(text);
    eagle__v1__request__free_unpacked(g->req, NULL);
    job_remove(c, g->j);
    free(g);
    return NULL;
}

/* Returns 1 when the connection must close afterwards. Takes ownership of req. */
static int handle_generate(conn *c, Eagle__V1__Request *req) {
    const Eagle__V1__Generate *g = req->generate;
    uint64_t id = req->id;
    pthread_mutex_lock(&stats_mu);
    stat_requests++;
    pthread_mutex_unlock(&stats_mu);
    if (g->prompt_case == EAGLE__V1__GENERATE__PROMPT_TEXT) {
        const char *t = g->text;
        uint8_t hdr[4];
        if (strncmp(t, "error:", 6) == 0) {
            char msg[64];
            int code = atoi(t + 6);
            snprintf(msg, sizeof msg, "injected error %d", code);
            send_status(c, id, code, msg);
            eagle__v1__request__free_unpacked(req, NULL);
            return 0;
        }
        if (strcmp(t, "oversize") == 0) {
            put_be32(hdr, 0x7fffffffu);
            send_raw(c, hdr, 4);
            eagle__v1__request__free_unpacked(req, NULL);
            return 0;
        }
        if (strcmp(t, "garbage") == 0) {
            uint8_t frame[4 + 6] = {0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
            send_raw(c, frame, sizeof frame);
            eagle__v1__request__free_unpacked(req, NULL);
            return 0;
        }
        if (strcmp(t, "close") == 0) {
            eagle__v1__request__free_unpacked(req, NULL);
            return 1;
        }
        if (strcmp(t, "id0") == 0) {
            send_status(c, 0, EAGLE__V1__CODE__UNAVAILABLE, "server is shutting down");
            eagle__v1__request__free_unpacked(req, NULL);
            return 1;
        }
        if (strcmp(t, "chunks-only") == 0) {
            uint32_t tok = 11;
            Eagle__V1__GenerateChunk ch = EAGLE__V1__GENERATE_CHUNK__INIT;
            ch.n_ids = 1; ch.ids = &tok; ch.text = (char *)"x"; ch.accepted = 1;
            Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
            r.id = id; r.kind_case = EAGLE__V1__RESPONSE__KIND_CHUNK; r.chunk = &ch;
            send_resp(c, &r);
            Eagle__V1__TokenizeResult tr = EAGLE__V1__TOKENIZE_RESULT__INIT;
            Eagle__V1__Response r2 = EAGLE__V1__RESPONSE__INIT;
            r2.id = id; r2.kind_case = EAGLE__V1__RESPONSE__KIND_TOKENIZE; r2.tokenize = &tr;
            send_resp(c, &r2);
            eagle__v1__request__free_unpacked(req, NULL);
            return 0;
        }
    }
    const model *m = find_model(g->model);
    char msg[256];
    int code = 0;
    uint32_t hash = 2166136261u, n_prompt = 0;
    if (m == NULL) {
        code = EAGLE__V1__CODE__NOT_FOUND;
        snprintf(msg, sizeof msg, "unknown model '%s'", g->model);
    } else if (g->sampling != NULL && !(g->sampling->temperature >= 0.0f)) {
        code = EAGLE__V1__CODE__INVALID_ARGUMENT;
        snprintf(msg, sizeof msg, "temperature must be >= 0");
    } else if (g->_max_tokens_case == EAGLE__V1__GENERATE___MAX_TOKENS_MAX_TOKENS && g->max_tokens == 0) {
        code = EAGLE__V1__CODE__INVALID_ARGUMENT;
        snprintf(msg, sizeof msg, "max_tokens must be at least 1 (leave it unset for the default)");
    } else if (g->max_tokens > MAX_TOKENS_CAP) {
        code = EAGLE__V1__CODE__INVALID_ARGUMENT;
        snprintf(msg, sizeof msg, "max_tokens %u exceeds the cap of %u", g->max_tokens, MAX_TOKENS_CAP);
    } else if (g->speculative != NULL && g->speculative->enabled && !m->has_draft) {
        code = EAGLE__V1__CODE__FAILED_PRECONDITION;
        snprintf(msg, sizeof msg, "model '%s' has no draft head", m->name);
    } else if (g->prompt_case == EAGLE__V1__GENERATE__PROMPT__NOT_SET) {
        code = EAGLE__V1__CODE__INVALID_ARGUMENT;
        snprintf(msg, sizeof msg, "no prompt");
    } else if (g->prompt_case == EAGLE__V1__GENERATE__PROMPT_TEXT) {
        hash = fnv(hash, g->text, strlen(g->text));
        n_prompt = (uint32_t)strlen(g->text) + 1;
    } else if (g->prompt_case == EAGLE__V1__GENERATE__PROMPT_TOKENS) {
        for (size_t i = 0; i < g->tokens->n_ids && code == 0; i++) {
            if (g->tokens->ids[i] >= VOCAB) {
                code = EAGLE__V1__CODE__INVALID_ARGUMENT;
                snprintf(msg, sizeof msg, "token id %u out of range (vocab %u)", g->tokens->ids[i], VOCAB);
            }
        }
        hash = fnv(hash, g->tokens->ids, g->tokens->n_ids * sizeof(uint32_t));
        n_prompt = (uint32_t)g->tokens->n_ids;
    } else {
        for (size_t i = 0; i < g->chat->n_messages; i++) {
            hash = fnv(hash, g->chat->messages[i]->role, strlen(g->chat->messages[i]->role));
            hash = fnv(hash, g->chat->messages[i]->content, strlen(g->chat->messages[i]->content));
            n_prompt += (uint32_t)strlen(g->chat->messages[i]->content) + 2;
        }
    }
    if (code == 0 && n_prompt > CONTEXT) {
        code = EAGLE__V1__CODE__INVALID_ARGUMENT;
        snprintf(msg, sizeof msg, "prompt of %u tokens does not fit the context of %u", n_prompt, CONTEXT);
    }
    if (code != 0) {
        send_status(c, id, code, msg);
        eagle__v1__request__free_unpacked(req, NULL);
        return 0;
    }
    gen_job *gj = calloc(1, sizeof *gj);
    job *j = calloc(1, sizeof *j);
    gj->c = c; gj->j = j; gj->req = req; gj->m = m; gj->hash = hash; gj->n_prompt = n_prompt;
    j->id = id;
    pthread_mutex_lock(&c->mu);
    j->next = c->jobs;
    c->jobs = j;
    c->n_workers++;
    pthread_mutex_unlock(&c->mu);
    pthread_t t;
    pthread_create(&t, NULL, gen_thread, gj);
    pthread_detach(t);
    return 0;
}

/* Returns 1 when the connection must close. Takes ownership of req. */
static int handle(conn *c, Eagle__V1__Request *req) {
    uint64_t id = req->id;
    Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
    r.id = id;
    switch (req->kind_case) {
    case EAGLE__V1__REQUEST__KIND_GENERATE:
        return handle_generate(c, req);
    case EAGLE__V1__REQUEST__KIND_CANCEL: {
        pthread_mutex_lock(&c->mu);
        for (job *j = c->jobs; j != NULL; j = j->next)
            if (j->id == req->cancel->target_id) j->cancel = 1;
        pthread_mutex_unlock(&c->mu);
        send_empty(c, id, EAGLE__V1__RESPONSE__KIND_CANCELLED);
        break;
    }
    case EAGLE__V1__REQUEST__KIND_HEALTH: {
        Eagle__V1__HealthReply h = EAGLE__V1__HEALTH_REPLY__INIT;
        h.serving = 1;
        h.models = N_MODELS;
        r.kind_case = EAGLE__V1__RESPONSE__KIND_HEALTH;
        r.health = &h;
        send_resp(c, &r);
        break;
    }
    case EAGLE__V1__REQUEST__KIND_LIST_MODELS: {
        Eagle__V1__ModelInfo infos[N_MODELS];
        Eagle__V1__ModelInfo *ptrs[N_MODELS];
        for (size_t i = 0; i < N_MODELS; i++) { fill_info(&models[i], &infos[i]); ptrs[i] = &infos[i]; }
        Eagle__V1__ModelList ml = EAGLE__V1__MODEL_LIST__INIT;
        ml.n_models = N_MODELS;
        ml.models = ptrs;
        r.kind_case = EAGLE__V1__RESPONSE__KIND_MODELS;
        r.models = &ml;
        send_resp(c, &r);
        break;
    }
    case EAGLE__V1__REQUEST__KIND_LOAD_MODEL: {
        const Eagle__V1__LoadModel *lm = req->load_model;
        if (lm->name[0] == '\0') {
            send_status(c, id, EAGLE__V1__CODE__INVALID_ARGUMENT, "name is required");
        } else if (strncmp(lm->target_dir, "/models/", 8) != 0) {
            send_status(c, id, EAGLE__V1__CODE__PERMISSION_DENIED, "target_dir is outside the model root");
        } else if (find_model(lm->name) != NULL) {
            send_status(c, id, EAGLE__V1__CODE__ALREADY_EXISTS, "a model with that name is loaded");
        } else {
            Eagle__V1__ModelInfo info;
            model m = {lm->name, lm->draft_dir[0] != '\0', 0};
            fill_info(&m, &info);
            info.target_dir = lm->target_dir;
            info.draft_dir = lm->draft_dir;
            r.kind_case = EAGLE__V1__RESPONSE__KIND_LOADED;
            r.loaded = &info;
            send_resp(c, &r);
        }
        break;
    }
    case EAGLE__V1__REQUEST__KIND_UNLOAD_MODEL:
        if (find_model(req->unload_model->name) == NULL || req->unload_model->name[0] == '\0')
            send_status(c, id, EAGLE__V1__CODE__NOT_FOUND, "no such model");
        else
            send_empty(c, id, EAGLE__V1__RESPONSE__KIND_UNLOADED);
        break;
    case EAGLE__V1__REQUEST__KIND_TOKENIZE: {
        const char *t = req->tokenize->text;
        size_t n = strlen(t) + (req->tokenize->add_special_tokens ? 1 : 0);
        uint32_t *ids = calloc(n + 1, sizeof *ids);
        size_t k = 0;
        if (req->tokenize->add_special_tokens) ids[k++] = 1;
        for (const char *p = t; *p; p++) ids[k++] = (uint8_t)*p;
        Eagle__V1__TokenizeResult tr = EAGLE__V1__TOKENIZE_RESULT__INIT;
        tr.n_ids = k;
        tr.ids = ids;
        r.kind_case = EAGLE__V1__RESPONSE__KIND_TOKENIZE;
        r.tokenize = &tr;
        send_resp(c, &r);
        free(ids);
        break;
    }
    case EAGLE__V1__REQUEST__KIND_DETOKENIZE: {
        const Eagle__V1__Detokenize *d = req->detokenize;
        char *text = calloc(d->n_ids + 1, 1);
        size_t k = 0;
        for (size_t i = 0; i < d->n_ids; i++)
            if (d->ids[i] >= 32 && d->ids[i] < 127) text[k++] = (char)d->ids[i];
        Eagle__V1__DetokenizeResult dr = EAGLE__V1__DETOKENIZE_RESULT__INIT;
        dr.text = text;
        r.kind_case = EAGLE__V1__RESPONSE__KIND_DETOKENIZE;
        r.detokenize = &dr;
        send_resp(c, &r);
        free(text);
        break;
    }
    case EAGLE__V1__REQUEST__KIND_GET_STATS: {
        const char *want = req->get_stats->model;
        if (want[0] != '\0' && find_model(want) == NULL) {
            send_status(c, id, EAGLE__V1__CODE__NOT_FOUND, "no such model");
            break;
        }
        Eagle__V1__ModelStats ms = EAGLE__V1__MODEL_STATS__INIT;
        Eagle__V1__ModelStats *pms = &ms;
        pthread_mutex_lock(&stats_mu);
        ms.name = (char *)"tiny";
        ms.requests = stat_requests;
        ms.tokens_generated = stat_tokens;
        ms.prompt_tokens = stat_prompt;
        ms.errors = stat_errors;
        pthread_mutex_unlock(&stats_mu);
        ms.mean_accepted = 1.0;
        ms.tokens_per_second = 1000.0;
        Eagle__V1__StatsReply sr = EAGLE__V1__STATS_REPLY__INIT;
        sr.n_models = 1;
        sr.models = &pms;
        sr.uptime_seconds = (double)(time(NULL) - started);
        r.kind_case = EAGLE__V1__RESPONSE__KIND_STATS;
        r.stats = &sr;
        send_resp(c, &r);
        break;
    }
    case EAGLE__V1__REQUEST__KIND_HELLO:
        send_status(c, id, EAGLE__V1__CODE__FAILED_PRECONDITION, "hello sent twice");
        break;
    default:
        send_status(c, id, EAGLE__V1__CODE__UNIMPLEMENTED, "unknown request kind");
        break;
    }
    eagle__v1__request__free_unpacked(req, NULL);
    return 0;
}

/* Reads one request; returns NULL (after answering when possible) if the link must close. */
static Eagle__V1__Request *read_request(conn *c) {
    uint8_t hdr[4];
    if (read_all(c->fd, hdr, 4) != 0) return NULL;
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len > max_frame) {
        send_status(c, 0, EAGLE__V1__CODE__RESOURCE_EXHAUSTED, "frame exceeds the limit");
        return NULL;
    }
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL || read_all(c->fd, buf, len) != 0) {
        free(buf);
        return NULL;
    }
    Eagle__V1__Request *req = eagle__v1__request__unpack(NULL, len, buf);
    free(buf);
    if (req == NULL) send_status(c, 0, EAGLE__V1__CODE__INVALID_ARGUMENT, "undecodable frame");
    return req;
}

static void *conn_thread(void *arg) {
    conn *c = arg;
    Eagle__V1__Request *req = read_request(c);
    int ok = 0;
    if (req != NULL && req->kind_case == EAGLE__V1__REQUEST__KIND_HELLO &&
        req->hello->magic == EAGLE__V1__MAGIC__MAGIC_EAGLE && req->hello->protocol_version == 1) {
        if (strcmp(req->hello->client_name, "reject-me") == 0) {
            send_status(c, req->id, EAGLE__V1__CODE__FAILED_PRECONDITION, "go away");
        } else {
            Eagle__V1__HelloReply h = EAGLE__V1__HELLO_REPLY__INIT;
            h.magic = strcmp(req->hello->client_name, "bad-magic") == 0 ? 0x12345678u : EAGLE__V1__MAGIC__MAGIC_EAGLE;
            h.protocol_version = 1;
            h.server_version = (char *)"fake-eagled 0";
            h.max_frame_bytes = max_frame;
            Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
            r.id = req->id;
            r.kind_case = EAGLE__V1__RESPONSE__KIND_HELLO;
            r.hello = &h;
            send_resp(c, &r);
            ok = 1;
        }
    } else if (req != NULL) {
        send_status(c, req->id, EAGLE__V1__CODE__FAILED_PRECONDITION, "expected hello");
    }
    if (req != NULL) eagle__v1__request__free_unpacked(req, NULL);
    while (ok && (req = read_request(c)) != NULL) {
        if (handle(c, req)) break;
    }
    /* Close: stop the workers, wait for them, then free. */
    pthread_mutex_lock(&c->mu);
    c->closing = 1;
    shutdown(c->fd, SHUT_RDWR);
    while (c->n_workers > 0) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    close(c->fd);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    return NULL;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) path = argv[++i];
        else if (strcmp(argv[i], "--max-frame") == 0 && i + 1 < argc) max_frame = (uint32_t)strtoul(argv[++i], NULL, 10);
        else { fprintf(stderr, "usage: fake-eagled --socket PATH [--max-frame BYTES]\n"); return 2; }
    }
    if (path == NULL) { fprintf(stderr, "fake-eagled: --socket is required\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    started = time(NULL);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    unlink(path);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 64) != 0) {
        perror("fake-eagled: bind/listen");
        return 1;
    }
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            perror("fake-eagled: accept");
            return 1;
        }
        conn *c = calloc(1, sizeof *c);
        c->fd = fd;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        pthread_t t;
        pthread_create(&t, NULL, conn_thread, c);
        pthread_detach(t);
    }
}
