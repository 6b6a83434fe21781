/*
 * Connection: connect + hello, request ids, and response dispatch.
 *
 * Many threads may wait on one handle. Whichever waiting thread finds nobody reading
 * becomes the reader (leader/follower): it reads one frame without holding the lock,
 * then, under the lock, appends the response to the queue of the call with that id and
 * wakes everyone. So no background thread exists, and a thread blocked on a long
 * generation still delivers the answers of other threads' short calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* Records the error that ended the connection and wakes all waiters. Caller holds mu. */
static void mark_dead_locked(eagle_client *c, int code, const char *msg) {
    if (c->dead == 0) {
        c->dead = code;
        snprintf(c->dead_msg, sizeof c->dead_msg, "%s", msg);
        shutdown(c->fd, SHUT_RDWR); /* wakes a reader blocked in recv */
    }
    pthread_cond_broadcast(&c->cv);
}

static void mark_dead(eagle_client *c, int code, const char *msg) {
    pthread_mutex_lock(&c->mu);
    mark_dead_locked(c, code, msg);
    pthread_mutex_unlock(&c->mu);
}

static void free_queue(ec_call *call) {
    ec_node *n = call->head;
    while (n != NULL) {
        ec_node *next = n->next;
        eagle__v1__response__free_unpacked(n->resp, NULL);
        free(n);
        n = next;
    }
    call->head = call->tail = NULL;
}

static void unlink_locked(eagle_client *c, ec_call *call) {
    if (!call->registered) return;
    if (call->prev != NULL) call->prev->next = call->next; else c->calls = call->next;
    if (call->next != NULL) call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->registered = 0;
}

/* Hands a response to its call; late answers for calls that are gone are dropped.
 * Caller holds mu. */
static void dispatch_locked(eagle_client *c, Eagle__V1__Response *resp) {
    if (resp->id == 0) {
        char msg[EAGLE_MSG_MAX];
        if (resp->kind_case == EAGLE__V1__RESPONSE__KIND_STATUS) {
            snprintf(msg, sizeof msg, "server ended the connection: %s", resp->status->message);
            mark_dead_locked(c, ec_status_to_error((int)resp->status->code), msg);
        } else {
            mark_dead_locked(c, EAGLE_E_PROTOCOL, "server sent a response with id 0 that is not a status");
        }
        eagle__v1__response__free_unpacked(resp, NULL);
        return;
    }
    ec_call *call = c->calls;
    while (call != NULL && call->id != resp->id) call = call->next;
    if (call == NULL || call->done) {
        eagle__v1__response__free_unpacked(resp, NULL);
        return;
    }
    ec_node *n = malloc(sizeof *n);
    if (n == NULL) {
        eagle__v1__response__free_unpacked(resp, NULL);
        mark_dead_locked(c, EAGLE_E_NOMEM, "out of memory queueing a response");
        return;
    }
    n->resp = resp;
    n->next = NULL;
    if (call->tail != NULL) call->tail->next = n; else call->head = n;
    call->tail = n;
    if (resp->kind_case != EAGLE__V1__RESPONSE__KIND_CHUNK) call->done = 1;
}

/* Packs and writes req; a failed write leaves the byte stream torn, so it ends the link. */
static int send_request(eagle_client *c, Eagle__V1__Request *req) {
    const char *bad = ec_invalid_utf8_field(&req->base);
    if (bad != NULL)
        return ec_fail(c, EAGLE_E_INVALID_ARGUMENT, "string field '%s' is not valid UTF-8", bad);
    size_t size = eagle__v1__request__get_packed_size(req);
    if (size > c->server_max_frame)
        return ec_fail(c, EAGLE_E_TOO_LARGE, "request of %zu bytes exceeds the server's limit of %u bytes",
                       size, c->server_max_frame);
    char msg[EAGLE_MSG_MAX];
    pthread_mutex_lock(&c->write_mu);
    int rc = ec_frame_write(c->fd, req, size, msg, sizeof msg);
    pthread_mutex_unlock(&c->write_mu);
    if (rc == 0) return 0;
    if (rc != EAGLE_E_NOMEM) mark_dead(c, rc, msg);
    return ec_fail(c, rc, "%s", msg);
}

