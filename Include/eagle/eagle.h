/*
 * eagle.h — C client for eagled (libeagle.so).
 *
 * Talks to the daemon over its Unix socket using the framed protobuf protocol of
 * Sources/Wire/eagle.proto (version 1). The library never logs, never calls exit() and
 * never raises SIGPIPE (sends use MSG_NOSIGNAL).
 *
 * Conventions
 *   - Every function that can fail returns 0 or a negative EAGLE_E_* code.
 *   - Out-parameters are named ret_*, come last, and are left untouched on failure.
 *   - Objects returned through ret_* are owned by the caller and freed with the
 *     matching *_free function; every *_free accepts NULL.
 *   - Pointers passed in are borrowed for the duration of the call only.
 *
 * Threads
 *   An eagle_client is thread-safe: any number of threads may issue calls on the same
 *   handle at once. Requests are multiplexed on the one connection by request id; the
 *   thread that is waiting reads the socket and hands responses to their owners, so no
 *   background thread is created and callbacks run on the caller's thread.
 *   eagle_client_free must not race with other calls on the same handle.
 *   An eagle_stream belongs to one thread at a time, except eagle_stream_cancel, which
 *   may be called from any thread while another is blocked in eagle_stream_next.
 *   eagle_strerror, eagle_version and *_default_params are pure.
 *
 * Link with: pkg-config --cflags --libs eagle   (or -leagle)
 */
#ifndef EAGLE_EAGLE_H
#define EAGLE_EAGLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(EAGLE_BUILDING_LIBRARY) && defined(__GNUC__)
#define EAGLE_API __attribute__((visibility("default")))
#else
#define EAGLE_API
#endif

/* ---- version ------------------------------------------------------------------ */

#define EAGLE_VERSION_MAJOR 0
#define EAGLE_VERSION_MINOR 3
#define EAGLE_VERSION_PATCH 0
/* Comparable as an integer: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define EAGLE_VERSION_NUMBER \
    (EAGLE_VERSION_MAJOR * 10000 + EAGLE_VERSION_MINOR * 100 + EAGLE_VERSION_PATCH)
/* Wire protocol version this library speaks (Hello.protocol_version). */
#define EAGLE_PROTOCOL_VERSION 1

/* Socket used when the path argument is NULL and EAGLE_SOCKET is unset or empty. */
#define EAGLE_DEFAULT_SOCKET "/run/eagled/eagled.sock"

/* Largest frame this library accepts from the server before allocating (bytes); the
 * server's own limit from its hello, if larger, replaces it. */
#define EAGLE_DEFAULT_MAX_FRAME_BYTES (4u * 1024u * 1024u)

/* Version of the library actually loaded, "MAJOR.MINOR.PATCH". Static storage. */
EAGLE_API const char *eagle_version(void);

/* ---- errors ------------------------------------------------------------------- */

typedef enum eagle_error {
    EAGLE_OK = 0,

    /* The server answered with a Status; the code is minus the wire code (gRPC numbering). */
    EAGLE_E_CANCELLED = -1,
    EAGLE_E_UNKNOWN = -2,
    EAGLE_E_INVALID_ARGUMENT = -3,
    EAGLE_E_DEADLINE_EXCEEDED = -4,
    EAGLE_E_NOT_FOUND = -5,
    EAGLE_E_ALREADY_EXISTS = -6,
    EAGLE_E_PERMISSION_DENIED = -7,
    EAGLE_E_RESOURCE_EXHAUSTED = -8,
    EAGLE_E_FAILED_PRECONDITION = -9,
    EAGLE_E_ABORTED = -10,
    EAGLE_E_OUT_OF_RANGE = -11,
    EAGLE_E_UNIMPLEMENTED = -12,
    EAGLE_E_INTERNAL = -13,
    EAGLE_E_UNAVAILABLE = -14,

    /* Local errors: nothing (more) was exchanged with the server. */
    EAGLE_E_CONNECT = -100,        /* could not connect to the socket */
    EAGLE_E_IO = -101,             /* read or write on the socket failed */
    EAGLE_E_CLOSED = -102,         /* the connection is closed (by the server, or after an error) */
    EAGLE_E_PROTOCOL = -103,       /* malformed or unexpected frame, bad hello, oversized frame */
    EAGLE_E_NOMEM = -104,          /* out of memory */
    EAGLE_E_INVAL = -105,          /* bad argument to a library call (NULL handle, two prompts, …) */
    EAGLE_E_TOO_LARGE = -106,      /* the request would exceed the server's frame limit */
    EAGLE_E_STATE = -107           /* call not valid in the object's state (e.g. result before end) */
} eagle_error;

