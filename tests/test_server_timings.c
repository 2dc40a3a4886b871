/* test_server_timings.c - the server's own timings per dialect
 * (daemon/server_timings.c) and the server figures of a sample with the
 * clock cross-check (daemon/figures.c), against values computed by hand
 * from JSON as each server sends it. */
#include "daemon/figures.h"
#include "daemon/server_timings.h"
#include "tests/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-9

/* The final chunk's timings of a llama.cpp server stream, fields as
 * result_timings::to_json writes them (tools/server/server-task.cpp). */
#define LLAMACPP_TIMINGS                                                                       \
    "{\"timings\":{\"cache_n\":3000,\"prompt_n\":512,\"prompt_ms\":1234.5,"                    \
    "\"prompt_per_token_ms\":2.41113,\"prompt_per_second\":414.74,"                            \
    "\"predicted_n\":37,\"predicted_ms\":890.0,\"predicted_per_token_ms\":24.05,"              \
    "\"predicted_per_second\":41.573}}"

/* Ollama's final /api/chat object, as docs/api.md of ollama/ollama records
 * it (the "Chat request (with tools)" response): durations in ns. */
static const char ollama_final[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2024-07-22T20:33:28.123648Z\","
    "\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\","
    "\"done\":true,\"total_duration\":885095291,\"load_duration\":3753500,"
    "\"prompt_eval_count\":122,\"prompt_eval_duration\":328493000,"
    "\"eval_count\":33,\"eval_duration\":552222000}";

/* LM Studio's v0 stats (lmstudio-ai/docs 1_developer/2_rest/endpoints.mdx). */
#define LMSTUDIO_V0                                                                            \
    "{\"stats\":{\"tokens_per_second\":51.43709529007664,"                                     \
    "\"time_to_first_token\":0.111,\"generation_time\":0.954,"                                 \
    "\"stop_reason\":\"eosFound\"}}"

TEST(llamacpp_all_fields)
{
    struct server_timings t;

    CHECK_INT(server_timings_parse(LLAMACPP_TIMINGS, 3512, 37, &t), ==, 0);
    CHECK_INT(t.dialect, ==, SERVER_DIALECT_LLAMACPP);
    CHECK_INT(t.bad, ==, 0);
    CHECK_INT(t.cached_tokens, ==, 3000);
    CHECK_NEAR(t.ttft_ms, 1234.5, TOL);
    CHECK_NEAR(t.prompt_tps, 414.74, TOL);
    CHECK_NEAR(t.decode_tps, 41.573, TOL);
    CHECK_INT(t.decode_n, ==, 37);
    CHECK_NEAR(t.decode_ms, 890.0, TOL);
}

/* Without the per-second fields the rates come from the counts and times. */
TEST(llamacpp_rates_derived)
{
    struct server_timings t;
    const char *js = "{\"timings\":{\"prompt_n\":100,\"prompt_ms\":250,"
                     "\"predicted_n\":21,\"predicted_ms\":400}}";

    CHECK_INT(server_timings_parse(js, -1, -1, &t), ==, 0);
    CHECK_NEAR(t.prompt_tps, 400.0, TOL);
    CHECK_NEAR(t.decode_tps, 52.5, TOL);
    CHECK_INT(t.cached_tokens, ==, -1);
    CHECK_INT(t.bad, ==, 0);
}

/* Missing fields stay unknown; wrong types, negatives are unknown and counted. */
TEST(llamacpp_missing_and_malformed)
{
    struct server_timings t;
    const char *js = "{\"timings\":{\"cache_n\":\"12\",\"prompt_n\":-1,\"prompt_ms\":true,"
                     "\"predicted_n\":1.5,\"predicted_ms\":-3,\"predicted_per_second\":null}}";

    CHECK_INT(server_timings_parse(js, -1, -1, &t), ==, 0);
    CHECK_INT(t.bad, ==, 5);
    CHECK_INT(t.cached_tokens, ==, -1);
    CHECK(isnan(t.ttft_ms));
    CHECK(isnan(t.prompt_tps));
    CHECK(isnan(t.decode_tps));
    CHECK_INT(t.decode_n, ==, -1);
    CHECK(isnan(t.decode_ms));
    /* An empty object: a dialect with nothing known. */
    CHECK_INT(server_timings_parse("{\"timings\":{}}", -1, -1, &t), ==, 0);
    CHECK(isnan(t.decode_tps));
    CHECK_INT(t.bad, ==, 0);
    /* timings not an object. */
    CHECK_INT(server_timings_parse("{\"timings\":[1,2]}", -1, -1, &t), ==, -1);
    CHECK(isnan(t.decode_tps));
    /* A zero duration gives no rate, not infinity. */
    CHECK_INT(server_timings_parse("{\"timings\":{\"predicted_n\":5,\"predicted_ms\":0}}", -1,
                                   -1, &t),
              ==, 0);
    CHECK(isnan(t.decode_tps));
}

TEST(ollama_recorded_final_object)
{
    struct server_timings t;
    json_t *root = json_loads(ollama_final, 0, NULL);

    CHECK(root != NULL);
    CHECK_INT(server_timings_ollama(root, &t), ==, 0);
    CHECK_INT(t.dialect, ==, SERVER_DIALECT_OLLAMA);
    CHECK_INT(t.bad, ==, 0);
    CHECK_NEAR(t.ttft_ms, 328.493, TOL);
    CHECK_NEAR(t.prompt_tps, 122 / 0.328493, 1e-6);
    CHECK_NEAR(t.decode_tps, 33 / 0.552222, 1e-6);
    CHECK_INT(t.decode_n, ==, 33);
    CHECK_NEAR(t.decode_ms, 552.222, TOL);
    CHECK_INT(t.cached_tokens, ==, -1); /* Ollama does not report it */
    json_decref(root);
    /* As tpsd stores them (chunk.c keeps the counters at the top level). */
    CHECK_INT(
        server_timings_parse("{\"eval_count\":33,\"eval_duration\":552222000}", -1, -1, &t), ==,
        0);
    CHECK_NEAR(t.decode_tps, 33 / 0.552222, 1e-6);
    CHECK(isnan(t.ttft_ms));
}

TEST(ollama_missing_and_malformed)
{
    struct server_timings t;

    /* None of the counters: not Ollama. */
    CHECK_INT(server_timings_parse("{\"load_duration\":5}", -1, -1, &t), ==, 1);
    CHECK_INT(t.dialect, ==, SERVER_DIALECT_NONE);
    /* A count without its duration: no rate. */
    CHECK_INT(server_timings_parse("{\"eval_count\":33}", -1, -1, &t), ==, 0);
    CHECK(isnan(t.decode_tps));
    CHECK_INT(t.decode_n, ==, 33);
    /* Wrong types are unknown and counted. */
    CHECK_INT(server_timings_parse("{\"eval_count\":\"33\",\"eval_duration\":1e9,"
                                   "\"prompt_eval_duration\":-1}",
                                   -1, -1, &t),
              ==, 0);
    CHECK_INT(t.bad, ==, 2);
    CHECK(isnan(t.decode_tps));
    CHECK(isnan(t.ttft_ms));
    CHECK_INT(server_timings_ollama(json_null(), &t), ==, -1);
}

TEST(lmstudio_v0_stats)
{
    struct server_timings t;

    CHECK_INT(server_timings_parse(LMSTUDIO_V0, 24, 53, &t), ==, 0);
    CHECK_INT(t.dialect, ==, SERVER_DIALECT_LMSTUDIO);
    CHECK_INT(t.bad, ==, 0);
    CHECK_NEAR(t.decode_tps, 51.43709529007664, TOL);
    CHECK_NEAR(t.ttft_ms, 111.0, TOL);
    CHECK_NEAR(t.prompt_tps, 24 / 0.111, 1e-6); /* the usage's prompt tokens */
    CHECK_INT(t.decode_n, ==, 53);              /* the usage's completion tokens */
    CHECK_NEAR(t.decode_ms, 954.0, TOL);
    CHECK_INT(t.cached_tokens, ==, -1);
}

/* The v1 /api/v1/chat names (lmstudio-ai/docs 1_developer/2_rest/chat.md). */
TEST(lmstudio_v1_stats)
{
    struct server_timings t;
    const char *js =
        "{\"stats\":{\"input_tokens\":646,\"total_output_tokens\":586,"
        "\"reasoning_output_tokens\":0,\"tokens_per_second\":29.753900615398926,"
        "\"time_to_first_token_seconds\":1.088,\"model_load_time_seconds\":2.656}}";

    CHECK_INT(server_timings_parse(js, -1, -1, &t), ==, 0);
    CHECK_NEAR(t.decode_tps, 29.753900615398926, TOL);
    CHECK_NEAR(t.ttft_ms, 1088.0, TOL);
    CHECK_NEAR(t.prompt_tps, 646 / 1.088, 1e-6);
    CHECK(isnan(t.decode_ms)); /* v1 gives no generation time */
    CHECK_INT(t.bad, ==, 0);
}

TEST(lmstudio_missing_and_malformed)
{
    struct server_timings t;

    CHECK_INT(
        server_timings_parse("{\"stats\":{\"tokens_per_second\":\"fast\","
                             "\"time_to_first_token\":-0.5,\"stop_reason\":\"eosFound\"}}",
                             10, 10, &t),
        ==, 0);
    CHECK_INT(t.bad, ==, 2);
    CHECK(isnan(t.decode_tps));
    CHECK(isnan(t.ttft_ms));
    CHECK(isnan(t.prompt_tps));
    CHECK_INT(server_timings_parse("{\"stats\":{}}", -1, -1, &t), ==, 0);
    CHECK(isnan(t.decode_tps));
    CHECK_INT(server_timings_parse("{\"stats\":\"n/a\"}", -1, -1, &t), ==, -1);
}

TEST(not_json_or_none)
{
    struct server_timings t;

    CHECK_INT(server_timings_parse(NULL, -1, -1, &t), ==, 1);
    CHECK_INT(server_timings_parse("{}", -1, -1, &t), ==, 1);
    CHECK_INT(server_timings_parse("{not json", -1, -1, &t), ==, -1);
    CHECK_INT(server_timings_parse("[1]", -1, -1, &t), ==, -1);
    CHECK(isnan(t.decode_tps));
    CHECK_INT(t.cached_tokens, ==, -1);
}

/* A sample whose client saw 11 tokens over 1 s (decode_tps 10/s). */
static void
sample11(struct sample_rec *s, const char *stats)
{
    sample_rec_init(s);
    s->ttft_us = 200000;
    s->t_last_us = 1200000;
    s->t_done_us = 1250000;
    s->prompt_tokens = 40;
    s->completion_tokens = 11;
    s->server_stats = stats ? strdup(stats) : NULL;
    figures_compute(s);
}

/* The server's count and span on the client's basis: (11-1)/1.0 s agrees. */
TEST(figures_server_agrees)
{
    struct sample_rec s;

    sample11(&s, "{\"timings\":{\"cache_n\":8,\"prompt_n\":32,\"prompt_ms\":150,"
                 "\"predicted_n\":11,\"predicted_ms\":1000,\"predicted_per_second\":11.0}}");
    CHECK_NEAR(s.decode_tps, 10.0, TOL);
    CHECK_NEAR(s.server_decode_tps, 11.0, TOL); /* as the server states it */
    CHECK_NEAR(s.server_ttft_ms, 150.0, TOL);
    CHECK_NEAR(s.server_prompt_tps, 32 / 0.150, 1e-6);
    CHECK_INT(s.server_cached_tokens, ==, 8);
    CHECK_NEAR(s.server_decode_diff_pct, 0.0, 1e-9);
    CHECK_INT(s.server_clock_mismatch, ==, 0);
    sample_rec_free(&s);
}

/* A server clock 10% slow: its span 0.9 s, its rate 11.1/s on our basis. */
TEST(figures_server_disagrees)
{
    struct sample_rec s;

    sample11(&s, "{\"timings\":{\"predicted_n\":11,\"predicted_ms\":900}}");
    CHECK_NEAR(s.server_decode_diff_pct, (10 / 0.9 - 10.0) / 10.0 * 100, 1e-9);
    CHECK_INT(s.server_clock_mismatch, ==, 1);
    sample_rec_free(&s);
    /* 4% off is within the tolerance. */
    sample11(&s, "{\"timings\":{\"predicted_n\":11,\"predicted_ms\":961.5384615}}");
    CHECK_DBL(fabs(s.server_decode_diff_pct), <, 5);
    CHECK_INT(s.server_clock_mismatch, ==, 0);
    sample_rec_free(&s);
}

/* LM Studio v1 gives only a rate: rebased with the usage's n, (n-1)/n. */
TEST(figures_server_rate_only)
{
    struct sample_rec s;

    sample11(&s, "{\"stats\":{\"tokens_per_second\":11.0}}");
    CHECK_NEAR(s.server_decode_diff_pct, 0.0, 1e-9);
    CHECK_INT(s.server_clock_mismatch, ==, 0);
    sample_rec_free(&s);
    sample11(&s, "{\"stats\":{\"tokens_per_second\":13.2}}");
    CHECK_NEAR(s.server_decode_diff_pct, 20.0, 1e-9);
    CHECK_INT(s.server_clock_mismatch, ==, 1);
    sample_rec_free(&s);
}

/* Without server stats, or with unusable ones, nothing is made up. */
TEST(figures_server_none)
{
    struct sample_rec s;

    sample11(&s, NULL);
    CHECK(isnan(s.server_decode_tps));
    CHECK(isnan(s.server_decode_diff_pct));
    CHECK_INT(s.server_cached_tokens, ==, -1);
    CHECK_INT(s.server_clock_mismatch, ==, 0);
    sample_rec_free(&s);
    sample11(&s, "{broken");
    CHECK(isnan(s.server_decode_tps));
    CHECK_INT(s.server_clock_mismatch, ==, 0);
    CHECK_NEAR(s.decode_tps, 10.0, TOL); /* the client's figures stand */
    sample_rec_free(&s);
}
