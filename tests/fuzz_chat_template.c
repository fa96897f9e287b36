/* libFuzzer harness for chat templates, built and run by `make fuzz` (tests/fuzz.sh); the real templates
 * in ../shared/chat-templates seed its corpus.
 *
 * The input is the template source. It is rendered with a conversation that has a system prompt, a
 * tool call and its result, and a tool schema, so templates reach their tool and role branches. It must
 * render or fail with a one-line error naming the template, never crash, hang or leave the message empty. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../tokenizer/chat.h"

static const char *messages =
    "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
    " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\","
    "   \"function\": {\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}}]},"
    " {\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"18 C\"},"
    " {\"role\": \"assistant\", \"content\": \"18 degrees.\"},"
    " {\"role\": \"user\", \"content\": \"Thanks \\u00e9\"}]";

static const char *tools =
    "[{\"type\": \"function\", \"function\": {\"name\": \"weather\", \"description\": \"Current weather\","
    " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}},"
    " \"required\": [\"city\"]}}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = 0;
    struct tm now = {.tm_year = 124, .tm_mon = 6, .tm_mday = 26, .tm_hour = 12};
    slm_chat_request req = {.messages_json = messages, .tools_json = size % 2 ? tools : NULL,
                            .add_generation_prompt = 1, .bos_token = "<s>", .eos_token = "</s>", .now = &now};
    char *out = slm_chat_render_request(src, &req);
    fuzz_check_error(out ? 0 : -1, "chat template");
    free(out);
    free(src);
    return 0;
}
