/* Dispatch of matrix products to the per-format kernels, and the threading around them. */
#include "matmul.h"

#include "quant.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* Every variant of every format, scalar reference first within a format. */
static const slm_matvec_kernel *const all_variants[SLM_NTYPES][3] = {
    [SLM_F32] = {&slm_mv_f32_scalar, &slm_mv_f32_avx2, &slm_mv_f32_avx512},
    [SLM_F16] = {&slm_mv_f16_scalar, &slm_mv_f16_avx2, &slm_mv_f16_avx512},
    [SLM_BF16] = {&slm_mv_bf16_scalar, &slm_mv_bf16_avx2, &slm_mv_bf16_avx512},
    /* quantized formats */
    [SLM_Q8_0] = {&slm_mv_q8_0_scalar, &slm_mv_q8_0_avx2, &slm_mv_q8_0_avx512},
    [SLM_Q4_0] = {&slm_mv_q4_0_scalar, &slm_mv_q4_0_avx2, &slm_mv_q4_0_avx512},
    [SLM_NF4] = {&slm_mv_nf4_scalar, &slm_mv_nf4_avx2, &slm_mv_nf4_avx512},
    [SLM_Q4_0X8] = {&slm_mv_q4_0x8_scalar, NULL, &slm_mv_q4_0x8_avx512},
    [SLM_NF4X8] = {&slm_mv_nf4x8_scalar, NULL, &slm_mv_nf4x8_avx512},
    [SLM_F16B] = {&slm_mv_f16b_scalar, NULL, &slm_mv_f16b_avx512},
    [SLM_BF16B] = {&slm_mv_bf16b_scalar, NULL, &slm_mv_bf16b_avx512},
};

int slm_regroup_wanted(void) { return slm_isa_best() >= SLM_ISA_AVX512 && slm_cpu()->avx512_vnni; }

int slm_matvec_variants(slm_dtype t, const slm_matvec_kernel **out, int max) {
    int n = 0;
    if ((unsigned)t >= SLM_NTYPES) return 0;
    const slm_cpu_features *f = slm_cpu();
    for (int i = 0; i < 3 && n < max; i++) {
        const slm_matvec_kernel *k = all_variants[t][i];
        if (!k) continue;
        if (k->isa == SLM_ISA_AVX2 && !f->avx2_fma) continue;
        if (k->isa == SLM_ISA_AVX512 && !f->avx512) continue;
        out[n++] = k;
    }
    return n;
}

const slm_matvec_kernel *slm_matvec_best(slm_dtype t) {
    static const slm_matvec_kernel *cache[SLM_NTYPES];
    if ((unsigned)t >= SLM_NTYPES) return NULL;
    if (!cache[t]) {
        const slm_matvec_kernel *v[3];
        int n = slm_matvec_variants(t, v, 3);
        slm_isa cap = slm_isa_best();
        const slm_matvec_kernel *best = NULL;
        for (int i = 0; i < n; i++)
            if (v[i]->isa <= cap) best = v[i];
        cache[t] = best;
    }
    return cache[t];
}

/* Batches at least this long use sgemm on float weights; shorter ones stream the weights per token.
 * Rows are handed out in chunks from a shared counter, so a worker that gets less of the CPU (another
 * process, a slower core) does less of the work instead of holding the others up. */
