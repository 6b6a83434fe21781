/*
 * libeagle against a live eagled (EAGLE_SOCKET, started by Tests/CClient/run.sh with one
 * model): concurrent clients match sequential runs, a cancel mid-stream frees the slot,
 * bad input gets its documented status while another client keeps being served.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eagle/eagle.h"
#include "check.h"

static eagle_model_info model;  /* the daemon's default model (first listed) */

static eagle_client *connect_ok(void) {
    eagle_client *c = NULL;
    int rc = eagle_client_connect(NULL, "test_e2e", &c);
    if (rc != 0) {
        fprintf(stderr, "    connect failed: %s (%s)\n", eagle_strerror(rc), eagle_last_error());
        exit(2);
    }
    return c;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *prompts[] = {
    "def fibonacci(n):", "import os\n", "class Stack:", "for i in range(10):",
    "def main():", "x = [1, 2, 3]\n", "# compute the sum", "while True:",
    "def add(a, b):", "print(",
};
#define N_PROMPTS (sizeof prompts / sizeof prompts[0])

static eagle_generate_params params_for(int i) {
    eagle_generate_params p = eagle_generate_default_params();
    p.text = prompts[i % N_PROMPTS];
    p.max_tokens = 12 + (uint32_t)(i % 4) * 4;
    if (i % 2 == 1) { /* sampled, with a fixed seed: must reproduce exactly */
        p.temperature = 0.8f;
        p.top_k = 40;
        p.seed = 1000 + (uint64_t)i;
    }
    return p;
}

static void test_hello_and_models(void) {
    eagle_client *c = connect_ok();
    CHECK(strlen(eagle_client_server_version(c)) > 0);
    CHECK(eagle_client_max_frame_bytes(c) >= 64 * 1024);
    eagle_health h;
    CHECK_RC(eagle_client_health(c, &h), 0);
    CHECK(h.serving && h.models >= 1 && !h.draining);
    eagle_model_list *list = NULL;
    CHECK_RC(eagle_model_list_get(c, &list), 0);
    CHECK(list != NULL && list->n_models >= 1);
    if (list != NULL && list->n_models >= 1) {
        const eagle_model_info *m = &list->models[0];
        CHECK(m->vocab_size > 0 && m->context_length > 0 && m->layers > 0);
        model = *m;
        model.name = strdup(m->name);
        model.target_dir = model.draft_dir = NULL;
        printf("    model '%s': vocab %u, context %u, layers %u, draft %s\n", model.name, model.vocab_size,
               model.context_length, model.layers, model.has_draft ? "yes" : "no");
    }
    eagle_model_list_free(list);
    eagle_client_free(c);
}

static void test_tokenize_roundtrip(void) {
    eagle_client *c = connect_ok();
    uint32_t *ids = NULL;
    size_t n = 0;
    CHECK_RC(eagle_tokenize(c, NULL, "def fibonacci(n):", 0, &ids, &n), 0);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) CHECK(ids[i] < model.vocab_size);
    char *text = NULL;
    CHECK_RC(eagle_detokenize(c, NULL, ids, n, 1, &text), 0);
    CHECK(text != NULL && strstr(text, "fibonacci") != NULL);
    eagle_free(ids);
    eagle_free(text);
    eagle_client_free(c);
}

typedef struct collect {
    char text[65536];
    size_t n_ids, n_chunks, stop_after;
} collect;

static int on_chunk(const eagle_chunk *ch, void *user_data) {
    collect *col = user_data;
    strncat(col->text, ch->text, sizeof col->text - strlen(col->text) - 1);
    col->n_ids += ch->n_ids;
    col->n_chunks++;
    return col->stop_after != 0 && col->n_chunks >= col->stop_after;
}

static void test_generate_modes_agree(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = params_for(0);
    eagle_generate_result *a = NULL, *b = NULL;
    CHECK_RC(eagle_generate(c, &p, &a), 0);
    collect *col = calloc(1, sizeof *col);
    CHECK_RC(eagle_generate_stream(c, &p, on_chunk, col, &b), 0);
    if (a != NULL && b != NULL) {
        CHECK(a->n_ids > 0 && a->n_ids <= p.max_tokens);
        CHECK(a->n_ids == b->n_ids && memcmp(a->ids, b->ids, a->n_ids * sizeof(uint32_t)) == 0);
        CHECK(strcmp(a->text, b->text) == 0);
        CHECK(strcmp(col->text, b->text) == 0 && col->n_ids == b->n_ids);
        CHECK(a->prompt_tokens > 0 && a->steps > 0 && a->mean_accepted >= 1.0);
    }
    free(col);
    eagle_generate_result_free(a);
    eagle_generate_result_free(b);
    eagle_client_free(c);
}