int ec_call_begin(eagle_client *c, ec_call *call, Eagle__V1__Request *req) {
    memset(call, 0, sizeof *call);
    pthread_mutex_lock(&c->mu);
    if (c->dead != 0) {
        char msg[EAGLE_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", c->dead_msg);
        pthread_mutex_unlock(&c->mu);
        return ec_fail(c, EAGLE_E_CLOSED, "connection is closed (%s)", msg);
    }
    call->id = c->next_id++;
    call->registered = 1;
    call->next = c->calls;
    if (c->calls != NULL) c->calls->prev = call;
    c->calls = call;
    pthread_mutex_unlock(&c->mu);

    req->id = call->id;
    int rc = send_request(c, req);
    if (rc != 0) ec_call_end(c, call);
    return rc;
}

int ec_call_next(eagle_client *c, ec_call *call, Eagle__V1__Response **ret) {
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (call->head != NULL) {
            ec_node *n = call->head;
            call->head = n->next;
            if (call->head == NULL) call->tail = NULL;
            pthread_mutex_unlock(&c->mu);
            *ret = n->resp;
            free(n);
            return 0;
        }
        if (call->done || !call->registered) {
            pthread_mutex_unlock(&c->mu);
            return ec_fail(c, EAGLE_E_STATE, "request %llu has already ended", (unsigned long long)call->id);
        }
        if (c->dead != 0) {
            int code = c->dead;
            char msg[EAGLE_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", c->dead_msg);
            pthread_mutex_unlock(&c->mu);
            return ec_fail(c, code, "%s", msg);
        }
        if (!c->reading) {
            c->reading = 1;
            pthread_mutex_unlock(&c->mu);
            Eagle__V1__Response *resp = NULL;
            char msg[EAGLE_MSG_MAX];
            int rc = ec_frame_read(c->fd, c->recv_max_frame, &resp, msg, sizeof msg);
            pthread_mutex_lock(&c->mu);
            c->reading = 0;
            if (rc != 0) mark_dead_locked(c, rc, msg);
            else dispatch_locked(c, resp);
            pthread_cond_broadcast(&c->cv);
        } else {
            pthread_cond_wait(&c->cv, &c->mu);
        }
    }
}

void ec_call_end(eagle_client *c, ec_call *call) {
    pthread_mutex_lock(&c->mu);
    unlink_locked(c, call);
    free_queue(call);
    pthread_mutex_unlock(&c->mu);
}

int ec_call_done(eagle_client *c, ec_call *call) {
    pthread_mutex_lock(&c->mu);
    int done = call->done;
    pthread_mutex_unlock(&c->mu);
    return done;
}

int ec_send_detached(eagle_client *c, Eagle__V1__Request *req) {
    pthread_mutex_lock(&c->mu);
    if (c->dead != 0) {
        pthread_mutex_unlock(&c->mu);
        return ec_fail(c, EAGLE_E_CLOSED, "connection is closed");
    }
    req->id = c->next_id++;
    pthread_mutex_unlock(&c->mu);
    return send_request(c, req);
}

int ec_roundtrip(eagle_client *c, Eagle__V1__Request *req,
                 Eagle__V1__Response__KindCase expect, Eagle__V1__Response **ret) {
    ec_call call;
    int rc = ec_call_begin(c, &call, req);
    if (rc != 0) return rc;
    Eagle__V1__Response *resp = NULL;
    for (;;) {
        rc = ec_call_next(c, &call, &resp);
        if (rc != 0) break;
        if (resp->kind_case != EAGLE__V1__RESPONSE__KIND_CHUNK) break;
        eagle__v1__response__free_unpacked(resp, NULL); /* no chunks expected here */
        resp = NULL;
    }
    ec_call_end(c, &call);
    if (rc != 0) return rc;
    if (resp->kind_case == EAGLE__V1__RESPONSE__KIND_STATUS) {
        rc = ec_fail_status(c, resp->status);
        eagle__v1__response__free_unpacked(resp, NULL);
        return rc;
    }
    if (resp->kind_case != expect) {
        rc = ec_fail(c, EAGLE_E_PROTOCOL, "server answered request %llu with response kind %d, expected %d",
                     (unsigned long long)resp->id, (int)resp->kind_case, (int)expect);
        eagle__v1__response__free_unpacked(resp, NULL);
        return rc;
    }
    *ret = resp;
    return 0;
}

/* ---- public: connect, free, hello fields, cancel ---- */

static void client_destroy(eagle_client *c) {
    if (c->fd >= 0) close(c->fd);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->write_mu);
    pthread_mutex_destroy(&c->err_mu);
    free(c->server_version);
    free(c);
}

