/*
 * libFuzzer harness for libeagle's response handling: the fuzz input is everything the
 * "server" side of a Unix socket sends (length-prefixed frames, or anything else), and the
 * client runs its calls against it: connect (hello), health, list models, generate, a
 * stream, tokenize, detokenize, stats. Whatever the bytes, each call must return a code
 * (no crash, leak, hang or undefined behaviour: built with -fsanitize=fuzzer,address,undefined).
 *
 * EAGLE_FUZZ_WRITE_SEEDS=DIR writes a seed corpus of well-formed replies (ids 1, 2, …, in
 * the order the calls below make their requests) and exits.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "eagle/eagle.h"
#include "eagle/eagle.pb-c.h"

static char socket_path[108];
static int listener = -1;

struct serve { const uint8_t *data; size_t size; };

/* Accepts one client, sends the input, then reads until the client is done. */
static void *serve(void *arg) {
    struct serve *s = arg;
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) return NULL;
    size_t off = 0;
    while (off < s->size) {
        ssize_t n = send(fd, s->data + off, s->size - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    char sink[4096];
    while (read(fd, sink, sizeof sink) > 0) {}
    close(fd);
    return NULL;
}

static int on_chunk(const eagle_chunk *chunk, void *user_data) {
    (void)user_data;
    volatile size_t touched = 0;
    for (size_t i = 0; i < chunk->n_ids; i++) touched += chunk->ids[i];
    return 0;
}

static void run_calls(void) {
    eagle_client *c = NULL;
    if (eagle_client_connect(socket_path, "fuzz", &c) != 0) return;
    (void)eagle_client_server_version(c);
    eagle_health health;
    (void)eagle_client_health(c, &health);
    eagle_model_list *list = NULL;
    if (eagle_model_list_get(c, &list) == 0) eagle_model_list_free(list);
    eagle_generate_params p = eagle_generate_default_params();
    p.text = "hi";
    eagle_generate_result *result = NULL;
    if (eagle_generate(c, &p, &result) == 0) eagle_generate_result_free(result);
    result = NULL;
    if (eagle_generate_stream(c, &p, on_chunk, NULL, &result) == 0) eagle_generate_result_free(result);
    uint32_t *ids = NULL;
    size_t n = 0;
    if (eagle_tokenize(c, NULL, "hello", 1, &ids, &n) == 0) eagle_free(ids);
    uint32_t some[3] = {1, 2, 3};
    char *text = NULL;
    if (eagle_detokenize(c, NULL, some, 3, 1, &text) == 0) eagle_free(text);
    eagle_stats *stats = NULL;
    if (eagle_stats_get(c, NULL, &stats) == 0) eagle_stats_free(stats);
    char err[256];
    (void)eagle_client_last_error(c, err, sizeof err);
    eagle_client_free(c);
}

/* ---- seeds ---- */

static size_t frame(uint8_t *out, const Eagle__V1__Response *r) {
    size_t n = eagle__v1__response__get_packed_size(r);
    out[0] = (uint8_t)(n >> 24); out[1] = (uint8_t)(n >> 16); out[2] = (uint8_t)(n >> 8); out[3] = (uint8_t)n;
    eagle__v1__response__pack(r, out + 4);
    return n + 4;
}

/* Appends response `id` whose oneof `kind` is `msg` (protobuf-c keeps a oneof's members in
 * one union, so any member's pointer stores it). */
static size_t put(uint8_t *out, uint64_t id, Eagle__V1__Response__KindCase kind, void *msg) {
    Eagle__V1__Response r = EAGLE__V1__RESPONSE__INIT;
    r.id = id;
    r.kind_case = kind;
    r.status = msg;
    return frame(out, &r);
}

static void write_file(const char *dir, const char *name, const uint8_t *data, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(data, 1, size, f); fclose(f); }
}

