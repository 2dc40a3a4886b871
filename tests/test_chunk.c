/* test_chunk.c - decoding chat.completion.chunk events. */
#include "daemon/chunk.h"
#include "tests/check.h"

#include <string.h>

static int
decode(struct chunk *c, const char *s)
{
    return chunk_decode(c, s, strlen(s));
}

TEST(done)
{
    struct chunk c;

    CHECK_INT(decode(&c, "[DONE]"), ==, 0);
    CHECK(c.is_done);
    CHECK(c.root == NULL);
    chunk_release(&c);
    CHECK_INT(decode(&c, " [DONE]\r\n"), ==, 0);
    CHECK(c.is_done);
    chunk_release(&c);
    CHECK_INT(decode(&c, "[DONE]x"), ==, -1);
    CHECK(!c.is_done);
}

TEST(openai_stream)
{
    struct chunk c;

    /* First chunk: role only, empty content. */
    CHECK_INT(decode(&c, "{\"id\":\"chatcmpl-AB\",\"object\":\"chat.completion.chunk\","
                         "\"created\":1700000000,\"model\":\"gpt-4o-mini\","
                         "\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,"
                         "\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
                         "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}"),
              ==, 0);
    CHECK(c.has_choice);
    CHECK(c.role_only);
    CHECK_STR(c.role, "assistant");
    CHECK(!chunk_has_text(&c));
    CHECK_STR(c.model, "gpt-4o-mini");
    CHECK(c.finish_reason == NULL);
    CHECK(!c.has_usage);
    CHECK_INT(c.completion_tokens, ==, -1);
    CHECK(c.server_stats == NULL);
    CHECK_INT(c.type_errors, ==, 0);
    chunk_release(&c);

    CHECK_INT(decode(&c, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
                         "\"finish_reason\":null}]}"),
              ==, 0);
    CHECK(chunk_has_text(&c));
    CHECK(!c.role_only);
    CHECK_INT(c.content_len, ==, 5);
    CHECK_STR(c.content, "Hello");
    chunk_release(&c);

    CHECK_INT(
        decode(&c, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"), ==,
        0);
    CHECK_STR(c.finish_reason, "stop");
    CHECK(!chunk_has_text(&c));
    CHECK(!c.role_only);
    chunk_release(&c);

    /* The usage-only chunk of stream_options.include_usage. */
    CHECK_INT(decode(&c,
                     "{\"id\":\"chatcmpl-AB\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,"
                     "\"completion_tokens\":10,\"total_tokens\":29,"
                     "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                     "\"completion_tokens_details\":{\"reasoning_tokens\":4}}}"),
              ==, 0);
    CHECK(!c.has_choice);
    CHECK(c.has_usage);
    CHECK_INT(c.prompt_tokens, ==, 19);
    CHECK_INT(c.completion_tokens, ==, 10);
    CHECK_INT(c.reasoning_tokens, ==, 4);
    chunk_release(&c);
    chunk_release(&c); /* twice is harmless */
}

TEST(lmstudio_reasoning)
{
    struct chunk c;

    CHECK_INT(
        decode(&c,
               "{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\","
               "\"model\":\"qwen/qwen3-30b-a3b\",\"system_fingerprint\":\"qwen/qwen3-30b-a3b\","
               "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
               "\"reasoning_content\":\"Okay, the user\"},\"logprobs\":null,"
               "\"finish_reason\":null}]}"),
        ==, 0);
    CHECK(chunk_has_text(&c));
    CHECK(!c.role_only);
    CHECK(c.content == NULL);
    CHECK_STR(c.reasoning, "Okay, the user");
    CHECK_INT(c.reasoning_len, ==, 14);
    chunk_release(&c);

    /* `reasoning` (Ollama, OpenRouter, newer LM Studio). */
    CHECK_INT(
        decode(&c, "{\"choices\":[{\"delta\":{\"content\":\"\",\"reasoning\":\"Hmm\"}}]}"), ==,
        0);
    CHECK_STR(c.reasoning, "Hmm");
    CHECK(chunk_has_text(&c));
    chunk_release(&c);

    /* An empty reasoning_content falls back to reasoning. */
    CHECK_INT(
        decode(&c,
               "{\"choices\":[{\"delta\":{\"reasoning_content\":\"\",\"reasoning\":\"r\"}}]}"),
        ==, 0);
    CHECK_STR(c.reasoning, "r");
    chunk_release(&c);

    /* Both empty: no text. */
    CHECK_INT(decode(&c, "{\"choices\":[{\"delta\":{\"reasoning_content\":\"\"}}]}"), ==, 0);
    CHECK(!chunk_has_text(&c));
    chunk_release(&c);
}

TEST(lmstudio_v0_stats)
{
    struct chunk c;
    json_t *st;

    CHECK_INT(
        decode(&c,
               "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"m\","
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
               "\"content\":\"Hi there\"},\"finish_reason\":\"stop\"}],"
               "\"usage\":{\"prompt_tokens\":24,\"completion_tokens\":53,\"total_tokens\":77},"
               "\"stats\":{\"tokens_per_second\":51.43,\"time_to_first_token\":0.111,"
               "\"generation_time\":0.954,\"stop_reason\":\"eosFound\"},"
               "\"model_info\":{\"arch\":\"llama\",\"quant\":\"Q4_K_M\"}}"),
        ==, 0);
    CHECK_STR(c.content, "Hi there");
    CHECK_STR(c.finish_reason, "stop");
    CHECK_INT(c.completion_tokens, ==, 53);
    CHECK_INT(c.reasoning_tokens, ==, -1);
    CHECK(c.server_stats != NULL);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(c.server_stats, "stats"), "stop_reason")),
              "eosFound");
    st = chunk_take_stats(&c);
    CHECK(c.server_stats == NULL);
    chunk_release(&c);
    /* The taken object outlives the chunk. */
    CHECK_NEAR(
        json_real_value(json_object_get(json_object_get(st, "stats"), "tokens_per_second")),
        51.43, 1e-9);
    json_decref(st);
}

