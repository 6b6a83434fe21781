/*
 * libeagle against fake-eagled (fake_server.c): framing, hello, error mapping, streaming
 * dispatch by request id, cancel, connection failures. Needs EAGLE_SOCKET set to the
 * fake server's socket (Tests/CClient/run.sh does that).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eagle/eagle.h"
#include "check.h"

static eagle_client *connect_ok(void) {
    eagle_client *c = NULL;
    int rc = eagle_client_connect(NULL, "test_fake", &c);
    if (rc != 0) {
        fprintf(stderr, "    connect failed: %s (%s)\n", eagle_strerror(rc), eagle_last_error());
        exit(2);
    }
    return c;
}

static eagle_generate_params text_params(const char *text, uint32_t max_tokens) {
    eagle_generate_params p = eagle_generate_default_params();
    p.text = text;
    p.max_tokens = max_tokens;
    return p;
}

/* ---- library basics ---- */

static void test_version(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", EAGLE_VERSION_MAJOR, EAGLE_VERSION_MINOR, EAGLE_VERSION_PATCH);
    CHECK(strcmp(eagle_version(), want) == 0);
    CHECK(EAGLE_VERSION_NUMBER == EAGLE_VERSION_MAJOR * 10000 + EAGLE_VERSION_MINOR * 100 + EAGLE_VERSION_PATCH);
}

static void test_strerror(void) {
    const char *unknown = eagle_strerror(12345);
    for (int code = -14; code <= 0; code++) CHECK(strcmp(eagle_strerror(code), unknown) != 0);
    for (int code = EAGLE_E_STATE; code <= EAGLE_E_CONNECT; code++) CHECK(strcmp(eagle_strerror(code), unknown) != 0);
    CHECK(strcmp(eagle_strerror(EAGLE_E_NOT_FOUND), "not found") == 0);
}

static void test_free_null(void) {
    eagle_free(NULL);
    eagle_client_free(NULL);
    eagle_generate_result_free(NULL);
    eagle_model_list_free(NULL);
    eagle_model_info_free(NULL);
    eagle_stream_free(NULL);
    eagle_stats_free(NULL);
    CHECK(1);
}

static void test_connect_errors(void) {
    eagle_client *sentinel = (eagle_client *)0x1;
    eagle_client *c = sentinel;
    CHECK_RC(eagle_client_connect("/nonexistent/eagled.sock", NULL, &c), EAGLE_E_CONNECT);
    CHECK(c == sentinel);
    CHECK(strstr(eagle_last_error(), "/nonexistent/eagled.sock") != NULL);
    char longpath[300];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    CHECK_RC(eagle_client_connect(longpath, NULL, &c), EAGLE_E_INVAL);
    CHECK(c == sentinel);
    CHECK_RC(eagle_client_connect(NULL, NULL, NULL), EAGLE_E_INVAL);
}

static void test_hello(void) {
    eagle_client *c = connect_ok();
    CHECK(strcmp(eagle_client_server_version(c), "fake-eagled 0") == 0);
    CHECK(eagle_client_max_frame_bytes(c) == 64 * 1024);
    eagle_client_free(c);

    /* An explicit path works as well as EAGLE_SOCKET. */
    const char *path = getenv("EAGLE_SOCKET");
    CHECK_RC(eagle_client_connect(path, NULL, &c), 0);
    eagle_client_free(c);

    eagle_client *sentinel = (eagle_client *)0x1;
    c = sentinel;
    CHECK_RC(eagle_client_connect(NULL, "reject-me", &c), EAGLE_E_FAILED_PRECONDITION);
    CHECK(strcmp(eagle_last_error(), "go away") == 0);
    CHECK_RC(eagle_client_connect(NULL, "bad-magic", &c), EAGLE_E_PROTOCOL);
    CHECK(strstr(eagle_last_error(), "not eagled") != NULL);
    CHECK(c == sentinel);
}

/* ---- simple calls ---- */