/* ---- concurrency: >= 8 clients at once match the same requests one by one ---- */

#define N_CLIENTS 8
#define N_EACH 3

typedef struct worker {
    eagle_client *shared;
    int index;
    char *texts[N_EACH];
    int rc;
    char msg[256];
} worker;

static void *worker_run(void *arg) {
    worker *w = arg;
    eagle_client *c = w->shared;
    if (c == NULL && (w->rc = eagle_client_connect(NULL, "e2e-worker", &c)) != 0) return NULL;
    for (int i = 0; i < N_EACH; i++) {
        eagle_generate_params p = params_for(w->index * N_EACH + i);
        eagle_generate_result *r = NULL;
        int rc;
        if (i == 1) {
            collect *col = calloc(1, sizeof *col);
            rc = eagle_generate_stream(c, &p, on_chunk, col, &r);
            if (rc == 0 && strcmp(col->text, r->text) != 0) rc = -1000;
            free(col);
        } else {
            rc = eagle_generate(c, &p, &r);
        }
        if (rc != 0) {
            w->rc = rc;
            snprintf(w->msg, sizeof w->msg, "%s", eagle_last_error());
            break;
        }
        w->texts[i] = strdup(r->text);
        eagle_generate_result_free(r);
    }
    if (w->shared == NULL) eagle_client_free(c);
    return NULL;
}

static void run_concurrent(eagle_client *shared) {
    worker ws[N_CLIENTS];
    pthread_t ts[N_CLIENTS];
    memset(ws, 0, sizeof ws);
    double t0 = now();
    for (int k = 0; k < N_CLIENTS; k++) {
        ws[k].shared = shared;
        ws[k].index = k;
        pthread_create(&ts[k], NULL, worker_run, &ws[k]);
    }
    for (int k = 0; k < N_CLIENTS; k++) pthread_join(ts[k], NULL);
    double t1 = now();
    eagle_client *c = connect_ok();
    for (int k = 0; k < N_CLIENTS; k++) {
        if (ws[k].rc != 0) fprintf(stderr, "    worker %d: %s (%s)\n", k, eagle_strerror(ws[k].rc), ws[k].msg);
        CHECK_RC(ws[k].rc, 0);
        for (int i = 0; i < N_EACH; i++) {
            eagle_generate_params p = params_for(k * N_EACH + i);
            eagle_generate_result *r = NULL;
            CHECK_RC(eagle_generate(c, &p, &r), 0);
            if (r != NULL && ws[k].texts[i] != NULL) {
                if (strcmp(r->text, ws[k].texts[i]) != 0)
                    fprintf(stderr, "    request %d differs:\n      concurrent: %s\n      sequential: %s\n",
                            k * N_EACH + i, ws[k].texts[i], r->text);
                CHECK(strcmp(r->text, ws[k].texts[i]) == 0);
            }
            eagle_generate_result_free(r);
            free(ws[k].texts[i]);
        }
    }
    printf("    %d requests concurrently in %.2f s, one by one in %.2f s\n", N_CLIENTS * N_EACH, t1 - t0, now() - t1);
    eagle_client_free(c);
}

static void test_concurrent_clients(void) { run_concurrent(NULL); }

static void test_concurrent_threads_one_handle(void) {
    eagle_client *c = connect_ok();
    run_concurrent(c);
    eagle_client_free(c);
}

/* ---- cancel ---- */

static int active_requests(eagle_client *c) {
    eagle_stats *st = NULL;
    if (eagle_stats_get(c, NULL, &st) != 0) return -1;
    int active = 0;
    for (size_t i = 0; i < st->n_models; i++) active += (int)(st->models[i].active + st->models[i].queued);
    eagle_stats_free(st);
    return active;
}

