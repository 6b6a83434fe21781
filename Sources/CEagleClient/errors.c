/* Error strings, the thread-local and per-client last error, version, eagle_free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)

EAGLE_API const char *eagle_version(void) {
    return STR(EAGLE_VERSION_MAJOR) "." STR(EAGLE_VERSION_MINOR) "." STR(EAGLE_VERSION_PATCH);
}

EAGLE_API const char *eagle_strerror(int code) {
    switch (code) {
    case EAGLE_OK: return "success";
    case EAGLE_E_CANCELLED: return "cancelled";
    case EAGLE_E_UNKNOWN: return "unknown server error";
    case EAGLE_E_INVALID_ARGUMENT: return "invalid argument";
    case EAGLE_E_DEADLINE_EXCEEDED: return "deadline exceeded";
    case EAGLE_E_NOT_FOUND: return "not found";
    case EAGLE_E_ALREADY_EXISTS: return "already exists";
    case EAGLE_E_PERMISSION_DENIED: return "permission denied";
    case EAGLE_E_RESOURCE_EXHAUSTED: return "resource exhausted";
    case EAGLE_E_FAILED_PRECONDITION: return "failed precondition";
    case EAGLE_E_ABORTED: return "aborted";
    case EAGLE_E_OUT_OF_RANGE: return "out of range";
    case EAGLE_E_UNIMPLEMENTED: return "unimplemented";
    case EAGLE_E_INTERNAL: return "internal server error";
    case EAGLE_E_UNAVAILABLE: return "unavailable";
    case EAGLE_E_CONNECT: return "cannot connect to eagled";
    case EAGLE_E_IO: return "socket I/O error";
    case EAGLE_E_CLOSED: return "connection closed";
    case EAGLE_E_PROTOCOL: return "protocol error";
    case EAGLE_E_NOMEM: return "out of memory";
    case EAGLE_E_INVAL: return "invalid argument to library call";
    case EAGLE_E_TOO_LARGE: return "request exceeds the server's frame limit";
    case EAGLE_E_STATE: return "call not valid in this state";
    default: return "unrecognized error code";
    }
}

static _Thread_local char tl_msg[EAGLE_MSG_MAX];

EAGLE_API const char *eagle_last_error(void) { return tl_msg; }

EAGLE_API void eagle_free(void *ptr) { free(ptr); }

static int record(eagle_client *c, int code, const char *msg) {
    if (msg != tl_msg) snprintf(tl_msg, sizeof tl_msg, "%s", msg);
    if (c != NULL) {
        pthread_mutex_lock(&c->err_mu);
        c->last_code = code;
        snprintf(c->last_msg, sizeof c->last_msg, "%s", msg);
        pthread_mutex_unlock(&c->err_mu);
    }
    return code;
}

int ec_fail(eagle_client *c, int code, const char *fmt, ...) {
    char buf[EAGLE_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return record(c, code, buf);
}

int ec_status_to_error(int wire_code) {
    if (wire_code >= 1 && wire_code <= 14) return -wire_code;
    return EAGLE_E_UNKNOWN;
}

int ec_fail_status(eagle_client *c, const Eagle__V1__Status *st) {
    int code = ec_status_to_error((int)st->code);
    const char *m = st->message != NULL && st->message[0] != '\0' ? st->message : eagle_strerror(code);
    return record(c, code, m);
}

char *ec_strdup(const char *s) { return strdup(s != NULL ? s : ""); }

EAGLE_API int eagle_client_last_error(eagle_client *client, char *buf, size_t buf_size) {
    if (client == NULL) return EAGLE_E_INVAL;
    pthread_mutex_lock(&client->err_mu);
    int code = client->last_code;
    if (buf != NULL && buf_size > 0) snprintf(buf, buf_size, "%s", client->last_msg);
    pthread_mutex_unlock(&client->err_mu);
    return code;
}