static void test_health_models(void) {
    eagle_client *c = connect_ok();
    eagle_health h = {0, 0, 1};
    CHECK_RC(eagle_client_health(c, &h), 0);
    CHECK(h.serving && h.models == 3 && !h.draining);

    eagle_model_list *list = NULL;
    CHECK_RC(eagle_model_list_get(c, &list), 0);
    if (list != NULL) {
        CHECK(list->n_models == 3);
        CHECK(strcmp(list->models[0].name, "tiny") == 0 && list->models[0].has_draft);
        CHECK(strcmp(list->models[1].name, "plain") == 0 && !list->models[1].has_draft);
        CHECK(strcmp(list->models[1].draft_dir, "") == 0);
        CHECK(list->models[0].vocab_size == 256 && list->models[0].context_length == 64);
        CHECK(list->models[0].parameters == 12345);
    }
    eagle_model_list_free(list);
    eagle_model_memory mem;
    CHECK_RC(eagle_model_memory_get(c, "tiny", &mem), 0);
    CHECK(strcmp(mem.dtype, "bf16") == 0 && mem.weight_bytes == 4096 && mem.mapped_weight_bytes == 3072);
    CHECK(mem.draft_weight_bytes == 512 && mem.kv_bytes_per_token == 128);
    CHECK_RC(eagle_model_memory_get(c, "nope", &mem), EAGLE_E_NOT_FOUND);
    CHECK_RC(eagle_model_memory_get(c, NULL, &mem), EAGLE_E_INVAL);

    eagle_load_params lp = eagle_load_default_params();
    lp.name = "extra";
    lp.target_dir = "/models/extra";
    eagle_model_info *info = NULL;
    CHECK_RC(eagle_model_load(c, &lp, &info), 0);
    CHECK(info != NULL && strcmp(info->name, "extra") == 0 && strcmp(info->target_dir, "/models/extra") == 0);
    eagle_model_info_free(info);
    CHECK_RC(eagle_model_load(c, &lp, NULL), 0);
    lp.target_dir = "/etc";
    info = (eagle_model_info *)0x1;
    CHECK_RC(eagle_model_load(c, &lp, &info), EAGLE_E_PERMISSION_DENIED);
    CHECK(info == (eagle_model_info *)0x1);
    lp.name = "tiny";
    lp.target_dir = "/models/x";
    CHECK_RC(eagle_model_load(c, &lp, NULL), EAGLE_E_ALREADY_EXISTS);
    CHECK_RC(eagle_model_unload(c, "plain"), 0);
    CHECK_RC(eagle_model_unload(c, "nope"), EAGLE_E_NOT_FOUND);
    char buf[128];
    CHECK(eagle_client_last_error(c, buf, sizeof buf) == EAGLE_E_NOT_FOUND);
    CHECK(strcmp(buf, "no such model") == 0);
    eagle_client_free(c);
}

static void test_tokenize(void) {
    eagle_client *c = connect_ok();
    uint32_t *ids = NULL;
    size_t n = 0;
    CHECK_RC(eagle_tokenize(c, NULL, "Hi!", 1, &ids, &n), 0);
    CHECK(n == 4 && ids != NULL && ids[0] == 1 && ids[1] == 'H' && ids[3] == '!');
    char *text = NULL;
    CHECK_RC(eagle_detokenize(c, "", ids, n, 1, &text), 0);
    CHECK(text != NULL && strcmp(text, "Hi!") == 0);
    eagle_free(ids);
    eagle_free(text);
    ids = (uint32_t *)0x1;
    n = 77;
    CHECK_RC(eagle_tokenize(c, NULL, "", 0, &ids, &n), 0);
    CHECK(n == 0 && ids == NULL);
    eagle_client_free(c);
}

static void test_stats(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params("stats", 3);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), 0);
    eagle_generate_result_free(r);
    eagle_stats *st = NULL;
    CHECK_RC(eagle_stats_get(c, NULL, &st), 0);
    CHECK(st != NULL && st->n_models == 1 && strcmp(st->models[0].name, "tiny") == 0);
    CHECK(st != NULL && st->models[0].requests >= 1 && st->models[0].tokens_generated >= 3);
    eagle_stats_free(st);
    st = (eagle_stats *)0x1;
    CHECK_RC(eagle_stats_get(c, "nope", &st), EAGLE_E_NOT_FOUND);
    CHECK(st == (eagle_stats *)0x1);
    eagle_client_free(c);
}

/* ---- generation ---- */