/* A long generation, cancelled after a few chunks, ends CANCELLED and gives its slot back. */
static void test_cancel_frees_slot(void) {
    eagle_client *c = connect_ok();
    eagle_client *watcher = connect_ok();
    eagle_generate_params p = eagle_generate_default_params();
    p.text = "def long_function():";
    p.max_tokens = model.context_length > 64 ? model.context_length - 32 : 32;
    p.ignore_eos = 1;
    /* Two long streams take both worker slots; each is cancelled after its first chunk. */
    eagle_stream *streams[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) CHECK_RC(eagle_stream_start(c, &p, &streams[k]), 0);
    for (int k = 0; k < 2; k++) {
        if (streams[k] == NULL) continue;
        const eagle_chunk *ch = NULL;
        CHECK_RC(eagle_stream_next(streams[k], &ch), 0);
        CHECK(ch != NULL);
        CHECK_RC(eagle_stream_cancel(streams[k]), 0);
    }
    for (int k = 0; k < 2; k++) {
        if (streams[k] == NULL) continue;
        const eagle_chunk *ch = NULL;
        int rc;
        size_t after = 0;
        while ((rc = eagle_stream_next(streams[k], &ch)) == 0 && ch != NULL) after++;
        CHECK_RC(rc, EAGLE_E_CANCELLED); /* ended early: the cancel beat the ~1000-token generation */
        printf("    stream %d: %zu chunks arrived after the cancel\n", k, after);
        eagle_stream_free(streams[k]);
    }
    /* The slots are free again: nothing active, and a new request runs without queueing. */
    int active = -1;
    for (int i = 0; i < 50 && (active = active_requests(watcher)) != 0; i++) usleep(20 * 1000);
    CHECK(active == 0);
    eagle_generate_params q = params_for(2);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &q, &r), 0);
    CHECK(r != NULL && r->queue_seconds < 0.5);
    eagle_generate_result_free(r);

    /* Callback cancel, and cancelling an id that is not in flight. */
    collect *col = calloc(1, sizeof *col);
    col->stop_after = 2;
    r = NULL;
    CHECK_RC(eagle_generate_stream(c, &p, on_chunk, col, &r), EAGLE_E_CANCELLED);
    CHECK(col->n_chunks == 2);
    free(col);
    CHECK_RC(eagle_client_cancel(c, 987654), EAGLE_E_NOT_FOUND);
    eagle_client_free(watcher);
    eagle_client_free(c);
}

/* ---- bad input while another client is being served ---- */

typedef struct background {
    atomic_int stop;
    atomic_int served;
    int errors;
} background;

static void *serve_background(void *arg) {
    background *bg = arg;
    eagle_client *c = connect_ok();
    eagle_generate_params p = params_for(0);
    eagle_generate_result *ref = NULL;
    if (eagle_generate(c, &p, &ref) != 0) bg->errors++;
    while (!atomic_load(&bg->stop)) {
        eagle_generate_result *r = NULL;
        if (eagle_generate(c, &p, &r) != 0 || ref == NULL || strcmp(r->text, ref->text) != 0) bg->errors++;
        else atomic_fetch_add(&bg->served, 1);
        eagle_generate_result_free(r);
    }
    eagle_generate_result_free(ref);
    eagle_client_free(c);
    return NULL;
}

static void expect_error(eagle_client *c, const eagle_generate_params *p, int want, const char *what) {
    eagle_generate_result *r = (eagle_generate_result *)0x1;
    int rc = eagle_generate(c, p, &r);
    if (rc != want) fprintf(stderr, "    %s: got %d (%s: %s)\n", what, rc, eagle_strerror(rc), eagle_last_error());
    else printf("    %s -> %s: %s\n", what, eagle_strerror(rc), eagle_last_error());
    CHECK(rc == want);
    CHECK(r == (eagle_generate_result *)0x1);
    /* Streaming requests fail the same way. */
    eagle_stream *s = NULL;
    const eagle_chunk *ch = NULL;
    rc = eagle_stream_start(c, p, &s);
    if (rc == 0) rc = eagle_stream_next(s, &ch);
    CHECK(rc == want);
    eagle_stream_free(s);
}