/* Short English description of an error code; never NULL, static storage. */
EAGLE_API const char *eagle_strerror(int code);

/* Message of the most recent failed eagle_* call on the calling thread (the server's
 * Status message for server errors, a description for local ones), or "" if none.
 * Thread-local; valid until the next eagle_* call on this thread. Use it for failures
 * that have no handle yet, such as eagle_client_connect. */
EAGLE_API const char *eagle_last_error(void);

/* Releases memory the library returned as a plain buffer (token id arrays, strings).
 * Accepts NULL. */
EAGLE_API void eagle_free(void *ptr);

/* Strings: every `const char *` the library sends (prompts, chat messages, stop strings,
 * model names, paths, the client name) must be NUL-terminated UTF-8. One that is not
 * (Latin-1, a cut multibyte sequence, an overlong form, a surrogate) fails the call with
 * EAGLE_E_INVALID_ARGUMENT naming the field, before anything is sent; the handle stays
 * usable. */

/* ---- connection --------------------------------------------------------------- */

typedef struct eagle_client eagle_client;

/* Connects to socket_path (NULL or "": $EAGLE_SOCKET, then EAGLE_DEFAULT_SOCKET) and
 * exchanges hellos. client_name (may be NULL) only appears in the server's logs.
 * Ownership: *ret_client is the caller's; free with eagle_client_free.
 * Errors: EAGLE_E_CONNECT, EAGLE_E_INVAL (path too long), EAGLE_E_PROTOCOL (not an eagled,
 * or a different protocol version), EAGLE_E_IO, EAGLE_E_CLOSED, or the server's status.
 * Thread-safe. */
EAGLE_API int eagle_client_connect(const char *socket_path, const char *client_name,
                                   eagle_client **ret_client);

/* Closes the connection (the server cancels this connection's requests) and frees the
 * handle. Accepts NULL. Must not race with other calls on the same handle; streams
 * still open on it must be freed first. */
EAGLE_API void eagle_client_free(eagle_client *client);

/* Version string the server sent in its hello. Owned by the handle; valid until
 * eagle_client_free. Thread-safe. */
EAGLE_API const char *eagle_client_server_version(const eagle_client *client);

/* Largest request frame the server accepts (from its hello), in bytes. Thread-safe. */
EAGLE_API uint32_t eagle_client_max_frame_bytes(const eagle_client *client);

/* Copies the message of the most recent failure on this handle (any thread) into buf
 * (truncated, always NUL-terminated when buf_size > 0) and returns that failure's code
 * (0 if nothing failed yet). For an exact per-request message on a shared handle use
 * eagle_last_error() on the calling thread or eagle_stream_error(). Thread-safe. */
EAGLE_API int eagle_client_last_error(eagle_client *client, char *buf, size_t buf_size);

/* ---- health and models ------------------------------------------------------- */

typedef struct eagle_health {
    int serving;      /* non-zero when the daemon accepts work */
    uint32_t models;  /* models loaded */
    int draining;     /* non-zero while shutting down */
} eagle_health;

/* Asks the daemon whether it serves. Fills *ret_health (caller's storage). Thread-safe. */
EAGLE_API int eagle_client_health(eagle_client *client, eagle_health *ret_health);

typedef struct eagle_model_info {
    char *name;           /* registry name used in requests */
    char *target_dir;
    char *draft_dir;      /* "" when none */
    int has_draft;        /* non-zero when EAGLE can be enabled for this model */
    uint32_t vocab_size;
    uint32_t context_length;
    uint32_t hidden_size;
    uint32_t layers;
    uint64_t parameters;
} eagle_model_info;