static void test_generate_blocking(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params("Once upon a time", 5);
    eagle_generate_result *a = NULL, *b = NULL;
    CHECK_RC(eagle_generate(c, &p, &a), 0);
    CHECK_RC(eagle_generate(c, &p, &b), 0);
    if (a != NULL && b != NULL) {
        CHECK(a->n_ids == 5 && b->n_ids == 5);
        CHECK(memcmp(a->ids, b->ids, 5 * sizeof(uint32_t)) == 0);
        CHECK(strcmp(a->text, b->text) == 0 && a->text_len == strlen(a->text));
        CHECK(a->stop_reason == EAGLE_STOP_MAX_TOKENS);
        CHECK(a->prompt_tokens == 17 && a->steps == 5 && a->mean_accepted == 1.0);
    }
    eagle_generate_result_free(a);
    eagle_generate_result_free(b);

    /* Stop strings end the text early. */
    p = text_params("Once upon a time", 5);
    eagle_generate_result *full = NULL, *cut = NULL;
    CHECK_RC(eagle_generate(c, &p, &full), 0);
    if (full != NULL && full->n_ids >= 3) {
        char stop[16];
        snprintf(stop, sizeof stop, "w%u", full->ids[2]);
        const char *stops[] = {stop};
        p.stop = stops;
        p.n_stop = 1;
        CHECK_RC(eagle_generate(c, &p, &cut), 0);
        CHECK(cut != NULL && cut->stop_reason == EAGLE_STOP_STOP_STRING && cut->n_ids == 3);
        CHECK(cut != NULL && strncmp(cut->text, full->text, cut->text_len) == 0 && cut->text_len < full->text_len);
    }
    eagle_generate_result_free(full);
    eagle_generate_result_free(cut);

    /* Token and chat prompts. */
    uint32_t toks[] = {1, 2, 3};
    eagle_generate_params tp = eagle_generate_default_params();
    tp.tokens = toks;
    tp.n_tokens = 3;
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &tp, &r), 0);
    CHECK(r != NULL && r->prompt_tokens == 3 && r->n_ids == 8);
    eagle_generate_result_free(r);
    eagle_chat_message chat[] = {{"system", "be brief"}, {"user", "hi"}};
    eagle_generate_params cp = eagle_generate_default_params();
    cp.chat = chat;
    cp.n_chat = 2;
    cp.temperature = 0.7f;
    r = NULL;
    CHECK_RC(eagle_generate(c, &cp, &r), 0);
    CHECK(r != NULL && r->seed == 42);
    eagle_generate_result_free(r);
    eagle_client_free(c);
}

typedef struct collect {
    char text[4096];
    uint32_t ids[512];
    size_t n_ids, n_chunks, stop_after;
} collect;

static int on_chunk(const eagle_chunk *ch, void *user_data) {
    collect *col = user_data;
    strncat(col->text, ch->text, sizeof col->text - strlen(col->text) - 1);
    for (size_t i = 0; i < ch->n_ids && col->n_ids < 512; i++) col->ids[col->n_ids++] = ch->ids[i];
    col->n_chunks++;
    return col->stop_after != 0 && col->n_chunks >= col->stop_after;
}

static void test_generate_stream_callback(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params("streaming", 12);
    collect col;
    memset(&col, 0, sizeof col);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate_stream(c, &p, on_chunk, &col, &r), 0);
    CHECK(col.n_chunks == 12);
    if (r != NULL) {
        CHECK(strcmp(col.text, r->text) == 0);
        CHECK(col.n_ids == r->n_ids && memcmp(col.ids, r->ids, r->n_ids * sizeof(uint32_t)) == 0);
    }
    eagle_generate_result *blocking = NULL;
    CHECK_RC(eagle_generate(c, &p, &blocking), 0);
    CHECK(r != NULL && blocking != NULL && strcmp(r->text, blocking->text) == 0);
    eagle_generate_result_free(r);
    eagle_generate_result_free(blocking);
    CHECK_RC(eagle_generate_stream(c, &p, NULL, NULL, NULL), 0);
    eagle_client_free(c);
}