static void test_bad_input(void) {
    background bg = {0, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, serve_background, &bg);
    eagle_client *c = connect_ok();
    for (int i = 0; i < 500 && atomic_load(&bg.served) < 1; i++) usleep(10 * 1000);

    eagle_generate_params p = params_for(0);
    p.model = "no-such-model";
    expect_error(c, &p, EAGLE_E_NOT_FOUND, "unknown model");
    p = params_for(0);
    p.temperature = -1.0f;
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "negative temperature");
    p = params_for(0);
    p.top_p = 1.5f;
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "top_p above 1");
    p = params_for(0);
    p.max_tokens = 1u << 30;
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "huge max_tokens");
    uint32_t bad_ids[] = {1, model.vocab_size + 5};
    p = eagle_generate_default_params();
    p.tokens = bad_ids;
    p.n_tokens = 2;
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "token id out of range");
    uint32_t *long_ids = calloc(model.context_length + 8, sizeof *long_ids);
    for (uint32_t i = 0; i < model.context_length + 8; i++) long_ids[i] = 5 + i % 50;
    p = eagle_generate_default_params();
    p.tokens = long_ids;
    p.n_tokens = model.context_length + 8;
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "prompt longer than the context");
    free(long_ids);
    p = eagle_generate_default_params();
    p.tokens = bad_ids;
    p.n_tokens = 0;
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "empty token prompt");
    p = eagle_generate_default_params();
    p.text = "";
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "empty text prompt");
    p = eagle_generate_default_params();
    expect_error(c, &p, EAGLE_E_INVALID_ARGUMENT, "no prompt");
    if (!model.has_draft) {
        p = params_for(0);
        p.eagle = 1;
        expect_error(c, &p, EAGLE_E_FAILED_PRECONDITION, "EAGLE without a draft head");
    }

    /* max_tokens 0 in the C params leaves the field unset (the daemon refuses an explicit
     * 0): the daemon's default length applies (run.sh starts it with --default-max-tokens 20). */
    p = params_for(0);
    p.max_tokens = 0;
    p.ignore_eos = 1;
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), 0);
    CHECK(r != NULL && r->n_ids == 20);
    eagle_generate_result_free(r);

    /* The connection that sent all that is still in good standing. */
    eagle_health h;
    CHECK_RC(eagle_client_health(c, &h), 0);
    /* The other client was served before, and keeps being served after. */
    int before = atomic_load(&bg.served);
    for (int i = 0; i < 500 && atomic_load(&bg.served) < before + 2; i++) usleep(10 * 1000);
    atomic_store(&bg.stop, 1);
    pthread_join(t, NULL);
    printf("    background client: %d generations served, %d errors\n", atomic_load(&bg.served), bg.errors);
    CHECK(bg.errors == 0 && atomic_load(&bg.served) >= before + 2 && before >= 1);
    eagle_client_free(c);
}

static void test_eagle_is_lossless(void) {
    if (!model.has_draft) {
        printf("    (model has no draft head: EAGLE refused, checked in test_bad_input)\n");
        return;
    }
    eagle_client *c = connect_ok();
    for (int i = 0; i < 3; i++) {
        eagle_generate_params p = params_for(2 * i);
        p.max_tokens = 24;
        eagle_generate_result *plain = NULL, *fast = NULL;
        CHECK_RC(eagle_generate(c, &p, &plain), 0);
        p.eagle = 1;
        CHECK_RC(eagle_generate(c, &p, &fast), 0);
        CHECK(plain != NULL && fast != NULL && strcmp(plain->text, fast->text) == 0);
        CHECK(fast != NULL && fast->mean_accepted >= 1.0);
        /* What ran and why: plain was requested; EAGLE with no tree fields is the daemon's choice. */
        CHECK(plain != NULL && strcmp(plain->decoding, "plain") == 0 && strcmp(plain->decoding_reason, "requested") == 0);
        CHECK(fast != NULL && strncmp(fast->decoding_reason, "automatic: ", 11) == 0 && fast->decoding[0] != '\0');
        eagle_generate_result_free(plain);
        eagle_generate_result_free(fast);
    }
    eagle_client_free(c);
}

