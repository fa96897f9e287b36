/* Embedding lookup: each token's row of the table, dequantized to float32. */
#include "cuda_layout.h"
#include "cuda_launch.h"
#include "cuda_ops.h"

/* Work split: one block per token (grid.x = n), its threads striding over the row's columns.
 * Rows are independent and a few thousand values long, so a block per row keeps the threads of a
 * warp on consecutive columns (coalesced reads of F32/F16/BF16/Q8_0 rows) with no coordination. */
__global__ void embed_kernel(float *out, slm_mat table, const int *tokens) {
    pdl_wait();
    int t = blockIdx.x, tok = tokens[t];
    float *o = out + (size_t)t * table.cols;
    if (tok < 0 || tok >= table.rows) { /* never read outside the table */
        for (int c = threadIdx.x; c < table.cols; c += blockDim.x) o[c] = __int_as_float(0x7fc00000);
        return;
    }
    for (int c = threadIdx.x; c < table.cols; c += blockDim.x) o[c] = weight_at(table, (size_t)tok, (size_t)c);
}

int slm_cuda_embed(slm_cuda_ctx *c, float *out, const slm_mat *table, const int *tokens, int n) {
    if (c->failed) return -1;
    if (n <= 0) return 0;
    slm_launch(c, embed_kernel, n, 256, 0, out, *table, tokens);
    return CUDA_CHECK_LAUNCH(c, "embed_kernel");
}