typedef struct eagle_model_list {
    size_t n_models;
    eagle_model_info *models;  /* n_models entries */
} eagle_model_list;

/* Lists loaded models. Ownership: *ret_list is the caller's, strings included; free
 * with eagle_model_list_free. Thread-safe. */
EAGLE_API int eagle_model_list_get(eagle_client *client, eagle_model_list **ret_list);
EAGLE_API void eagle_model_list_free(eagle_model_list *list);

typedef struct eagle_load_params {
    const char *name;        /* registry name (required) */
    const char *target_dir;  /* HF checkpoint directory under the daemon's model root */
    const char *draft_dir;   /* EAGLE head directory, or NULL */
    uint32_t context_length; /* 0 = daemon default */
} eagle_load_params;

/* All fields zero/NULL. Pure. */
EAGLE_API eagle_load_params eagle_load_default_params(void);

/* Loads a model. Ownership: *ret_info is the caller's; free with eagle_model_info_free.
 * ret_info may be NULL when the caller does not want the description. Thread-safe. */
EAGLE_API int eagle_model_load(eagle_client *client, const eagle_load_params *params,
                               eagle_model_info **ret_info);
EAGLE_API void eagle_model_info_free(eagle_model_info *info);

/* Loads a model as eagle_model_load does, with its weights held as `dtype`: "bf16" (used
 * in place from a BF16 checkpoint's memory map), "f32", or "bf16dot" (BF16 weights multiplied
 * with activations rounded to BF16: AVX-512 BF16 speed, not the reference's bits); NULL or
 * "" = the daemon's default, bf16. Another value: EAGLE_E_INVALID_ARGUMENT. Thread-safe. Since 0.2. */
EAGLE_API int eagle_model_load_dtype(eagle_client *client, const eagle_load_params *params,
                                     const char *dtype, eagle_model_info **ret_info);

/* What a loaded model's weights and one request's KV cache take (ModelInfo fields 10-14).
 * A daemon that predates them reports "" and zeros. Since 0.2; a struct of its own so that
 * eagle_model_info keeps its layout. */
typedef struct eagle_model_memory {
    char dtype[8];                /* "bf16", "f32" or "bf16dot": how the weights are held */
    uint64_t weight_bytes;        /* target + draft head weights */
    uint64_t mapped_weight_bytes; /* of which used in place from the checkpoints' memory maps */
    uint64_t draft_weight_bytes;  /* of which the draft head's (0 without one) */
    uint64_t kv_bytes_per_token;  /* KV cache a request holds per token of context, head included */
} eagle_model_memory;

/* Fills *ret_memory (caller's storage) for loaded model `name`: EAGLE_E_NOT_FOUND when no
 * model has that name. One ListModels round trip. Thread-safe. Since 0.2. */
EAGLE_API int eagle_model_memory_get(eagle_client *client, const char *name, eagle_model_memory *ret_memory);

/* Unloads model `name`. Thread-safe. */
EAGLE_API int eagle_model_unload(eagle_client *client, const char *name);

/* ---- generation --------------------------------------------------------------- */

typedef enum eagle_stop_reason {
    EAGLE_STOP_UNSPECIFIED = 0,
    EAGLE_STOP_EOS = 1,
    EAGLE_STOP_STOP_STRING = 2,
    EAGLE_STOP_MAX_TOKENS = 3,
    EAGLE_STOP_CONTEXT_FULL = 4,
    EAGLE_STOP_CANCELLED = 5
} eagle_stop_reason;

typedef struct eagle_chat_message {
    const char *role;     /* "system", "user", "assistant" */
    const char *content;
} eagle_chat_message;

