/*
 * test_depth.c - long context: tpsd-sim's depth model (prompt counting,
 * prefill and decode cost growing with the context, the prompt cache, a
 * prompt beyond the loaded context), and tpsd's depth sweeps against it:
 * calibration, prompt sizes, speeds within 1% of the sim's schedule, the
 * preflight refusal and the first-token deadline that grows with the
 * prompt.
 *
 * The sim's figures checked here come from its formulas (tests/sim/
 * sim_chat.c's top comment), written out again below (sched_*), so that a
 * change to either side shows. The last cases test daemon/depth.c alone.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "daemon/depth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX (2 * 1024 * 1024)
#define TPL_MSG 5 /* the sim's ChatML tokens per message */
#define TPL_GEN 3 /* and for the generation prompt */

static struct tu_sim sim;

/* ---- the sim's schedule, from its documented formulas ---- */

/* Prefill of positions [c, p) in ms. */
static double
sched_prefill_ms(double ptps, double half, long c, long p)
{
    double s = 0;
    long i;

    for (i = c; i < p; i++)
        s += (1.0 + (half > 0 ? (double)i / half : 0)) / ptps;
    return s * 1e3;
}

/* Decode span (first to last token) of n tokens after a prompt of p, ms. */
static double
sched_decode_ms(double tps, double half, long p, long n)
{
    double s = 0;
    long k;

    for (k = 0; k + 1 < n; k++)
        s += (1.0 + (half > 0 ? (double)(p + k) / half : 0)) / tps;
    return s * 1e3;
}

