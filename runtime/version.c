#include "version.h"

/* build/commit.h, written by the Makefile whenever the commit changes */
#include "commit.h"

const char *slm_build_commit(void) { return SLM_COMMIT; }

const char *slm_build_compiler(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}
