#include "cli.h"

int cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    die("'run' is not available in this build yet");
}
