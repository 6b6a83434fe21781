/*
 * UTF-8 checks on outgoing requests. The daemon refuses a request whose string fields are
 * not UTF-8 (protobuf's `string` type requires it); checking here gives the caller
 * EAGLE_E_INVALID_ARGUMENT and the field's name at once, without a round trip, for a C
 * caller that passes Latin-1 or a truncated multibyte sequence.
 */
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

int ec_utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        unsigned char c = *p;
        if (c < 0x80) { p++; continue; }
        int n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; min = 0x10000; }
        else return 0;                                   /* continuation byte or 0xF8.. */
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return 0;         /* also stops at the terminator */
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        p += n + 1;
    }
    return 1;
}

/* Whether field f of msg is set (oneof members only when they are the chosen case). */
static int field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f) {
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t chosen = *(const uint32_t *)((const char *)msg + f->quantifier_offset);
        return chosen == f->id;
    }
    return 1;
}

static const char *check_value(const ProtobufCFieldDescriptor *f, const void *slot) {
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(const char *const *)slot;
        return s != NULL && !ec_utf8_valid(s) ? f->name : NULL;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)slot;
        return sub != NULL ? ec_invalid_utf8_field(sub) : NULL;
    }
    return NULL;
}

const char *ec_invalid_utf8_field(const ProtobufCMessage *msg) {
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if (!field_present(msg, f)) continue;
        const char *slot = (const char *)msg + f->offset;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
            const char *items = *(const char *const *)slot;
            for (size_t k = 0; k < n; k++) {
                const char *bad = check_value(f, items + k * sizeof(void *));
                if (bad != NULL) return bad;
            }
        } else {
            const char *bad = check_value(f, slot);
            if (bad != NULL) return bad;
        }
    }
    return NULL;
}