typedef struct eagle_generate_params {
    const char *model;               /* NULL or "" = the daemon's default model */

    /* The prompt: set exactly one of text, tokens or chat (the one whose pointer is
     * non-NULL). Setting more than one is EAGLE_E_INVAL; setting none sends no prompt
     * and the server decides. */
    const char *text;                /* tokenized by the server, BOS added */
    const uint32_t *tokens;          /* used as given */
    size_t n_tokens;
    const eagle_chat_message *chat;  /* rendered with the model's chat template */
    size_t n_chat;

    uint32_t max_tokens;             /* tokens to generate; 0 = not sent: the daemon's default
                                      * length. Above the daemon's cap: EAGLE_E_INVALID_ARGUMENT.
                                      * (On the wire an explicit 0 is INVALID_ARGUMENT; this API
                                      * never sends one.) */
    float temperature;               /* 0 = greedy */
    uint32_t top_k;                  /* 0 = off */
    float top_p;                     /* 0 or 1 = off */
    uint64_t seed;                   /* 0 = chosen by the server (returned in the result) */
    const char *const *stop;         /* n_stop stop strings */
    size_t n_stop;
    int ignore_eos;

    int eagle;                       /* non-zero: EAGLE speculative decoding. With tree_depth,
                                      * tree_top_k and total_tokens all 0 and static_tree 0 the
                                      * daemon chooses the tree — or plain decoding — it expects
                                      * to be fastest (the result's decoding says which) */
    uint32_t tree_depth;             /* 0 = the CPU default's (when another tree field is set) */
    uint32_t tree_top_k;             /* 0 = the CPU default's */
    uint32_t total_tokens;           /* tokens verified per step, root included; 0 = the CPU default's */
    int static_tree;                 /* non-zero: EAGLE-1 static tree */
} eagle_generate_params;

/* Greedy, server-default length, default model, no prompt set. Pure. */
EAGLE_API eagle_generate_params eagle_generate_default_params(void);

typedef struct eagle_generate_result {
    char *text;                /* NUL-terminated UTF-8 */
    size_t text_len;           /* bytes, without the NUL */
    uint32_t *ids;             /* generated token ids */
    size_t n_ids;
    eagle_stop_reason stop_reason;
    uint32_t prompt_tokens;
    uint32_t steps;            /* target forward passes that produced tokens */
    double mean_accepted;      /* tokens per step (1 for plain decoding) */
    double prefill_seconds;
    double decode_seconds;
    double queue_seconds;
    uint64_t seed;             /* the seed actually used */
    /* Since 0.3 (appended: the library allocates results, so older callers are unaffected). */
    char *decoding;            /* "plain", or the tree used ("dynamic depth=2 top_k=1 total=3") */
    char *decoding_reason;     /* "requested", or why the daemon's automatic choice made it */
    double expected_accepted;  /* tokens per step the automatic choice expected (0 otherwise) */
} eagle_generate_result;

/* Frees a result and everything it points to. Accepts NULL. */
EAGLE_API void eagle_generate_result_free(eagle_generate_result *result);

/* One streamed piece of output. Borrowed: valid only until the callback returns or the
 * next eagle_stream_next/eagle_stream_free on the same stream. */
typedef struct eagle_chunk {
    const uint32_t *ids;
    size_t n_ids;
    const char *text;          /* NUL-terminated; complete UTF-8 characters */
    size_t text_len;
    uint32_t accepted;         /* tokens the target step produced (EAGLE: accepted + bonus) */
} eagle_chunk;

/* Called for each chunk on the thread that called eagle_generate_stream. Return 0 to
 * continue, non-zero to cancel the request. */
typedef int (*eagle_chunk_fn)(const eagle_chunk *chunk, void *user_data);

/* Generates and waits for the whole result. Ownership: *ret_result is the caller's;
 * free with eagle_generate_result_free. Thread-safe. */
EAGLE_API int eagle_generate(eagle_client *client, const eagle_generate_params *params,
                             eagle_generate_result **ret_result);

/* Generates with streaming: on_chunk(chunk, user_data) is called for each chunk as
 * tokens become final, then the whole result is returned as by eagle_generate.
 * If on_chunk returns non-zero the request is cancelled and the call returns
 * EAGLE_E_CANCELLED (or 0 with the result, if the server finished first).
 * ret_result may be NULL when the caller only wants the chunks. Thread-safe. */
EAGLE_API int eagle_generate_stream(eagle_client *client, const eagle_generate_params *params,
                                    eagle_chunk_fn on_chunk, void *user_data,
                                    eagle_generate_result **ret_result);

