/* Small helpers the kernels built with AVX2 or AVX-512 flags share: the sum of the eight lanes of an AVX
 * register, a value pinned in a register, and the high nibbles of 32 bytes (GFNI: AVX-512 kernels only). */
#ifndef SLM_HSUM_H
#define SLM_HSUM_H

#include <immintrin.h>

static inline float slm_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* v, kept in a register: left to itself the compiler folds a load into each instruction that uses the
 * value, so a block used twice is read twice. Where loads bound a kernel's loop (Q8_0: 15% from L2) an
 * empty asm with v as an in/out register operand stops that. */
static inline __m256i slm_in_register(__m256i v) {
    __asm__("" : "+v"(v));
    return v;
}

/* The high nibble of each byte, moved down: GFNI does it in one op (the bit matrix maps bit i+4 to bit i). */
static inline __m256i slm_high_nibbles(__m256i x, int gfni) {
    if (gfni) return _mm256_gf2p8affine_epi64_epi8(x, _mm256_set1_epi64x(0x1020408000000000LL), 0);
    return _mm256_and_si256(_mm256_srli_epi16(x, 4), _mm256_set1_epi8(0x0F));
}

#endif
