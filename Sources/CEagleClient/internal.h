/*
 * Internals of libeagle: the client handle, in-flight call records and helpers shared by
 * the .c files. Nothing here is exported (the library is built with -fvisibility=hidden).
 */
#ifndef EAGLE_INTERNAL_H
#define EAGLE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "eagle/eagle.h"
#include "eagle/eagle.pb-c.h"

#define EAGLE_MSG_MAX 512

/* One queued response of a call. */
typedef struct ec_node {
    Eagle__V1__Response *resp;
    struct ec_node *next;
} ec_node;

/* One request in flight: the reader appends its responses here, its owner pops them. */
typedef struct ec_call {
    uint64_t id;
    ec_node *head, *tail;      /* queued responses, oldest first */
    int done;                  /* terminal response queued (nothing more will come) */
    int registered;            /* linked into the client's call list */
    struct ec_call *prev, *next;
} ec_call;

struct eagle_client {
    int fd;

    /* mu guards everything below except the immutable hello fields. */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* broadcast when a response is dispatched or the link dies */
    int reading;               /* a thread is reading a frame off the socket (leader) */
    uint64_t next_id;
    ec_call *calls;            /* registered in-flight calls */
    int dead;                  /* 0, or the error that ended the connection */
    char dead_msg[EAGLE_MSG_MAX];

    pthread_mutex_t write_mu;  /* one frame written at a time */

    pthread_mutex_t err_mu;    /* guards last_code/last_msg */
    int last_code;
    char last_msg[EAGLE_MSG_MAX];

    /* From the hello; immutable after connect. */
    char *server_version;
    uint32_t server_max_frame;   /* largest request frame the server accepts */
    uint32_t recv_max_frame;     /* largest response frame we accept */
};

/* ---- errors.c ---- */

/* Records a failure (thread-local and, when c != NULL, on the handle); returns code. */
int ec_fail(eagle_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a wire Status code to EAGLE_E_* (unknown codes → EAGLE_E_UNKNOWN). */
int ec_status_to_error(int wire_code);
/* Records a server Status: the code mapped and the server's message. */
int ec_fail_status(eagle_client *c, const Eagle__V1__Status *st);
/* strdup that accepts NULL (→ "") and reports NOMEM as NULL. */
char *ec_strdup(const char *s);

/* ---- utf8.c ---- */

/* Non-zero when the NUL-terminated s is well-formed UTF-8 (no overlongs, no surrogates). */
int ec_utf8_valid(const char *s);
/* The name of the first string field in msg (nested messages included) that is not
 * UTF-8, or NULL when all are. */
const char *ec_invalid_utf8_field(const ProtobufCMessage *msg);

/* ---- frame.c ---- */

/* Writes one frame (header + packed request). Returns 0, EAGLE_E_IO or EAGLE_E_CLOSED. */
int ec_frame_write(int fd, const Eagle__V1__Request *req, size_t packed_size,
                   char *msg, size_t msg_size);
/* Reads and decodes one frame, refusing lengths above max before allocating.
 * Returns 0 and *ret, or EAGLE_E_CLOSED/IO/PROTOCOL/NOMEM with msg filled. */
int ec_frame_read(int fd, uint32_t max, Eagle__V1__Response **ret, char *msg, size_t msg_size);

/* ---- connection.c ---- */

/* Assigns an id, registers the call and sends req (its id is filled in). */
int ec_call_begin(eagle_client *c, ec_call *call, Eagle__V1__Request *req);
/* Waits for the call's next response; the caller owns *ret. */
int ec_call_next(eagle_client *c, ec_call *call, Eagle__V1__Response **ret);
/* Unregisters the call and frees what is still queued. Idempotent. */
void ec_call_end(eagle_client *c, ec_call *call);
/* Non-zero when the call's terminal response has been received (thread-safe). */
int ec_call_done(eagle_client *c, ec_call *call);
/* Sends a request whose response is not awaited (it is discarded on arrival). */
int ec_send_detached(eagle_client *c, Eagle__V1__Request *req);
/* One request, one terminal response: begin + wait + end. On a Status response returns
 * the mapped error; on a response of another kind than `expect`, EAGLE_E_PROTOCOL. */
int ec_roundtrip(eagle_client *c, Eagle__V1__Request *req,
                 Eagle__V1__Response__KindCase expect, Eagle__V1__Response **ret);

#endif