static void test_callback_cancel(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params("cancel me", 200);
    p.model = "slow";
    collect col;
    memset(&col, 0, sizeof col);
    col.stop_after = 3;
    eagle_generate_result *r = (eagle_generate_result *)0x1;
    CHECK_RC(eagle_generate_stream(c, &p, on_chunk, &col, &r), EAGLE_E_CANCELLED);
    CHECK(r == (eagle_generate_result *)0x1);
    CHECK(col.n_chunks == 3);
    /* The handle keeps working. */
    eagle_generate_params q = text_params("after", 2);
    r = NULL;
    CHECK_RC(eagle_generate(c, &q, &r), 0);
    eagle_generate_result_free(r);
    eagle_client_free(c);
}

static void test_pull_stream(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params("pull", 6);
    eagle_stream *s = NULL;
    CHECK_RC(eagle_stream_start(c, &p, &s), 0);
    if (s == NULL) { eagle_client_free(c); return; }
    CHECK(eagle_stream_id(s) > 1);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_stream_result(s, &r), EAGLE_E_STATE);
    size_t chunks = 0;
    char text[256] = "";
    const eagle_chunk *ch = NULL;
    for (;;) {
        int rc = eagle_stream_next(s, &ch);
        CHECK_RC(rc, 0);
        if (rc != 0 || ch == NULL) break;
        chunks++;
        strncat(text, ch->text, sizeof text - strlen(text) - 1);
    }
    CHECK(chunks == 6);
    CHECK_RC(eagle_stream_next(s, &ch), 0);
    CHECK(ch == NULL);
    CHECK_RC(eagle_stream_result(s, &r), 0);
    CHECK(r != NULL && strcmp(r->text, text) == 0);
    eagle_generate_result *again = NULL;
    CHECK_RC(eagle_stream_result(s, &again), EAGLE_E_STATE);
    CHECK_RC(eagle_stream_cancel(s), 0); /* finished: nothing to cancel */
    CHECK(strcmp(eagle_stream_error(s), "") == 0);
    eagle_generate_result_free(r);
    eagle_stream_free(s);
    eagle_client_free(c);
}

typedef struct canceller {
    eagle_stream *s;
    int rc;
} canceller;

static void *cancel_later(void *arg) {
    canceller *k = arg;
    usleep(100 * 1000);
    k->rc = eagle_stream_cancel(k->s);
    return NULL;
}

static void test_cancel_from_other_thread(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params("long", 500);
    p.model = "slow";
    eagle_stream *s = NULL;
    CHECK_RC(eagle_stream_start(c, &p, &s), 0);
    if (s == NULL) { eagle_client_free(c); return; }
    canceller k = {s, -999};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &k);
    const eagle_chunk *ch = NULL;
    int rc;
    size_t chunks = 0;
    while ((rc = eagle_stream_next(s, &ch)) == 0 && ch != NULL) chunks++;
    pthread_join(t, NULL);
    CHECK_RC(rc, EAGLE_E_CANCELLED);
    CHECK(k.rc == 0);
    CHECK(chunks >= 1 && chunks < 100);
    CHECK(strcmp(eagle_stream_error(s), "request cancelled") == 0);
    CHECK_RC(eagle_stream_next(s, &ch), EAGLE_E_CANCELLED); /* sticky */
    eagle_stream_free(s);
    eagle_client_free(c);
}

/* Two streams on one handle: all of B read first while A's chunks queue up by id. */
static void test_interleaved_streams(void) {
    eagle_client *c = connect_ok();
    eagle_generate_params pa = text_params("stream A", 10), pb = text_params("stream B", 10);
    pa.model = pb.model = "slow";
    eagle_stream *a = NULL, *b = NULL;
    CHECK_RC(eagle_stream_start(c, &pa, &a), 0);
    CHECK_RC(eagle_stream_start(c, &pb, &b), 0);
    if (a == NULL || b == NULL) { eagle_stream_free(a); eagle_stream_free(b); eagle_client_free(c); return; }
    const eagle_chunk *ch = NULL;
    size_t nb = 0, na = 0;
    while (eagle_stream_next(b, &ch) == 0 && ch != NULL) nb++;
    while (eagle_stream_next(a, &ch) == 0 && ch != NULL) na++;
    CHECK(na == 10 && nb == 10);
    eagle_generate_result *ra = NULL, *rb = NULL, *ref = NULL;
    CHECK_RC(eagle_stream_result(a, &ra), 0);
    CHECK_RC(eagle_stream_result(b, &rb), 0);
    CHECK_RC(eagle_generate(c, &pa, &ref), 0);
    CHECK(ra && rb && ref && strcmp(ra->text, ref->text) == 0 && strcmp(ra->text, rb->text) != 0);
    eagle_generate_result_free(ra);
    eagle_generate_result_free(rb);
    eagle_generate_result_free(ref);
    eagle_stream_free(a);
    eagle_stream_free(b);

    /* Freeing a running stream cancels it; its late frames are dropped. */
    eagle_stream *s = NULL;
    CHECK_RC(eagle_stream_start(c, &pa, &s), 0);
    CHECK_RC(eagle_stream_next(s, &ch), 0);
    eagle_stream_free(s);
    eagle_generate_params q = text_params("after free", 3);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &q, &r), 0);
    CHECK(r != NULL && r->n_ids == 3);
    eagle_generate_result_free(r);
    eagle_client_free(c);
}

