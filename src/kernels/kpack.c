/* kpack.c — bit-plane packing of integer weight codes (layout in kernels.h)
 * and the unpack to the int8 VNNI layout every kernel consumes. */
#include <stdlib.h>
#include <string.h>

#include "kinternal.h"

static const uint32_t byte_mask[9] = {0, 0x01010101u, 0x03030303u, 0, 0x0F0F0F0Fu, 0, 0, 0, 0xFFFFFFFFu};

/* Planes low bits first: the largest of 8/4/2/1 that still fits. */
static int split_planes(int bits, int *pb) {
    int n = 0;
    while (bits > 0) {
        int p = bits >= 8 ? 8 : bits >= 4 ? 4 : bits >= 2 ? 2 : 1;
        pb[n++] = p;
        bits -= p;
    }
    return n;
}

static void *alloc64(size_t bytes) {
    size_t b = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, b ? b : 64);
    if (p) memset(p, 0, b ? b : 64);
    return p;
}

void ptq_kpacked_free(ptq_kpacked *p) {
    free(p->data);
    free(p->scale);
    free(p->zero);
    free(p->csum);
    memset(p, 0, sizeof *p);
}

static uint8_t stored_code(int bits, int u) { return (uint8_t)(bits == 8 ? (u ^ 0x80) : u); }
static int code_value(int bits, uint8_t c) { return bits == 8 ? (int)(int8_t)c : (int)c; }

/* Set the plane bits of one code at (row r, column k). */
static void put_code(ptq_kpacked *p, int r, int k, uint8_t c) {
    int rb = r / PTQ_KP_RB, lane = r % PTQ_KP_RB, shift = 0;
    for (int i = 0; i < p->nplanes; i++) {
        int pb = p->plane_bits[i], kb = 32 / pb, nkb = p->kpad / kb;
        int blk = k / kb, s = (k % kb) / 4, j = k % 4;
        uint32_t *lanes = (uint32_t *)(p->data + p->plane_off[i]) + ((size_t)rb * nkb + blk) * PTQ_KP_RB;
        uint32_t v = (uint32_t)((c >> shift) & ((1u << pb) - 1));
        lanes[lane] |= v << (8 * j + pb * s);
        shift += pb;
    }
}

int ptq_kpack(ptq_kpacked *p, const uint8_t *codes, const float *scale, const int *zero, int out, int in, int bits,
              int group, ptq_err *err) {
    memset(p, 0, sizeof *p);
    if (out <= 0 || in <= 0) return ptq_fail(err, "kpack: bad shape %dx%d", out, in);
    if (bits < 2 || bits > 8) return ptq_fail(err, "kpack: bits %d outside 2..8", bits);
    if (group < 0 || (group > 0 && group % 4)) return ptq_fail(err, "kpack: group %d must be 0 or a multiple of 4", group);
    p->out = out, p->in = in, p->bits = bits;
    p->npad = (out + PTQ_KP_RB - 1) / PTQ_KP_RB * PTQ_KP_RB;
    p->kpad = (in + PTQ_KP_KA - 1) / PTQ_KP_KA * PTQ_KP_KA;
    p->group = group > 0 && group < in ? group : p->kpad;
    p->ngroups = (in + p->group - 1) / p->group;
    p->nplanes = split_planes(bits, p->plane_bits);
    size_t off = 0;
    for (int i = 0; i < p->nplanes; i++) {
        p->plane_off[i] = off;
        off += (size_t)p->npad * p->kpad * p->plane_bits[i] / 8;
    }
    p->data_bytes = off;
    size_t ng = (size_t)p->ngroups * p->npad;
    p->data = alloc64(off);
    p->scale = alloc64(ng * sizeof(float));
    p->zero = alloc64(ng * sizeof(int16_t));
    p->csum = alloc64(ng * sizeof(int32_t));
    if (!p->data || !p->scale || !p->zero || !p->csum) {
        ptq_kpacked_free(p);
        return ptq_fail(err, "kpack: out of memory for %dx%d", out, in);
    }
    int maxq = (1 << bits) - 1, off8 = bits == 8 ? 128 : 0;
    for (int r = 0; r < out; r++) {
        for (int g = 0; g < p->ngroups; g++) {
            int z = zero[(size_t)r * p->ngroups + g];
            if (z < 0 || z > maxq) {
                ptq_kpacked_free(p);
                return ptq_fail(err, "kpack: zero point %d of row %d group %d outside 0..%d", z, r, g, maxq);
            }
            p->scale[(size_t)g * p->npad + r] = scale[(size_t)r * p->ngroups + g];
            p->zero[(size_t)g * p->npad + r] = (int16_t)(z - off8);
        }
        for (int k = 0; k < in; k++) {
            int u = codes[(size_t)r * in + k];
            if (u > maxq) {
                ptq_kpacked_free(p);
                return ptq_fail(err, "kpack: code %d at (%d,%d) outside 0..%d", u, r, k, maxq);
            }
            uint8_t c = stored_code(bits, u);
            put_code(p, r, k, c);
            p->csum[(size_t)(k / p->group) * p->npad + r] += code_value(bits, c);
        }
    }
    return 0;
}