static int hello(eagle_client *c, const char *client_name) {
    Eagle__V1__Hello h = EAGLE__V1__HELLO__INIT;
    h.magic = EAGLE__V1__MAGIC__MAGIC_EAGLE;
    h.protocol_version = EAGLE_PROTOCOL_VERSION;
    h.client_name = (char *)(client_name != NULL ? client_name : "libeagle");
    Eagle__V1__Request req = EAGLE__V1__REQUEST__INIT;
    req.kind_case = EAGLE__V1__REQUEST__KIND_HELLO;
    req.hello = &h;
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(c, &req, EAGLE__V1__RESPONSE__KIND_HELLO, &resp);
    if (rc != 0) return rc;
    const Eagle__V1__HelloReply *r = resp->hello;
    if (r->magic != EAGLE__V1__MAGIC__MAGIC_EAGLE) {
        rc = ec_fail(c, EAGLE_E_PROTOCOL, "peer is not eagled (hello magic 0x%08x)", r->magic);
    } else if (r->protocol_version != EAGLE_PROTOCOL_VERSION) {
        rc = ec_fail(c, EAGLE_E_PROTOCOL, "server speaks protocol version %u, this library %u",
                     r->protocol_version, EAGLE_PROTOCOL_VERSION);
    } else if ((c->server_version = ec_strdup(r->server_version)) == NULL) {
        rc = ec_fail(c, EAGLE_E_NOMEM, "out of memory");
    } else {
        if (r->max_frame_bytes != 0) {
            c->server_max_frame = r->max_frame_bytes;
            if (r->max_frame_bytes > c->recv_max_frame) c->recv_max_frame = r->max_frame_bytes;
        }
    }
    eagle__v1__response__free_unpacked(resp, NULL);
    return rc;
}

EAGLE_API int eagle_client_connect(const char *socket_path, const char *client_name,
                                   eagle_client **ret_client) {
    if (ret_client == NULL) return ec_fail(NULL, EAGLE_E_INVAL, "ret_client is NULL");
    const char *path = socket_path;
    if (path == NULL || path[0] == '\0') path = getenv("EAGLE_SOCKET");
    if (path == NULL || path[0] == '\0') path = EAGLE_DEFAULT_SOCKET;

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path)
        return ec_fail(NULL, EAGLE_E_INVAL, "socket path is longer than %zu bytes: %s",
                       sizeof addr.sun_path - 1, path);
    memcpy(addr.sun_path, path, strlen(path) + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return ec_fail(NULL, EAGLE_E_CONNECT, "socket: %s", strerror(errno));
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int e = errno;
        close(fd);
        return ec_fail(NULL, EAGLE_E_CONNECT, "cannot connect to %s: %s", path, strerror(e));
    }

    eagle_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(fd);
        return ec_fail(NULL, EAGLE_E_NOMEM, "out of memory");
    }
    c->fd = fd;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->write_mu, NULL);
    pthread_mutex_init(&c->err_mu, NULL);
    c->next_id = 1;
    c->server_max_frame = EAGLE_DEFAULT_MAX_FRAME_BYTES;
    c->recv_max_frame = EAGLE_DEFAULT_MAX_FRAME_BYTES;

    rc = hello(c, client_name);
    if (rc != 0) {
        client_destroy(c); /* the thread-local message survives for eagle_last_error() */
        return rc;
    }
    *ret_client = c;
    return 0;
}

EAGLE_API void eagle_client_free(eagle_client *client) {
    if (client == NULL) return;
    shutdown(client->fd, SHUT_RDWR);
    pthread_mutex_lock(&client->mu);
    while (client->calls != NULL) { /* calls of streams the caller forgot to free */
        ec_call *call = client->calls;
        unlink_locked(client, call);
        free_queue(call);
    }
    pthread_mutex_unlock(&client->mu);
    client_destroy(client);
}

EAGLE_API const char *eagle_client_server_version(const eagle_client *client) {
    return client != NULL && client->server_version != NULL ? client->server_version : "";
}

EAGLE_API uint32_t eagle_client_max_frame_bytes(const eagle_client *client) {
    return client != NULL ? client->server_max_frame : 0;
}

EAGLE_API int eagle_client_cancel(eagle_client *client, uint64_t request_id) {
    if (client == NULL) return ec_fail(NULL, EAGLE_E_INVAL, "client is NULL");
    Eagle__V1__Cancel cancel = EAGLE__V1__CANCEL__INIT;
    cancel.target_id = request_id;
    Eagle__V1__Request req = EAGLE__V1__REQUEST__INIT;
    req.kind_case = EAGLE__V1__REQUEST__KIND_CANCEL;
    req.cancel = &cancel;
    Eagle__V1__Response *resp = NULL;
    int rc = ec_roundtrip(client, &req, EAGLE__V1__RESPONSE__KIND_CANCELLED, &resp);
    if (rc != 0) return rc;
    eagle__v1__response__free_unpacked(resp, NULL);
    return 0;
}