/* ---- pull-style streaming ------------------------------------------------------ */

typedef struct eagle_stream eagle_stream;

/* Sends a streaming generate request and returns at once. Ownership: *ret_stream is the
 * caller's; free with eagle_stream_free (which cancels it if still running).
 * Thread-safe with respect to the client. */
EAGLE_API int eagle_stream_start(eagle_client *client, const eagle_generate_params *params,
                                 eagle_stream **ret_stream);

/* The request id on the wire (what eagle_client_cancel takes). */
EAGLE_API uint64_t eagle_stream_id(const eagle_stream *stream);

/* Waits for the next chunk. On success *ret_chunk points at a chunk owned by the
 * stream (valid until the next call on it), or is set to NULL when the request has
 * finished: then take the result with eagle_stream_result. A failed request returns
 * its error (EAGLE_E_CANCELLED after a cancel), and keeps returning it. */
EAGLE_API int eagle_stream_next(eagle_stream *stream, const eagle_chunk **ret_chunk);

/* After eagle_stream_next reported the end: hands over the result. Ownership:
 * *ret_result is the caller's (free with eagle_generate_result_free); a second call
 * returns EAGLE_E_STATE. Before the end: EAGLE_E_STATE. */
EAGLE_API int eagle_stream_result(eagle_stream *stream, eagle_generate_result **ret_result);

/* Asks the server to cancel the request and waits for its acknowledgement. The stream
 * then ends with EAGLE_E_CANCELLED (or its result, if it finished first). Returns 0 if
 * the request had already finished. May be called from any thread, also while another
 * thread is blocked in eagle_stream_next on the same stream (not concurrently with
 * eagle_stream_free). */
EAGLE_API int eagle_stream_cancel(eagle_stream *stream);

/* Server's message for the stream's failure, or "" if it has not failed. Owned by the
 * stream. */
EAGLE_API const char *eagle_stream_error(const eagle_stream *stream);

/* Cancels the request if still running (without waiting) and frees the stream.
 * Accepts NULL. */
EAGLE_API void eagle_stream_free(eagle_stream *stream);

/* Cancels request `request_id` on this connection (see eagle_stream_id) and waits for
 * the server's acknowledgement. Thread-safe. */
EAGLE_API int eagle_client_cancel(eagle_client *client, uint64_t request_id);

/* ---- tokenizer ----------------------------------------------------------------- */

/* Tokenizes text with the model's tokenizer (model NULL or "": default model).
 * Ownership: *ret_ids is the caller's; free with eagle_free. *ret_ids may be NULL when
 * *ret_n_ids is 0. Thread-safe. */
EAGLE_API int eagle_tokenize(eagle_client *client, const char *model, const char *text,
                             int add_special_tokens, uint32_t **ret_ids, size_t *ret_n_ids);

/* Turns ids back into text. Ownership: *ret_text (NUL-terminated UTF-8) is the
 * caller's; free with eagle_free. Thread-safe. */
EAGLE_API int eagle_detokenize(eagle_client *client, const char *model, const uint32_t *ids,
                               size_t n_ids, int skip_special_tokens, char **ret_text);

/* ---- statistics ---------------------------------------------------------------- */

typedef struct eagle_model_stats {
    char *name;
    uint64_t requests;
    uint64_t tokens_generated;
    uint64_t prompt_tokens;
    double mean_accepted;
    double tokens_per_second;  /* generated tokens ÷ decode time, over all requests */
    uint32_t active;
    uint32_t queued;
    uint64_t errors;
} eagle_model_stats;

typedef struct eagle_stats {
    double uptime_seconds;
    size_t n_models;
    eagle_model_stats *models;  /* n_models entries */
} eagle_stats;

/* Per-model counters (model NULL or "": all models). Ownership: *ret_stats is the
 * caller's; free with eagle_stats_free. Thread-safe. */
EAGLE_API int eagle_stats_get(eagle_client *client, const char *model, eagle_stats **ret_stats);
EAGLE_API void eagle_stats_free(eagle_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* EAGLE_EAGLE_H */