/* Runtime load/unload (run.sh passes --model-root = the model's parent directory). */
static void test_load_unload(void) {
    const char *dir = getenv("EAGLE_TEST_MODEL_DIR");
    if (dir == NULL) {
        printf("    (EAGLE_TEST_MODEL_DIR unset: skipped)\n");
        return;
    }
    eagle_client *c = connect_ok();
    eagle_load_params lp = eagle_load_default_params();
    lp.name = "second";
    lp.target_dir = dir;
    eagle_model_info *info = NULL;
    CHECK_RC(eagle_model_load(c, &lp, &info), 0);
    CHECK(info != NULL && strcmp(info->name, "second") == 0 && info->vocab_size == model.vocab_size);
    eagle_model_info_free(info);
    CHECK_RC(eagle_model_load(c, &lp, NULL), EAGLE_E_ALREADY_EXISTS);
    lp.name = "third";
    lp.target_dir = "/etc";
    CHECK_RC(eagle_model_load(c, &lp, NULL), EAGLE_E_PERMISSION_DENIED);

    /* dtype: f32 holds every matrix in memory of its own; an unknown name is refused. */
    lp.name = "wide";
    lp.target_dir = dir;
    CHECK_RC(eagle_model_load_dtype(c, &lp, "fp8", NULL), EAGLE_E_INVALID_ARGUMENT);
    CHECK_RC(eagle_model_load_dtype(c, &lp, "f32", NULL), 0);
    eagle_model_memory narrow, wide;
    memset(&narrow, 0xff, sizeof narrow);
    memset(&wide, 0xff, sizeof wide);
    CHECK_RC(eagle_model_memory_get(c, "second", &narrow), 0);
    CHECK_RC(eagle_model_memory_get(c, "wide", &wide), 0);
    CHECK(strcmp(narrow.dtype, "bf16") == 0 && strcmp(wide.dtype, "f32") == 0);
    CHECK(narrow.weight_bytes > 0 && narrow.mapped_weight_bytes <= narrow.weight_bytes);
    CHECK(wide.mapped_weight_bytes == 0 && wide.weight_bytes > narrow.weight_bytes);
    CHECK(narrow.draft_weight_bytes == 0 && narrow.kv_bytes_per_token > 0 &&
          narrow.kv_bytes_per_token == wide.kv_bytes_per_token);
    printf("    bf16 %llu bytes (%llu mapped), f32 %llu bytes, KV %llu bytes/token\n",
           (unsigned long long)narrow.weight_bytes, (unsigned long long)narrow.mapped_weight_bytes,
           (unsigned long long)wide.weight_bytes, (unsigned long long)narrow.kv_bytes_per_token);
    CHECK_RC(eagle_model_unload(c, "wide"), 0);
    CHECK_RC(eagle_model_memory_get(c, "wide", &wide), EAGLE_E_NOT_FOUND);

    eagle_model_list *list = NULL;
    CHECK_RC(eagle_model_list_get(c, &list), 0);
    CHECK(list != NULL && list->n_models == 2);
    eagle_model_list_free(list);

    eagle_generate_params p = params_for(0);
    eagle_generate_result *a = NULL, *b = NULL;
    CHECK_RC(eagle_generate(c, &p, &a), 0);
    p.model = "second";
    CHECK_RC(eagle_generate(c, &p, &b), 0);
    CHECK(a != NULL && b != NULL && strcmp(a->text, b->text) == 0);
    eagle_generate_result_free(a);
    eagle_generate_result_free(b);

    CHECK_RC(eagle_model_unload(c, "second"), 0);
    CHECK_RC(eagle_model_unload(c, "second"), EAGLE_E_NOT_FOUND);
    b = NULL;
    CHECK_RC(eagle_generate(c, &p, &b), EAGLE_E_NOT_FOUND);
    eagle_client_free(c);
}

static void test_stats(void) {
    eagle_client *c = connect_ok();
    eagle_stats *st = NULL;
    CHECK_RC(eagle_stats_get(c, model.name, &st), 0);
    CHECK(st != NULL && st->n_models == 1);
    if (st != NULL && st->n_models == 1) {
        CHECK(strcmp(st->models[0].name, model.name) == 0);
        CHECK(st->models[0].requests >= 2 * N_CLIENTS * N_EACH);
        CHECK(st->models[0].tokens_generated > 0 && st->models[0].tokens_per_second > 0);
        CHECK(st->uptime_seconds > 0);
    }
    eagle_stats_free(st);
    st = NULL;
    CHECK_RC(eagle_stats_get(c, "no-such-model", &st), EAGLE_E_NOT_FOUND);
    eagle_client_free(c);
}

int main(void) {
    if (getenv("EAGLE_SOCKET") == NULL) {
        fprintf(stderr, "test_e2e: set EAGLE_SOCKET to a running eagled\n");
        return 2;
    }
    alarm(540);
    TEST(test_hello_and_models);
    if (model.name == NULL) return SUMMARY("test_e2e");
    TEST(test_tokenize_roundtrip);
    TEST(test_generate_modes_agree);
    TEST(test_concurrent_clients);
    TEST(test_concurrent_threads_one_handle);
    TEST(test_cancel_frees_slot);
    TEST(test_bad_input);
    TEST(test_eagle_is_lossless);
    TEST(test_load_unload);
    TEST(test_stats);
    free((char *)model.name);
    return SUMMARY("test_e2e");
}
