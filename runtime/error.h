/* Error reporting: library code returns -1 (or NULL) and leaves one line here.
 * Only the CLI prints it and exits. */
#ifndef SLM_ERROR_H
#define SLM_ERROR_H

/* Records a printf-style message (the last one wins) and returns -1. */
int slm_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last message recorded on this thread ("" when none). */
const char *slm_error(void);

#endif