/* ---- errors ---- */

static void test_status_mapping(void) {
    eagle_client *c = connect_ok();
    for (int code = 1; code <= 14; code++) {
        char prompt[32], want[64], got[128];
        snprintf(prompt, sizeof prompt, "error:%d", code);
        snprintf(want, sizeof want, "injected error %d", code);
        eagle_generate_params p = text_params(prompt, 1);
        eagle_generate_result *r = (eagle_generate_result *)0x1;
        CHECK_RC(eagle_generate(c, &p, &r), -code);
        CHECK(r == (eagle_generate_result *)0x1);
        CHECK(strcmp(eagle_last_error(), want) == 0);
        CHECK(eagle_client_last_error(c, got, sizeof got) == -code && strcmp(got, want) == 0);
    }
    eagle_generate_params p = text_params("error:99", 1);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_UNKNOWN);
    char small[8];
    CHECK(eagle_client_last_error(c, small, sizeof small) == EAGLE_E_UNKNOWN && strlen(small) == 7);
    eagle_client_free(c);
}

/* Strings that are not UTF-8 never leave the library: EAGLE_E_INVALID_ARGUMENT naming the
 * field, and the handle goes on (the daemon would refuse them too). */
static void test_invalid_utf8(void) {
    eagle_client *c = connect_ok();
    eagle_generate_result *sentinel = (eagle_generate_result *)0x1, *r = sentinel;
    const char *bad[] = {
        "caf\xe9",              /* Latin-1 é */
        "\xe6\xbc",             /* truncated 3-byte sequence */
        "\xc0\xaf",             /* overlong '/' */
        "\xed\xa0\x80",         /* UTF-16 surrogate */
        "\xf4\x90\x80\x80",     /* above U+10FFFF */
        "\x80" "abc",           /* stray continuation byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eagle_generate_params p = text_params(bad[i], 4);
        CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVALID_ARGUMENT);
        CHECK(r == sentinel);
        CHECK(strstr(eagle_last_error(), "'text'") != NULL);
    }
    eagle_generate_params p = text_params("fine", 4);
    const char *stops[] = {"ok", "caf\xe9"};
    p.stop = stops;
    p.n_stop = 2;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVALID_ARGUMENT);
    CHECK(strstr(eagle_last_error(), "'stop'") != NULL);
    eagle_chat_message chat[] = {{"user", "ok"}, {"user", "na\xefve"}};
    p = eagle_generate_default_params();
    p.chat = chat;
    p.n_chat = 2;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVALID_ARGUMENT);
    uint32_t *ids = NULL;
    size_t n = 0;
    CHECK_RC(eagle_tokenize(c, NULL, "caf\xe9", 1, &ids, &n), EAGLE_E_INVALID_ARGUMENT);
    CHECK_RC(eagle_tokenize(c, "m\xff", "ok", 1, &ids, &n), EAGLE_E_INVALID_ARGUMENT);
    /* Valid multibyte text passes, and the same handle still serves. */
    p = text_params("\xe6\xbc\xa2 caf\xc3\xa9 \xf0\x9f\x98\x80", 3);
    CHECK_RC(eagle_generate(c, &p, &r), 0);
    eagle_generate_result_free(r);
    eagle_health h = {0, 0, 1};
    CHECK_RC(eagle_client_health(c, &h), 0);
    eagle_client_free(c);
    /* The hello's client name too. */
    eagle_client *other = NULL;
    CHECK_RC(eagle_client_connect(NULL, "caf\xe9", &other), EAGLE_E_INVALID_ARGUMENT);
    CHECK(other == NULL);
}

static void test_bad_input(void) {
    eagle_client *c = connect_ok();
    eagle_generate_result *sentinel = (eagle_generate_result *)0x1, *r = sentinel;
    eagle_generate_params p = text_params("hello", 4);
    p.model = "no-such-model";
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_NOT_FOUND);
    p = text_params("hello", 4);
    p.temperature = -1.0f;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVALID_ARGUMENT);
    p = text_params("hello", 5000);
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVALID_ARGUMENT);
    uint32_t bad[] = {1, 300};
    p = eagle_generate_default_params();
    p.tokens = bad;
    p.n_tokens = 2;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVALID_ARGUMENT);
    CHECK(strstr(eagle_last_error(), "out of range") != NULL);
    char longp[200];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    p = text_params(longp, 4);
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVALID_ARGUMENT);
    p = text_params("hello", 4);
    p.model = "plain";
    p.eagle = 1;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_FAILED_PRECONDITION);
    /* Caught locally. */
    p = text_params("hello", 4);
    p.tokens = bad;
    p.n_tokens = 1;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVAL);
    p = text_params("hello", 4);
    const char *stops[] = {NULL};
    p.stop = stops;
    p.n_stop = 1;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_INVAL);
    CHECK_RC(eagle_generate(c, NULL, &r), EAGLE_E_INVAL);
    CHECK_RC(eagle_generate(NULL, &p, &r), EAGLE_E_INVAL);
    CHECK(r == sentinel);
    /* Still serving. */
    p = text_params("fine", 2);
    r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), 0);
    eagle_generate_result_free(r);
    /* max_tokens 0 is not sent (fake-eagled, like eagled, refuses an explicit 0): the
     * server's default length, 8 here. */
    p = text_params("default length", 0);
    r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), 0);
    CHECK(r != NULL && r->n_ids == 8);
    eagle_generate_result_free(r);
    eagle_client_free(c);
}

