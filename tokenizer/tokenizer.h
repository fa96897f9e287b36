/* Hugging Face tokenizer.json tokenizers (BPE models), giving the same ids as the `tokenizers`
 * library: byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM2) and SentencePiece-style BPE with byte
 * fallback (Llama 2, Mistral, Phi-3).
 *
 * A loaded tokenizer is read-only: every function taking a const slm_tokenizer * may be called from
 * several threads at once. Errors return -1 (or NULL) and leave one line in slm_error(). */
#ifndef SLM_TOKENIZER_H
#define SLM_TOKENIZER_H

#include <stddef.h>

typedef struct slm_tokenizer slm_tokenizer;
typedef struct slm_detok_stream slm_detok_stream;

/* Loads DIR/tokenizer.json, plus DIR/tokenizer_config.json, DIR/special_tokens_map.json and
 * DIR/generation_config.json when present (for the bos/eos/unk strings and the stop ids). */
slm_tokenizer *slm_tokenizer_load(const char *dir);
void slm_tokenizer_free(slm_tokenizer *tok);

/* Encodes len bytes of UTF-8 text into a malloc'd array *ids of *n ids (free() it; never NULL on
 * success, even for no ids). add_special: apply the post-processor template (BOS/EOS the way the
 * model was trained: the `add_special_tokens` of the Python library). parse_special: special tokens
 * written in the text become their ids; with 0 they are tokenized as plain text. Added tokens that
 * are not special are always matched, as the Python library does. Invalid UTF-8 is an error that
 * names the byte offset. */
int slm_tokenize(const slm_tokenizer *tok, const char *text, size_t len, int add_special,
                 int parse_special, int **ids, int *n);

/* Decodes n ids into a malloc'd, NUL-terminated string *out of *len bytes (free() it).
 * skip_special drops special tokens. An id outside the vocabulary is an error. */
int slm_detokenize(const slm_tokenizer *tok, const int *ids, int n, int skip_special, char **out,
                   size_t *len);

/* Number of ids: one more than the largest id of the vocabulary and the added tokens. */
int slm_tokenizer_vocab_size(const slm_tokenizer *tok);
/* The id of a token string (added tokens first, then the model vocabulary), or -1. */
int slm_tokenizer_token_id(const slm_tokenizer *tok, const char *piece);
/* The token string of an id as the vocabulary spells it ("Ġthe", "▁the", "<0x0A>", "<s>"), or NULL
 * for an id that has none. Valid as long as the tokenizer. */
const char *slm_tokenizer_piece(const slm_tokenizer *tok, int id);
/* 1 when the id is a special token (dropped by skip_special), else 0. */
int slm_tokenizer_is_special(const slm_tokenizer *tok, int id);

/* Special token strings from tokenizer_config.json / special_tokens_map.json, NULL when not set,
 * and their ids (-1 when not set or not in the vocabulary). The chat template needs the strings. */
const char *slm_tokenizer_bos(const slm_tokenizer *tok);
const char *slm_tokenizer_eos(const slm_tokenizer *tok);
const char *slm_tokenizer_unk(const slm_tokenizer *tok);
const char *slm_tokenizer_pad(const slm_tokenizer *tok);
int slm_tokenizer_bos_id(const slm_tokenizer *tok);
int slm_tokenizer_eos_id(const slm_tokenizer *tok);
int slm_tokenizer_unk_id(const slm_tokenizer *tok);
int slm_tokenizer_pad_id(const slm_tokenizer *tok);

/* Ids that end a turn, for stopping generation: the eos token, the eos_token_id list of
 * generation_config.json, and those of <|eot_id|>, <|eom_id|>, <|end_of_text|>, <|im_end|>, <|end|>,
 * <end_of_turn>, <|endoftext|>, </s>, <eos> found in the vocabulary. Sorted, no duplicates.
 * Returns the count and points *ids at an array owned by the tokenizer. */
int slm_tokenizer_eot_ids(const slm_tokenizer *tok, const int **ids);
int slm_tokenizer_is_eot(const slm_tokenizer *tok, int id);

/* Streaming decode for generation: push ids one at a time and get back the text that is complete.
 * The bytes returned never end inside a UTF-8 character, and the concatenation of everything returned
 * by push and flush is exactly slm_detokenize() of all the ids pushed. *bytes stays valid until the
 * next call on the stream. */
slm_detok_stream *slm_detok_stream_new(const slm_tokenizer *tok, int skip_special);
int slm_detok_stream_push(slm_detok_stream *s, int id, const char **bytes, size_t *len);
/* Returns what is still held back (an unfinished byte sequence, decoded the way slm_detokenize does)
 * and resets the stream to its initial state. */
int slm_detok_stream_flush(slm_detok_stream *s, const char **bytes, size_t *len);
void slm_detok_stream_free(slm_detok_stream *s);

#endif
