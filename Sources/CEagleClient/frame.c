/* Frame I/O: a 4-byte big-endian payload length, then one protobuf message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* Writes all of buf; MSG_NOSIGNAL so a closed peer is EPIPE, not SIGPIPE. */
static int write_all(int fd, const uint8_t *buf, size_t len, char *msg, size_t msg_size) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            snprintf(msg, msg_size, "send: %s", strerror(e));
            return (e == EPIPE || e == ECONNRESET) ? EAGLE_E_CLOSED : EAGLE_E_IO;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes. *got counts what arrived, to tell a clean EOF from a torn frame. */
static int read_all(int fd, uint8_t *buf, size_t len, size_t *got, char *msg, size_t msg_size) {
    *got = 0;
    while (*got < len) {
        ssize_t n = recv(fd, buf + *got, len - *got, 0);
        if (n == 0) {
            snprintf(msg, msg_size, "connection closed by the server");
            return EAGLE_E_CLOSED;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            snprintf(msg, msg_size, "recv: %s", strerror(e));
            return e == ECONNRESET ? EAGLE_E_CLOSED : EAGLE_E_IO;
        }
        *got += (size_t)n;
    }
    return 0;
}

int ec_frame_write(int fd, const Eagle__V1__Request *req, size_t packed_size,
                   char *msg, size_t msg_size) {
    uint8_t *buf = malloc(4 + packed_size);
    if (buf == NULL) {
        snprintf(msg, msg_size, "cannot allocate a %zu-byte frame", packed_size + 4);
        return EAGLE_E_NOMEM;
    }
    buf[0] = (uint8_t)(packed_size >> 24);
    buf[1] = (uint8_t)(packed_size >> 16);
    buf[2] = (uint8_t)(packed_size >> 8);
    buf[3] = (uint8_t)packed_size;
    eagle__v1__request__pack(req, buf + 4);
    int rc = write_all(fd, buf, 4 + packed_size, msg, msg_size);
    free(buf);
    return rc;
}

int ec_frame_read(int fd, uint32_t max, Eagle__V1__Response **ret, char *msg, size_t msg_size) {
    uint8_t hdr[4];
    size_t got;
    int rc = read_all(fd, hdr, 4, &got, msg, msg_size);
    if (rc == EAGLE_E_CLOSED && got > 0) {
        snprintf(msg, msg_size, "connection closed inside a frame header");
        return EAGLE_E_PROTOCOL;
    }
    if (rc != 0) return rc;
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len > max) {
        snprintf(msg, msg_size, "server frame of %u bytes exceeds the limit of %u bytes", len, max);
        return EAGLE_E_PROTOCOL;
    }
    uint8_t *payload = malloc(len > 0 ? len : 1);
    if (payload == NULL) {
        snprintf(msg, msg_size, "cannot allocate a %u-byte frame", len);
        return EAGLE_E_NOMEM;
    }
    rc = read_all(fd, payload, len, &got, msg, msg_size);
    if (rc != 0) {
        free(payload);
        if (rc == EAGLE_E_CLOSED) {
            snprintf(msg, msg_size, "connection closed inside a frame (%zu of %u bytes)", got, len);
            return EAGLE_E_PROTOCOL;
        }
        return rc;
    }
    Eagle__V1__Response *resp = eagle__v1__response__unpack(NULL, len, payload);
    free(payload);
    if (resp == NULL) {
        snprintf(msg, msg_size, "undecodable %u-byte frame from the server", len);
        return EAGLE_E_PROTOCOL;
    }
    *ret = resp;
    return 0;
}