static void write_seeds(const char *dir) {
    static uint8_t buf[1 << 16];
    size_t len = 0;
    Eagle__V1__HelloReply hello = EAGLE__V1__HELLO_REPLY__INIT;
    hello.magic = EAGLE__V1__MAGIC__MAGIC_EAGLE;
    hello.protocol_version = EAGLE_PROTOCOL_VERSION;
    hello.server_version = "seed";
    hello.max_frame_bytes = 65536;
    len += put(buf + len, 1, EAGLE__V1__RESPONSE__KIND_HELLO, &hello);
    Eagle__V1__HealthReply health = EAGLE__V1__HEALTH_REPLY__INIT;
    health.serving = 1; health.models = 1;
    len += put(buf + len, 2, EAGLE__V1__RESPONSE__KIND_HEALTH, &health);
    Eagle__V1__ModelInfo info = EAGLE__V1__MODEL_INFO__INIT;
    info.name = "tiny"; info.target_dir = "/m"; info.vocab_size = 96; info.dtype = "bf16";
    Eagle__V1__ModelInfo *infos[1] = {&info};
    Eagle__V1__ModelList models = EAGLE__V1__MODEL_LIST__INIT;
    models.n_models = 1; models.models = infos;
    len += put(buf + len, 3, EAGLE__V1__RESPONSE__KIND_MODELS, &models);
    uint32_t ids[3] = {5, 6, 7};
    Eagle__V1__GenerateResult gen = EAGLE__V1__GENERATE_RESULT__INIT;
    gen.n_ids = 3; gen.ids = ids; gen.text = "abc"; gen.steps = 3; gen.mean_accepted = 1;
    len += put(buf + len, 4, EAGLE__V1__RESPONSE__KIND_GENERATE, &gen);
    Eagle__V1__GenerateChunk chunk = EAGLE__V1__GENERATE_CHUNK__INIT;
    chunk.n_ids = 2; chunk.ids = ids; chunk.text = "ab";
    len += put(buf + len, 5, EAGLE__V1__RESPONSE__KIND_CHUNK, &chunk);
    len += put(buf + len, 5, EAGLE__V1__RESPONSE__KIND_GENERATE, &gen);
    Eagle__V1__TokenizeResult tok = EAGLE__V1__TOKENIZE_RESULT__INIT;
    tok.n_ids = 3; tok.ids = ids;
    len += put(buf + len, 6, EAGLE__V1__RESPONSE__KIND_TOKENIZE, &tok);
    Eagle__V1__DetokenizeResult detok = EAGLE__V1__DETOKENIZE_RESULT__INIT;
    detok.text = "xyz";
    len += put(buf + len, 7, EAGLE__V1__RESPONSE__KIND_DETOKENIZE, &detok);
    Eagle__V1__ModelStats ms = EAGLE__V1__MODEL_STATS__INIT;
    ms.name = "tiny"; ms.requests = 3;
    Eagle__V1__ModelStats *mss[1] = {&ms};
    Eagle__V1__StatsReply st = EAGLE__V1__STATS_REPLY__INIT;
    st.n_models = 1; st.models = mss;
    len += put(buf + len, 8, EAGLE__V1__RESPONSE__KIND_STATS, &st);
    write_file(dir, "all-calls", buf, len);

    /* An error status for every call after hello. */
    len = put(buf, 1, EAGLE__V1__RESPONSE__KIND_HELLO, &hello);
    Eagle__V1__Status status = EAGLE__V1__STATUS__INIT;
    status.code = EAGLE__V1__CODE__RESOURCE_EXHAUSTED; status.message = "no room";
    for (uint64_t id = 2; id <= 8; id++) len += put(buf + len, id, EAGLE__V1__RESPONSE__KIND_STATUS, &status);
    write_file(dir, "all-errors", buf, len);
}

static void remove_socket(void) { unlink(socket_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *seeds = getenv("EAGLE_FUZZ_WRITE_SEEDS");
    if (seeds != NULL) { write_seeds(seeds); exit(0); }
    snprintf(socket_path, sizeof socket_path, "/tmp/eagle-fuzz-client-%d.sock", (int)getpid());
    unlink(socket_path);
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 4) != 0) {
        fprintf(stderr, "cannot listen on %s: %s\n", socket_path, strerror(errno));
        exit(2);
    }
    atexit(remove_socket);  /* libFuzzer leaves through exit() at -max_total_time and -runs */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct serve s = {data, size};
    pthread_t server;
    if (pthread_create(&server, NULL, serve, &s) != 0) return 0;
    run_calls();
    pthread_join(server, NULL);
    return 0;
}
