/* Order statistics of lists of doubles: sorting, and quantiles of a sorted list (runtime/order_stats.c). */
#ifndef SLM_ORDER_STATS_H
#define SLM_ORDER_STATS_H

#include <stddef.h>

/* Sorts v[0..n) ascending; n may be 0 (and v NULL then). */
void slm_sort_doubles(double *v, size_t n);

/* q-quantile of sorted[0..n) with linear interpolation between order statistics
 * (h = (n-1) q; the default of numpy and R type 7). n must be >= 1. */
double slm_quantile(const double *sorted, size_t n, double q);

#endif