/* Row block rb into dst32[k4 * ld + lane] (int8 x 4 per 32-bit word). */
void ptq_kunpack_block_ld(const ptq_kpacked *p, int rb, uint32_t *dst32, int ld) {
    int nk4 = p->kpad / 4, shift = 0;
    for (int k4 = 0; k4 < nk4; k4++) memset(dst32 + (size_t)k4 * ld, 0, PTQ_KP_RB * sizeof(uint32_t));
    for (int i = 0; i < p->nplanes; i++) {
        int pb = p->plane_bits[i], kb = 32 / pb, nkb = p->kpad / kb, subs = kb / 4;
        uint32_t m = byte_mask[pb];
        const uint32_t *src = (const uint32_t *)(p->data + p->plane_off[i]) + (size_t)rb * nkb * PTQ_KP_RB;
        for (int b = 0; b < nkb; b++, src += PTQ_KP_RB)
            for (int s = 0; s < subs; s++) {
                uint32_t *d = dst32 + (size_t)(b * subs + s) * ld;
                for (int l = 0; l < PTQ_KP_RB; l++) d[l] |= ((src[l] >> (pb * s)) & m) << shift;
            }
        shift += pb;
    }
}

void ptq_kunpack_panel(const ptq_kpacked *p, int panel, int8_t *dst) {
    uint32_t *d32 = (uint32_t *)(void *)dst;
    int rb = 2 * panel;
    ptq_kunpack_block_ld(p, rb, d32, 2 * PTQ_KP_RB);
    if (rb + 1 < p->npad / PTQ_KP_RB) ptq_kunpack_block_ld(p, rb + 1, d32 + PTQ_KP_RB, 2 * PTQ_KP_RB);
    else
        for (int k4 = 0; k4 < p->kpad / 4; k4++) memset(d32 + (size_t)k4 * 2 * PTQ_KP_RB + PTQ_KP_RB, 0, 64);
}

void ptq_kunpack_block(const ptq_kpacked *p, int rb, int8_t *dst) {
    ptq_kunpack_block_ld(p, rb, (uint32_t *)(void *)dst, PTQ_KP_RB);
}

int ptq_kunpack_codes(const ptq_kpacked *p, uint8_t *codes) {
    int8_t *buf = alloc64((size_t)p->kpad * PTQ_KP_RB);
    if (!buf) return -1;
    int off8 = p->bits == 8 ? 128 : 0;
    for (int rb = 0; rb < p->npad / PTQ_KP_RB; rb++) {
        ptq_kunpack_block(p, rb, buf);
        for (int l = 0; l < PTQ_KP_RB; l++) {
            int r = rb * PTQ_KP_RB + l;
            if (r >= p->out) break;
            for (int k = 0; k < p->in; k++) {
                int8_t c = buf[((size_t)(k / 4) * PTQ_KP_RB + l) * 4 + k % 4];
                codes[(size_t)r * p->in + k] = (uint8_t)(p->bits == 8 ? (int)c + off8 : (uint8_t)c);
            }
        }
    }
    free(buf);
    return 0;
}

size_t ptq_kpacked_bytes(const ptq_kpacked *p) {
    size_t ng = (size_t)p->ngroups * p->npad; /* as allocated: rows padded to 16 */
    return p->data_bytes + ng * (sizeof(float) + sizeof(int16_t) + sizeof(int32_t));
}
