/* BF16 <-> FP32. BF16 is the top half of an FP32, so widening is a shift. */
#include "ckernels.h"

#include <string.h>

void eagle_bf16_to_f32(const uint16_t *src, float *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, 4);
    }
}

void eagle_f32_to_bf16(const float *src, uint16_t *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, src + i, 4);
        if ((bits & 0x7fffffffu) > 0x7f800000u) {
            dst[i] = (uint16_t)((bits >> 16) | 0x0040u); /* quiet NaN */
            continue;
        }
        uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
        dst[i] = (uint16_t)((bits + rounding) >> 16);
    }
}