enum { GEMM_MIN_BATCH = 4, ROW_ALIGN = 16, SHRINK_MIN_BYTES = 128 << 10, SMALL_WORK = 1 << 16 };
static int align_rows_up(int rows) { return (rows + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN; }

/* sgemm packs the whole activation batch again for every tile it is given, so a tile of weights
 * should be tall: 512 rows of a 2048-column matrix ran prompts 5-9% faster than 128. The converted
 * tile is capped at 16 MiB per thread (it is scratch, on top of the weights), and tiles are made
 * smaller when that leaves fewer than two per thread. */
enum { GEMM_TILE_MAX = 512, GEMM_TILE_MIN = 64, GEMM_TILE_BYTES = 16 << 20 };
static int gemm_tile_rows(const slm_mat *W) {
    int rows = GEMM_TILE_BYTES / (W->cols * (int)sizeof(float));
    rows = rows > GEMM_TILE_MAX ? GEMM_TILE_MAX : rows < GEMM_TILE_MIN ? GEMM_TILE_MIN : rows;
    return rows / ROW_ALIGN * ROW_ALIGN;
}
static int gemm_chunk(const slm_mat *W, int nth) {
    int per = (W->rows + 2 * nth - 1) / (2 * nth), max = gemm_tile_rows(W);
    per = align_rows_up(per);
    return per > max ? max : per < GEMM_TILE_MIN ? GEMM_TILE_MIN : per;
}

static int is_float(slm_dtype t) { return t == SLM_F32 || t == SLM_F16 || t == SLM_BF16; }

/* Q8_0, Q4_0 and NF4 batches of at least INT8_MIN_BATCH tokens go through the repacked int8 kernel when
 * the CPU has AVX-512 VNNI; shorter ones run the matvec kernel per token (bit for bit a lone decode step).
 * For NF4 it replaced sgemm on dequantized tiles: pp512 of Llama-3.2-1B went from 42.9 to about 130 tok/s on
 * one Zen 4 core. */
enum { INT8_MIN_BATCH = 16 };
static int use_int8(const slm_mat *W, int n) {
    const slm_matvec_kernel *k = slm_matvec_best(W->type);
    if (n < INT8_MIN_BATCH || !slm_cpu()->avx512_vnni) return 0;
    return k == &slm_mv_q8_0_avx512 || k == &slm_mv_q4_0_avx512 || k == &slm_mv_q4_0x8_avx512 ||
           ((k == &slm_mv_nf4_avx512 || k == &slm_mv_nf4x8_avx512) && slm_gemm_int8_nf4_ok(W));
}

/* F16 and BF16 batches on AVX-512 go through a kernel that widens the weights as it reads them
 * (matmul_half_avx512.c): pp512 of Llama-3.2-1B F16 went from 85 to about 95 GFLOP/s on one Zen 4 core,
 * as sgemm spent a tenth of its time packing the converted tiles and the activations. Chunks of
 * HALF_ROWS rows, so that the activations of a token block stay in cache over many rows.
 *
 * Each chunk reads the whole batch of activations once. Up to HALF_X_BYTES of them (512 tokens of 2048
 * floats) stay in the last-level cache from one chunk to the next; the down projection's (512 tokens of
 * 8192) did not, and it ran 10-13% below the other shapes at 1 thread. Its chunks are made taller in
 * proportion, so that it reads them a quarter as often: 1-5% below the others, and pp512 of
 * Llama-3.2-1B F16 2-10% faster (bench/RESULTS.md). */
enum { HALF_ROWS = 64, HALF_X_BYTES = 4 << 20, HALF_ROWS_MAX = 4 * HALF_ROWS };
static int half_chunk(const slm_mat *W, int n) {
    size_t x = (size_t)n * (size_t)W->cols * sizeof(float);
    size_t rows = HALF_ROWS * ((x + HALF_X_BYTES - 1) / HALF_X_BYTES);
    return rows < HALF_ROWS ? HALF_ROWS : rows > HALF_ROWS_MAX ? HALF_ROWS_MAX : (int)rows;
}
static int use_half(const slm_mat *W, int n) {
    const slm_matvec_kernel *k = slm_matvec_best(W->type);
    return n >= GEMM_MIN_BATCH && (k == &slm_mv_f16_avx512 || k == &slm_mv_bf16_avx512 || k == &slm_mv_f16b_avx512 ||
                                   k == &slm_mv_bf16b_avx512);
}

/* Other NF4 batches go through sgemm too, on dequantized tiles, once they are long enough to repay the
 * dequantization (it costs more than converting F16). */
enum { NF4_GEMM_MIN_BATCH = 16 };
static int use_gemm(const slm_mat *W, int n) {
    if (use_half(W, n)) return 0;
    return (n >= GEMM_MIN_BATCH && is_float(W->type)) || (n >= NF4_GEMM_MIN_BATCH && W->type == SLM_NF4 && !use_int8(W, n));
}

static size_t align64(size_t b) { return (b + 63) & ~(size_t)63; }

static size_t prep_stride(const slm_mat *W) {
    const slm_matvec_kernel *k = slm_matvec_best(W->type);
    return k && k->prep_bytes ? align64(k->prep_bytes(W->cols)) : 0;
}

/* Scratch is one part shared by the workers (the int8 path's prepared activations and their block sums)
 * and one per worker (its repacked chunk of rows). The int8 path prepares activations as the Q8_0
 * kernels do, whatever the weights' format. */
static size_t int8_stride(const slm_mat *W) { return align64(slm_act_q8_bytes(W->cols)); }
static size_t int8_sums_bytes(const slm_mat *W, int n) { return align64((size_t)n * (size_t)(W->cols / SLM_QK) * sizeof(int32_t)); }
static size_t shared_scratch(const slm_mat *W, int n) {
    return use_int8(W, n) ? int8_stride(W) * (size_t)n + int8_sums_bytes(W, n) : 0;
}

static size_t per_thread_scratch(const slm_mat *W, int n) {
    if (use_gemm(W, n)) return align64((size_t)gemm_tile_rows(W) * (size_t)W->cols * sizeof(float));
    if (use_int8(W, n)) return align64(slm_gemm_int8_pack_bytes(W->cols));
    return prep_stride(W) * (size_t)n;
}

size_t slm_matmul_scratch_bytes(const slm_mat *W, int n, int nthreads) {
    return shared_scratch(W, n) + per_thread_scratch(W, n) * (size_t)(nthreads < 1 ? 1 : nthreads) + 64;
}

void slm_mat_row(const slm_mat *W, int r, float *dst) {
    size_t c = (size_t)W->cols;
    switch (W->type) {
    case SLM_F32: memcpy(dst, (const float *)W->data + (size_t)r * c, c * sizeof(float)); break;
    case SLM_F16: {
        const uint16_t *s = (const uint16_t *)W->data + (size_t)r * c;
        for (size_t i = 0; i < c; i++) dst[i] = slm_f16_to_f32(s[i]);
        break;
    }
    case SLM_BF16: {
        const uint16_t *s = (const uint16_t *)W->data + (size_t)r * c;
        for (size_t i = 0; i < c; i++) dst[i] = slm_bf16_to_f32(s[i]);
        break;
    }
    case SLM_F16B:
    case SLM_BF16B: {
        const uint16_t *s = W->data;
        for (int i = 0; i < W->cols; i++) {
            uint16_t h = s[slm_col_block_at(W->rows, W->cols, r, i)];
            dst[i] = W->type == SLM_F16B ? slm_f16_to_f32(h) : slm_bf16_to_f32(h);
        }
        break;
    }
    case SLM_Q8_0:
    case SLM_Q4_0:
    case SLM_Q4_0X8:
    case SLM_NF4:
    case SLM_NF4X8: slm_quant_row(W, r, dst); break;
    default: memset(dst, 0, c * sizeof(float)); break;
    }
}

void slm_float_rows(float *dst, const slm_mat *W, int r0, int r1) {
    slm_isa isa = slm_isa_best();
    if (isa >= SLM_ISA_AVX512 && slm_cpu()->avx512) slm_float_rows_avx512(dst, W, r0, r1);
    else if (isa >= SLM_ISA_AVX2 && slm_cpu()->avx2_fma) slm_float_rows_avx2(dst, W, r0, r1);
    else slm_float_rows_scalar(dst, W, r0, r1);
}

typedef struct {
    float *out;
    const float *x;
    int n;
    const slm_mat *W;
    const float *bias;
    const slm_matvec_kernel *k;
    char *shared;  /* scratch all workers share */
    char *scratch; /* then scratch_each bytes per worker */
    size_t scratch_each;
    int chunk;       /* rows per chunk; with shrink, the smallest chunk */
    atomic_int next; /* the next chunk to take; with shrink, the next row */
    int shrink;      /* the number of workers, when chunks shrink as the rows run out (decode); else 0 */
} matmul_job;

static void add_bias(float *out, const float *bias, int r0, int r1) {
    for (int r = r0; r < r1; r++) out[r] += bias[r];
}

/* The next chunk [*r0, *r1) of rows; 0 when all are taken. Shrinking chunks are a share of the rows left
 * (SHRINK_SHARE per worker, whole ROW_ALIGN multiples, at least j->chunk): long row streams at first,
 * and at the end a short chunk, so that the workers finish close together. */
enum { SHRINK_SHARE = 2 };
static int take(matmul_job *j, int *r0, int *r1) {
    if (j->shrink) {
        int rows = j->W->rows, at = atomic_load_explicit(&j->next, memory_order_relaxed), n;
        do {
            if (at >= rows) return 0;
            n = align_rows_up((rows - at) / (SHRINK_SHARE * j->shrink));
            if (n < j->chunk) n = j->chunk;
            if (n > rows - at) n = rows - at;
        } while (!atomic_compare_exchange_weak_explicit(&j->next, &at, at + n, memory_order_relaxed, memory_order_relaxed));
        *r0 = at;
        *r1 = at + n;
        return 1;
    }
    int c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    long long b = (long long)c * j->chunk;
    if (b >= j->W->rows) return 0;
    *r0 = (int)b;
    *r1 = b + j->chunk < j->W->rows ? (int)b + j->chunk : j->W->rows;
    return 1;
}

static void gemm_worker(void *ctx, int i, int nth) {
    matmul_job *j = ctx;
    const slm_mat *W = j->W;
    int r0, r1, cols = W->cols;
    float *tile = (float *)(j->scratch + (size_t)i * j->scratch_each);
    while (take(j, &r0, &r1)) {
        const float *w;
        if (W->type == SLM_F32) {
            w = (const float *)W->data + (size_t)r0 * cols;
        } else {
            slm_float_rows(tile, W, r0, r1);
            w = tile;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, r1 - r0, cols, 1.0f, j->x, cols, w, cols, 0.0f,
                    j->out + r0, W->rows);
        if (j->bias)
            for (int t = 0; t < j->n; t++) add_bias(j->out + (size_t)t * W->rows, j->bias, r0, r1);
    }
}

/* Rows at a time small enough that a chunk of weights stays in cache while every token of the batch
 * passes over it. */
enum { ROW_BLOCK = 16 };

static void matvec_worker(void *ctx, int i, int nth) {
    matmul_job *j = ctx;
    const slm_mat *W = j->W;
    const slm_matvec_kernel *k = j->k;
    int r0, r1, cols = W->cols;
    size_t pb = k->prep_bytes ? align64(k->prep_bytes(cols)) : 0;
    char *prep = j->scratch + (size_t)i * j->scratch_each;
    if (pb)
        for (int t = 0; t < j->n; t++) k->prep(prep + (size_t)t * pb, j->x + (size_t)t * cols, cols);
    while (take(j, &r0, &r1)) {
        if (j->n == 1) {
            k->rows(j->out, W, j->x, pb ? prep : NULL, r0, r1);
            if (j->bias) add_bias(j->out, j->bias, r0, r1);
            continue;
        }
        for (int r = r0; r < r1; r += ROW_BLOCK) {
            int re = r + ROW_BLOCK < r1 ? r + ROW_BLOCK : r1;
            for (int t = 0; t < j->n; t++) {
                float *y = j->out + (size_t)t * W->rows;
                k->rows(y, W, j->x + (size_t)t * cols, pb ? prep + (size_t)t * pb : NULL, r, re);
                if (j->bias) add_bias(y, j->bias, r, re);
            }
        }
    }
}

static void half_worker(void *ctx, int i, int nth) {
    matmul_job *j = ctx;
    int r0, r1;
    while (take(j, &r0, &r1)) {
        slm_gemm_half_avx512(j->out, (size_t)j->W->rows, j->W, j->x, j->n, r0, r1);
        if (j->bias)
            for (int t = 0; t < j->n; t++) add_bias(j->out + (size_t)t * j->W->rows, j->bias, r0, r1);
    }
}

/* The int8 path: the activations are prepared once, split over the workers, then the row chunks run. */
static int32_t *int8_sums(matmul_job *j) { return (int32_t *)(j->shared + int8_stride(j->W) * (size_t)j->n); }

static void int8_prep_worker(void *ctx, int i, int nth) {
    matmul_job *j = ctx;
    int t0, t1, cols = j->W->cols;
    size_t pb = int8_stride(j->W);
    slm_split(j->n, 1, i, nth, &t0, &t1);
    for (int t = t0; t < t1; t++) {
        slm_act_q8_quantize_avx512(j->shared + (size_t)t * pb, j->x + (size_t)t * cols, cols);
        slm_gemm_int8_sums(int8_sums(j) + (size_t)t * (cols / SLM_QK), j->shared + (size_t)t * pb, cols);
    }
}

static void int8_worker(void *ctx, int i, int nth) {
    matmul_job *j = ctx;
    int r0, r1;
    size_t pb = int8_stride(j->W);
    while (take(j, &r0, &r1)) {
        slm_gemm_int8_avx512(j->out, (size_t)j->W->rows, j->W, j->shared, pb, int8_sums(j), j->n, r0, r1,
                             j->scratch + (size_t)i * j->scratch_each);
        if (j->bias)
            for (int t = 0; t < j->n; t++) add_bias(j->out + (size_t)t * j->W->rows, j->bias, r0, r1);
    }
}

void slm_matmul(slm_pool *pool, float *out, const float *x, int n, const slm_mat *W, const float *bias, void *scratch) {
    matmul_job j = {out, x, n, W, bias, slm_matvec_best(W->type), NULL, NULL, per_thread_scratch(W, n), 0, 0, 0};
    j.shared = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    j.scratch = j.shared + shared_scratch(W, n);
    int gemm = use_gemm(W, n), nth = slm_pool_size(pool);
    int small = (size_t)W->rows * (size_t)W->cols * (size_t)n < SMALL_WORK;
    if (use_int8(W, n)) {
        j.chunk = SLM_GEMM_INT8_ROWS;
        if (small) {
            int8_prep_worker(&j, 0, 1);
            int8_worker(&j, 0, 1);
        } else {
            slm_pool_run(pool, int8_prep_worker, &j);
            slm_pool_run(pool, int8_worker, &j);
        }
        return;
    }
    if (use_half(W, n)) {
        j.chunk = half_chunk(W, n);
        if (small) half_worker(&j, 0, 1);
        else slm_pool_run(pool, half_worker, &j);
        return;
    }
    slm_pool_fn fn = gemm ? gemm_worker : matvec_worker;
    if (gemm) {
        j.chunk = gemm_chunk(W, nth);
    } else if (nth > 1) {
        /* Chunks of a fixed quarter of a worker's share left one worker waiting for the other's last
         * chunk: 3.6% of F16 decode's time at 2 threads went to the pool's wait (perf), 0.9% with shrinking
         * chunks. The smallest is SHRINK_MIN_BYTES of weights, so that the kernels' two or four row streams
         * in it are still 32 KiB or more each. */
        j.shrink = nth;
        size_t row_bytes = slm_dtype_bytes(W->type, 1, (size_t)W->cols);
        j.chunk = align_rows_up(row_bytes ? (int)((SHRINK_MIN_BYTES + row_bytes - 1) / row_bytes) : 1);
    } else {
        /* A lone worker takes the matrix whole: the kernels read a chunk as streams (rows half or a
         * quarter of its range apart), and on SmolLM2-135M four chunks made them 2-3 times too short, 7-12% of
         * decode speed. */
        j.chunk = W->rows;
    }
    /* Waking the other workers costs more than a tiny product takes. */
    if (small) fn(&j, 0, 1);
    else slm_pool_run(pool, fn, &j);
}
