/* Rotary position embeddings, Hugging Face convention: element i pairs with i + rot/2 (rotate_half). */
#ifndef SLM_ROPE_H
#define SLM_ROPE_H

/* Fills cos/sin tables [n][rot/2] for positions pos0..pos0+n-1 from inv_freq[rot/2]. */
void slm_rope_table(float *cos_t, float *sin_t, const float *inv_freq, int rot, int pos0, int n);
/* Rotates the first rot elements of each of the heads of n rows (row stride heads*head_dim). */
void slm_rope(float *x, const float *cos_t, const float *sin_t, int n, int heads, int head_dim, int rot);

#endif
