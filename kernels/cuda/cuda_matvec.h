/* What the matrix-vector kernels (matvec_*.cu) share: the products of one launch, how a block finds
 * its matrix and a warp its row, and the end of a row. */
#ifndef SLM_CUDA_MATVEC_H
#define SLM_CUDA_MATVEC_H

#include <string.h>

#include <type_traits>

#include "cuda_launch.h"
#include "cuda_ops.h"
#include "cuda_reduce.h"

/* Each output row goes to one warp, MV_WARPS rows to a block: a row's partial sums then meet in a
 * warp reduction, with no shared memory and no block barrier, and a block needs no more rows than
 * the matrix has. */
enum { MV_WARPS = 4 };

/* The products of one launch, all of the same input, format and width: product j takes the blocks
 * first[j] .. first[j+1]-1 of the grid, so that a block (and a table it builds in shared memory)
 * belongs to one matrix. One launch for Q, K and V instead of three saves two launches and, for the
 * quantized formats, two quantizations of the same activations. */
typedef struct {
    slm_cuda_product p[SLM_CUDA_PRODUCTS];
    int first[SLM_CUDA_PRODUCTS + 1];
    int count;
} mv_set;

/* 1 to SLM_CUDA_PRODUCTS products of one format and width. */
static inline int mv_valid(const slm_cuda_product *p, int count) {
    if (count < 1 || count > SLM_CUDA_PRODUCTS) return 0;
    for (int j = 1; j < count; j++)
        if (p[j].W.type != p[0].W.type || p[j].W.cols != p[0].W.cols) return 0;
    return 1;
}

static inline mv_set mv_plan(const slm_cuda_product *p, int count) {
    mv_set s;
    memset(&s, 0, sizeof s);
    s.count = count;
    for (int j = 0; j < count; j++) {
        s.p[j] = p[j];
        s.first[j + 1] = s.first[j] + (p[j].W.rows + MV_WARPS - 1) / MV_WARPS;
    }
    return s;
}

static inline unsigned mv_blocks(const mv_set &s) { return (unsigned)s.first[s.count]; }

/* launch(std::integral_constant<int, NT>{}) with NT = n (1 .. SLM_CUDA_MV_MAX): the kernels keep one
 * partial sum per token in registers, so the token count is a template argument. */
template <typename F> static inline void with_tokens(int n, F launch) {
    switch (n) {
    case 1: launch(std::integral_constant<int, 1>{}); break;
    case 2: launch(std::integral_constant<int, 2>{}); break;
    case 3: launch(std::integral_constant<int, 3>{}); break;
    case 4: launch(std::integral_constant<int, 4>{}); break;
    case 5: launch(std::integral_constant<int, 5>{}); break;
    case 6: launch(std::integral_constant<int, 6>{}); break;
    case 7: launch(std::integral_constant<int, 7>{}); break;
    default: launch(std::integral_constant<int, 8>{}); break;
    }
}
static_assert(SLM_CUDA_MV_MAX == 8, "with_tokens covers 1 .. 8 tokens");

/* The product of this block, and this warp's row in it (at or past the matrix's rows: nothing to do).
 * The product is picked with constant indices only, so that the set stays in the kernel's
 * parameters instead of being copied to local memory. */
static __device__ __forceinline__ int mv_row(const mv_set &s, slm_cuda_product *p) {
    int j = 0;
#pragma unroll
    for (int i = 1; i < SLM_CUDA_PRODUCTS; i++)
        if (i < s.count && (int)blockIdx.x >= s.first[i]) j = i;
    *p = s.p[0];
    int first = s.first[0];
#pragma unroll
    for (int i = 1; i < SLM_CUDA_PRODUCTS; i++)
        if (j == i) *p = s.p[i], first = s.first[i];
    return ((int)blockIdx.x - first) * MV_WARPS + (int)(threadIdx.x >> 5);
}

/* The end of a matrix-vector kernel: the warp of row r sums its lanes' partial sums, one per token,
 * and lane 0 writes out[t][r] (+ bias[r]), or adds it to what out holds. */
template <int NT>
static __device__ __forceinline__ void warp_store_row(float (&acc)[NT], const slm_cuda_product &p, int r) {
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = warp_sum(acc[t]);
    if ((threadIdx.x & 31) == 0) {
        const float b = p.bias ? p.bias[r] : 0.0f;
        const int rows = p.W.rows;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float *o = p.out + (size_t)t * rows + r;
            *o = p.add ? *o + (acc[t] + b) : acc[t] + b;
        }
    }
}

#endif
