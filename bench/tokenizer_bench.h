/* Tokenizer speed: load time, encode and decode throughput. tools/py/bench_tokenizer_hf.py
 * measures the same on the same text with the Hugging Face `tokenizers` library. */
#ifndef SLM_TOKENIZER_BENCH_H
#define SLM_TOKENIZER_BENCH_H

#include <stddef.h>
#include <stdio.h>

/* Loads DIR/tokenizer.json (best of 3), then encodes the text of text_path, or with NULL a
 * generated text of at least 1 MiB (slm_bench_tokenizer_text), as one string and line by line,
 * decodes the ids back whole and streaming, and prints the figures (best of 3 each) to out.
 * Returns 0, or -1 with slm_error(). */
int slm_bench_tokenizer(const char *dir, const char *text_path, FILE *out);

/* The generated benchmark text: English prose with numbers, code, and some accented, CJK, Cyrillic
 * and emoji words, from a fixed seed, at least min_bytes long. malloc'd, NUL-terminated. The
 * Python benchmark builds the same bytes (both print a hash to show it). */
char *slm_bench_tokenizer_text(size_t min_bytes, size_t *len);

#endif
