/* A fixed set of worker threads that run one parallel loop at a time.
 * The calling thread takes part as worker 0, so -t 1 means no extra threads. */
#ifndef SLM_THREADPOOL_H
#define SLM_THREADPOOL_H

typedef struct slm_pool slm_pool;

/* fn(ctx, i, n): worker i of n does its share of the job. */
typedef void (*slm_pool_fn)(void *ctx, int i, int n);

slm_pool *slm_pool_create(int nthreads);
void slm_pool_destroy(slm_pool *p);
int slm_pool_size(const slm_pool *p);
/* Runs fn on every worker and returns when all are done. p may be NULL (runs inline as worker 0 of 1). */
void slm_pool_run(slm_pool *p, slm_pool_fn fn, void *ctx);

/* Splits [0, total) into n nearly equal parts, aligned to `align`, and gives part i. */
void slm_split(int total, int align, int i, int n, int *begin, int *end);

#endif