TEST(llamacpp_timings)
{
    struct chunk c;
    json_t *t;

    CHECK_INT(
        decode(&c,
               "{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],"
               "\"created\":1,\"id\":\"x\",\"model\":\"gpt-3.5-turbo\","
               "\"object\":\"chat.completion.chunk\","
               "\"usage\":{\"completion_tokens\":12,\"prompt_tokens\":8,\"total_tokens\":20},"
               "\"timings\":{\"prompt_n\":8,\"prompt_ms\":30.5,\"prompt_per_token_ms\":3.8,"
               "\"prompt_per_second\":262.3,\"predicted_n\":12,\"predicted_ms\":240.1,"
               "\"predicted_per_token_ms\":20.0,\"predicted_per_second\":49.97}}"),
        ==, 0);
    t = json_object_get(c.server_stats, "timings");
    CHECK(json_is_object(t));
    CHECK_INT(json_integer_value(json_object_get(t, "predicted_n")), ==, 12);
    CHECK_NEAR(json_real_value(json_object_get(t, "predicted_per_second")), 49.97, 1e-9);
    CHECK_INT(c.prompt_tokens, ==, 8);
    chunk_release(&c);
}

TEST(ollama_counts)
{
    struct chunk c;

    CHECK_INT(decode(&c, "{\"model\":\"llama3\",\"done\":true,\"eval_count\":290,"
                         "\"eval_duration\":4709213000,\"prompt_eval_count\":26,"
                         "\"prompt_eval_duration\":130079000,\"total_duration\":5043500667,"
                         "\"load_duration\":\"soon\"}"),
              ==, 0);
    CHECK(c.server_stats != NULL);
    CHECK_INT(json_integer_value(json_object_get(c.server_stats, "eval_count")), ==, 290);
    CHECK_INT(json_integer_value(json_object_get(c.server_stats, "eval_duration")), ==,
              4709213000LL);
    CHECK(json_object_get(c.server_stats, "load_duration") == NULL); /* wrong type */
    CHECK_INT(c.type_errors, ==, 1);
    CHECK(!c.has_choice);
    chunk_release(&c);
}

