/* Which build this is: the commit it was built from and the compiler, for `slm --version` and for
 * the results of `slm bench`, so that a figure can be traced to the code that produced it. */
#ifndef SLM_VERSION_H
#define SLM_VERSION_H

/* `git describe --always --dirty` of the tree at build time ("unknown" outside a git checkout). */
const char *slm_build_commit(void);
/* The compiler that built the C sources, e.g. "gcc 12.2.0". */
const char *slm_build_compiler(void);

#endif