static void test_request_too_large(void) {
    eagle_client *c = connect_ok();
    size_t n = 100 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    eagle_generate_params p = text_params(big, 1);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_TOO_LARGE);
    free(big);
    p = text_params("small", 1);
    CHECK_RC(eagle_generate(c, &p, &r), 0);
    eagle_generate_result_free(r);
    eagle_client_free(c);
}

/* A fault that ends the connection: the call fails with `want`, later calls with CLOSED. */
static void expect_fatal(const char *trigger, int want, const char *msg_part) {
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params(trigger, 1);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), want);
    if (msg_part != NULL) CHECK(strstr(eagle_last_error(), msg_part) != NULL);
    eagle_health h;
    CHECK_RC(eagle_client_health(c, &h), EAGLE_E_CLOSED);
    eagle_client_free(c);
}

static void test_connection_faults(void) {
    expect_fatal("oversize", EAGLE_E_PROTOCOL, "exceeds the limit");
    expect_fatal("garbage", EAGLE_E_PROTOCOL, "undecodable");
    expect_fatal("close", EAGLE_E_CLOSED, "closed");
    expect_fatal("id0", EAGLE_E_UNAVAILABLE, "server is shutting down");

    /* A wrong terminal kind fails only that request. */
    eagle_client *c = connect_ok();
    eagle_generate_params p = text_params("chunks-only", 1);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_PROTOCOL);
    eagle_health h;
    CHECK_RC(eagle_client_health(c, &h), 0);
    eagle_client_free(c);
}

typedef struct waiter {
    eagle_client *c;
    int rc;
} waiter;

static void *slow_generate(void *arg) {
    waiter *w = arg;
    eagle_generate_params p = text_params("waiting", 300);
    p.model = "slow";
    eagle_generate_result *r = NULL;
    w->rc = eagle_generate(w->c, &p, &r);
    eagle_generate_result_free(r);
    return NULL;
}

/* Every thread waiting on a handle learns when the connection dies. */
static void test_waiters_see_death(void) {
    eagle_client *c = connect_ok();
    waiter w[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        w[i].c = c;
        w[i].rc = -999;
        pthread_create(&t[i], NULL, slow_generate, &w[i]);
    }
    usleep(100 * 1000);
    eagle_generate_params p = text_params("close", 1);
    eagle_generate_result *r = NULL;
    CHECK_RC(eagle_generate(c, &p, &r), EAGLE_E_CLOSED);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK_RC(w[i].rc, EAGLE_E_CLOSED);
    }
    eagle_client_free(c);
}