/* A chat body: one user message of `text_bytes` bytes of "abcd...". */
static char *
chat_body(const char *model, size_t text_bytes, const char *prefix, int stream, int max_tokens)
{
    char *text = malloc(text_bytes + 1), *body = malloc(BODY_MAX);
    size_t i, pl = strlen(prefix);

    CHECK(text != NULL && body != NULL);
    for (i = 0; i < text_bytes; i++)
        text[i] = i < pl ? prefix[i] : (char)('a' + i % 26);
    text[text_bytes] = '\0';
    CHECK(snprintf(body, BODY_MAX,
                   "{\"model\":\"%s\",\"stream\":%s,\"max_tokens\":%d,"
                   "\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                   model, stream ? "true" : "false", max_tokens, text) < BODY_MAX);
    free(text);
    return body;
}

static json_t *
chat(const char *body, long want_status)
{
    json_t *resp = NULL;

    CHECK_INT(tu_sim_call(&sim, "POST", "/v1/chat/completions", body, &resp), ==, want_status);
    CHECK(resp != NULL);
    return resp;
}

static double
num(const json_t *o, const char *a, const char *b)
{
    const json_t *v = json_object_get(json_object_get(o, a), b);

    CHECK(json_is_number(v));
    return json_number_value(v);
}

#define SIM_DEPTH_MODEL                                                                        \
    "{\"key\":\"d\",\"ttft_ms\":10,\"tps\":100,\"prefill_tps\":20000,"                         \
    "\"prefill_half_ctx\":1000,\"decode_half_ctx\":500,\"chars_per_token\":4,"                 \
    "\"timings\":\"llamacpp\",\"prompt_cache\":true,\"max_context_length\":65536}"

/* usage.prompt_tokens counts the templated prompt: 400 bytes of text at 4
 * characters a token, plus the template's tokens; a system message adds
 * its own. */
TEST(sim_counts_prompt_like_server)
{
    json_t *r;
    char *b;

    CHECK_INT(tu_sim_start("{\"models\":[" SIM_DEPTH_MODEL "],\"loaded\":[\"d\"]}", &sim), ==,
              0);
    b = chat_body("d", 400, "x", 0, 1);
    r = chat(b, 200);
    CHECK_INT(num(r, "usage", "prompt_tokens"), ==, 100 + TPL_MSG + TPL_GEN);
    json_decref(r);
    free(b);
    r = chat("{\"model\":\"d\",\"max_tokens\":1,\"messages\":["
             "{\"role\":\"system\",\"content\":\"12345678\"},"
             "{\"role\":\"user\",\"content\":\"1234567\"}]}",
             200);
    CHECK_INT(num(r, "usage", "prompt_tokens"), ==, 2 + 1 + 2 * TPL_MSG + TPL_GEN);
    json_decref(r);
    tu_sim_stop(&sim);
}

/* The server's timings follow the depth schedule exactly (they are the
 * sim's unjittered schedule): prompt_ms = ttft_ms + the prefill of every
 * position, predicted_ms the decode span at a context that grows. */
TEST(sim_schedule_grows_with_depth)
{
    long sizes[] = {0, 2000, 8000}, p, n = 16;
    size_t i;
    json_t *r;
    char *b, pre[32];

    CHECK_INT(tu_sim_start("{\"models\":[" SIM_DEPTH_MODEL "],\"loaded\":[\"d\"]}", &sim), ==,
              0);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        snprintf(pre, sizeof(pre), "%zu:", i); /* no common prefix with the last */
        b = chat_body("d", (size_t)sizes[i] * 4 + 4, pre, 0, (int)n);
        r = chat(b, 200);
        p = (long)num(r, "usage", "prompt_tokens");
        CHECK_INT(p, ==, sizes[i] + 1 + TPL_MSG + TPL_GEN);
        CHECK_INT(num(r, "timings", "cache_n"), ==, 0);
        CHECK_INT(num(r, "timings", "prompt_n"), ==, p);
        CHECK_NEAR(num(r, "timings", "prompt_ms"), 10 + sched_prefill_ms(20000, 1000, 0, p),
                   1e-6 * (10 + sched_prefill_ms(20000, 1000, 0, p)));
        CHECK_NEAR(num(r, "timings", "predicted_ms"), sched_decode_ms(100, 500, p, n),
                   1e-6 * sched_decode_ms(100, 500, p, n));
        json_decref(r);
        free(b);
    }
    tu_sim_stop(&sim);
}

/* The same prompt again is served from the prompt cache but its last
 * token; a prompt with another start shares nothing. */
TEST(sim_prompt_cache_reuses_prefix)
{
    json_t *r;
    char *b = chat_body("d", 4000, "same", 0, 2), *o = chat_body("d", 4000, "diff", 0, 2);
    long p;

    CHECK_INT(tu_sim_start("{\"models\":[" SIM_DEPTH_MODEL "],\"loaded\":[\"d\"]}", &sim), ==,
              0);
    json_decref(chat(b, 200));
    r = chat(b, 200);
    p = (long)num(r, "usage", "prompt_tokens");
    CHECK_INT(num(r, "timings", "cache_n"), ==, p - 1);
    CHECK_INT(num(r, "timings", "prompt_n"), ==, 1);
    CHECK_NEAR(num(r, "timings", "prompt_ms"), 10 + sched_prefill_ms(20000, 1000, p - 1, p),
               1e-6);
    json_decref(r);
    r = chat(o, 200);
    CHECK_INT(num(r, "timings", "cache_n"), ==, 0);
    json_decref(r);
    free(b);
    free(o);
    tu_sim_stop(&sim);
}

/* A prompt of the loaded context or more: HTTP 400, llama.cpp's
 * exceed_context_size_error with both counts; a prompt that fits but
 * leaves less room than max_tokens stops at the full context. */
TEST(sim_refuses_prompt_beyond_context)
{
    json_t *r, *e;
    char *b = chat_body("d", 400, "x", 0, 50), *s = chat_body("d", 360, "y", 0, 50);

    CHECK_INT(tu_sim_start("{\"models\":[" SIM_DEPTH_MODEL "]}", &sim), ==, 0);
    CHECK_INT(
        tu_sim_call(&sim, "POST", "/sim/load", "{\"key\":\"d\",\"context_length\":100}", NULL),
        ==, 200);
    r = chat(b, 400);
    e = json_object_get(r, "error");
    CHECK_STR(json_string_value(json_object_get(e, "type")), "exceed_context_size_error");
    CHECK_INT(json_integer_value(json_object_get(e, "n_prompt_tokens")), ==, 108);
    CHECK_INT(json_integer_value(json_object_get(e, "n_ctx")), ==, 100);
    CHECK(strstr(json_string_value(json_object_get(e, "message")), "exceeds the available") !=
          NULL);
    json_decref(r);
    r = chat(s, 200); /* 98 prompt tokens: 2 left */
    CHECK_INT(num(r, "usage", "completion_tokens"), ==, 2);
    CHECK_STR(json_string_value(json_object_get(
                  json_array_get(json_object_get(r, "choices"), 0), "finish_reason")),
              "length");
    json_decref(r);
    free(b);
    free(s);
    tu_sim_stop(&sim);
}

/* ---- daemon/depth.c: the filler, sizing and judging ---- */

/* Every filler unit is DEPTH_UNIT_BYTES long, the text is the same on
 * every call, and differs only in its nonce. */
TEST(filler_is_fixed_and_deterministic)
{
    char *a = depth_prefix("[depth 0000000000000001]", 1000);
    char *b = depth_prefix("[depth 0000000000000001]", 1000);
    char *c = depth_prefix("[depth 0000000000000002]", 1000);
    char *z = depth_prefix("[n]", 0);
    const char *p, *nl;
    size_t units = 0;

    CHECK(a != NULL && b != NULL && c != NULL && z != NULL);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK_STR(a + 26, c + 26);
    CHECK_STR(z, "[n]\n\n");
    CHECK_INT(strlen(a), ==, 26 + 1000 * DEPTH_UNIT_BYTES);
    for (p = a + 26; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        CHECK(nl != NULL);
        CHECK_INT(nl + 1 - p, ==, DEPTH_UNIT_BYTES);
        CHECK(strncmp(p, "Record ", 7) == 0);
        units++;
    }
    CHECK_INT(units, ==, 1000);
    free(a);
    free(b);
    free(c);
    free(z);
}

/* Units from a calibration, the 2% judge, the deadline growth and the
 * context a suite needs. */
TEST(sizing_and_judging)
{
    struct depth_cal cal;
    struct suite *s = NULL;
    char err[SUITE_ERR_MAX];
    const char *js = "{\"name\":\"t\",\"cases\":[{\"name\":\"a\",\"max_tokens\":100,\"depth\":"
                     "4096,\"messages\":[{\"role\":\"user\",\"content\":\"0123456789\"}]},"
                     "{\"name\":\"b\",\"max_tokens\":5000,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}]}]}";
    double off;
    int flag;
    size_t i;

    memset(&cal, 0, sizeof(cal));
    for (i = 0; i < SUITE_CASES_MAX; i++)
        cal.base[i] = -1;
    CHECK_INT(depth_units(&cal, 4096), ==, 0); /* not calibrated */
    cal.tokens_per_unit = 16.25;
    cal.base[0] = 40;
    CHECK_INT(depth_units(&cal, 0), ==, 0);
    CHECK_INT(depth_units(&cal, 4096), ==, 252); /* 252.06 */
    CHECK_INT(depth_units(&cal, 4104), ==, 253); /* 252.55 */
    depth_judge(&cal, 0, 4096, 4136, &off, &flag);
    CHECK_NEAR(off, 0, 1e-9);
    CHECK(!flag);
    depth_judge(&cal, 0, 4096, 4136 + 82, &off, &flag); /* +1.98% */
    CHECK(!flag);
    depth_judge(&cal, 0, 4096, 4136 - 84, &off, &flag); /* -2.03% */
    CHECK(flag);
    CHECK_NEAR(off, -100.0 * 84 / 4136, 1e-9);
    depth_judge(&cal, 1, 4096, 4136, &off, &flag); /* no base for case 1 */
    CHECK(isnan(off) && !flag);
    depth_judge(&cal, 0, 4096, -1, &off, &flag); /* no usage */
    CHECK(isnan(off) && !flag);
    CHECK_INT(depth_extra_ms(131072, 5000), ==, 655360);
    CHECK_INT(depth_extra_ms(131072, 0), ==, 0);
    CHECK_INT(depth_extra_ms(-1, 5000), ==, 0);
    CHECK_INT(suite_parse(js, strlen(js), &s, err, sizeof(err)), ==, 0);
    CHECK(depth_suite_has(s));
    CHECK_INT(depth_context_needed(s, 0), ==, 4096 + 100 + 10 + DEPTH_CTX_MARGIN);
    CHECK_INT(depth_context_needed(s, 2000), ==, 4096 + 2000 + 10 + DEPTH_CTX_MARGIN);
    s->cases[0].params.set &= ~(unsigned)SUITE_P_DEPTH;
    CHECK(!depth_suite_has(s));
    CHECK_INT(depth_context_needed(s, 0), ==, 0);
    suite_free(s);
}