TEST(error_objects)
{
    struct chunk c;

    CHECK_INT(decode(&c,
                     "{\"error\":{\"message\":\"Model unloaded.\",\"type\":\"server_error\","
                     "\"param\":null,\"code\":\"model_not_found\"}}"),
              ==, 0);
    CHECK(c.is_error);
    CHECK_STR(c.error_message, "Model unloaded.");
    CHECK_STR(c.error_type, "server_error");
    CHECK_STR(c.error_code, "model_not_found");
    CHECK(json_is_object(c.error));
    chunk_release(&c);

    /* llama.cpp: numeric code. */
    CHECK_INT(decode(&c, "{\"error\":{\"code\":500,\"message\":\"context shift disabled\","
                         "\"type\":\"server_error\"}}"),
              ==, 0);
    CHECK(c.is_error);
    CHECK(c.error_code == NULL);
    CHECK_INT(json_integer_value(json_object_get(c.error, "code")), ==, 500);
    chunk_release(&c);

    /* A bare string. */
    CHECK_INT(decode(&c, "{\"error\":\"Unexpected endpoint or method.\"}"), ==, 0);
    CHECK(c.is_error);
    CHECK_STR(c.error_message, "Unexpected endpoint or method.");
    chunk_release(&c);

    /* null is no error. */
    CHECK_INT(decode(&c, "{\"error\":null,\"choices\":[]}"), ==, 0);
    CHECK(!c.is_error);
    chunk_release(&c);
}

TEST(malformed)
{
    struct chunk c;

    CHECK_INT(decode(&c, ""), ==, -1);
    CHECK(c.reason[0] != '\0');
    CHECK_INT(decode(&c, "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]"), ==, -1);
    CHECK(strstr(c.reason, "invalid JSON") != NULL);
    CHECK(c.root == NULL);
    CHECK_INT(decode(&c, "[1,2]"), ==, -1);
    CHECK_STR(c.reason, "not a JSON object");
    CHECK_INT(decode(&c, "\"str\""), ==, -1);
    CHECK_INT(decode(&c, "42"), ==, -1);
    /* A trailing second value is refused. */
    CHECK_INT(decode(&c, "{} {}"), ==, -1);
    chunk_release(&c);
}

TEST(wrong_types)
{
    struct chunk c;
    static const char *const cases[] = {
        "{\"choices\":{\"delta\":{\"content\":\"x\"}}}",
        "{\"choices\":\"x\"}",
        "{\"choices\":[42]}",
        "{\"choices\":[{\"delta\":\"text\"}]}",
        "{\"choices\":[{\"delta\":{\"content\":42}}]}",
        "{\"choices\":[{\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}}]}",
        "{\"choices\":[{\"delta\":{\"role\":7,\"reasoning_content\":{}}}]}",
        "{\"choices\":[{\"delta\":{\"reasoning\":true}}]}",
        "{\"choices\":[{\"delta\":{},\"finish_reason\":1}]}",
        "{\"model\":[],\"usage\":[]}",
        "{\"usage\":{\"prompt_tokens\":\"12\",\"completion_tokens\":-3}}",
        "{\"usage\":{\"completion_tokens\":1.5,\"completion_tokens_details\":7}}",
        "{\"usage\":{\"completion_tokens_details\":{\"reasoning_tokens\":null}}}",
        "{\"stats\":5,\"timings\":\"fast\"}",
        "{\"error\":42}",
        "{\"error\":{\"message\":1,\"type\":[],\"code\":{}}}",
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(decode(&c, cases[i]), ==, 0);
        CHECK(!chunk_has_text(&c));
        CHECK(c.content == NULL || c.content_len == 0);
        CHECK(c.finish_reason == NULL);
        CHECK(c.model == NULL);
        CHECK(c.server_stats == NULL);
        CHECK(c.role == NULL);
        CHECK_INT(c.prompt_tokens, ==, -1);
        CHECK_INT(c.completion_tokens, ==, -1);
        CHECK_INT(c.reasoning_tokens, ==, -1);
        if (i != 12)
            CHECK_INT(c.type_errors * 100 + (int)i, >=, 100);
        chunk_release(&c);
    }
    /* Integral reals are accepted as counts. */
    CHECK_INT(decode(&c, "{\"usage\":{\"completion_tokens\":12.0}}"), ==, 0);
    CHECK_INT(c.completion_tokens, ==, 12);
    chunk_release(&c);
}

TEST(embedded_nul_and_legacy_text)
{
    struct chunk c;
    static const char s[] = "{\"choices\":[{\"delta\":{\"content\":\"a\\u0000b\"}}]}";

    CHECK_INT(chunk_decode(&c, s, sizeof(s) - 1), ==, 0);
    CHECK_INT(c.content_len, ==, 3);
    CHECK(memcmp(c.content, "a\0b", 3) == 0);
    chunk_release(&c);
    /* Not NUL-terminated input: only len bytes are read. */
    CHECK_INT(chunk_decode(&c, "{\"choices\":[{\"text\":\"t\"}]}garbage", 26), ==, 0);
    CHECK_STR(c.content, "t");
    chunk_release(&c);
}