/* ---- concurrency ---- */

#define N_THREADS 8
#define N_PER_THREAD 25

typedef struct worker {
    eagle_client *shared;  /* NULL: own connection */
    int index;
    char *texts[N_PER_THREAD];
    int rc;
} worker;

static void *worker_run(void *arg) {
    worker *w = arg;
    eagle_client *c = w->shared;
    if (c == NULL && (w->rc = eagle_client_connect(NULL, "worker", &c)) != 0) return NULL;
    for (int i = 0; i < N_PER_THREAD; i++) {
        char prompt[64];
        snprintf(prompt, sizeof prompt, "prompt %d", (w->index * 7 + i) % 13);
        eagle_generate_params p = text_params(prompt, 4 + (uint32_t)(i % 5));
        eagle_generate_result *r = NULL;
        int rc;
        if (i % 3 == 0) {
            collect col;
            memset(&col, 0, sizeof col);
            rc = eagle_generate_stream(c, &p, on_chunk, &col, &r);
            if (rc == 0 && strcmp(col.text, r->text) != 0) rc = -1000;
        } else {
            rc = eagle_generate(c, &p, &r);
        }
        if (rc != 0) { w->rc = rc; break; }
        w->texts[i] = strdup(r->text);
        eagle_generate_result_free(r);
    }
    if (w->shared == NULL) eagle_client_free(c);
    return NULL;
}

static void run_workers(eagle_client *shared) {
    worker ws[N_THREADS];
    pthread_t ts[N_THREADS];
    memset(ws, 0, sizeof ws);
    for (int k = 0; k < N_THREADS; k++) {
        ws[k].shared = shared;
        ws[k].index = k;
        pthread_create(&ts[k], NULL, worker_run, &ws[k]);
    }
    for (int k = 0; k < N_THREADS; k++) pthread_join(ts[k], NULL);
    /* Reference: the same requests one by one. */
    eagle_client *c = connect_ok();
    for (int k = 0; k < N_THREADS; k++) {
        CHECK_RC(ws[k].rc, 0);
        for (int i = 0; i < N_PER_THREAD; i++) {
            char prompt[64];
            snprintf(prompt, sizeof prompt, "prompt %d", (k * 7 + i) % 13);
            eagle_generate_params p = text_params(prompt, 4 + (uint32_t)(i % 5));
            eagle_generate_result *r = NULL;
            if (eagle_generate(c, &p, &r) == 0 && ws[k].texts[i] != NULL) CHECK(strcmp(r->text, ws[k].texts[i]) == 0);
            else CHECK(0);
            eagle_generate_result_free(r);
            free(ws[k].texts[i]);
        }
    }
    eagle_client_free(c);
}

static void test_concurrent_clients(void) { run_workers(NULL); }

static void test_concurrent_threads_one_handle(void) {
    eagle_client *c = connect_ok();
    run_workers(c);
    eagle_client_free(c);
}

int main(void) {
    if (getenv("EAGLE_SOCKET") == NULL) {
        fprintf(stderr, "test_fake: set EAGLE_SOCKET to a running fake-eagled\n");
        return 2;
    }
    alarm(120); /* a hang is a failure */
    TEST(test_version);
    TEST(test_strerror);
    TEST(test_free_null);
    TEST(test_connect_errors);
    TEST(test_hello);
    TEST(test_health_models);
    TEST(test_tokenize);
    TEST(test_stats);
    TEST(test_generate_blocking);
    TEST(test_generate_stream_callback);
    TEST(test_callback_cancel);
    TEST(test_pull_stream);
    TEST(test_cancel_from_other_thread);
    TEST(test_interleaved_streams);
    TEST(test_status_mapping);
    TEST(test_bad_input);
    TEST(test_invalid_utf8);
    TEST(test_request_too_large);
    TEST(test_connection_faults);
    TEST(test_waiters_see_death);
    TEST(test_concurrent_clients);
    TEST(test_concurrent_threads_one_handle);
    return SUMMARY("test_fake");
}
