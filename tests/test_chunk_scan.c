/*
 * test_chunk_scan.c - the in-place chunk scanner (daemon/chunk_scan.h): what
 * it takes, what it declines, and that whatever it takes decodes exactly as
 * jansson's path (chunk_decode_tree) decodes it.
 */
#include "daemon/chunk.h"
#include "daemon/chunk_scan.h"
#include "tests/check.h"

#include <stdio.h>
#include <string.h>

/* Scan s; it must be taken, and agree with the tree path. The scanned chunk
 * is left in *c (nothing to release). */
static void
scan_ok(struct chunk *c, const char *s, size_t len)
{
    struct chunk t;
    char why[64] = "";
    int same;

    CHECK_INT(chunk_scan(c, s, len), ==, 0);
    CHECK(c->root == NULL && c->server_stats == NULL);
    CHECK_INT(chunk_decode_tree(&t, s, len), ==, 0);
    same = chunk_scan_same(c, &t, why, sizeof(why));
    if (!same)
        fprintf(stderr, "differs in %s: %.*s\n", why, (int)len, s);
    CHECK(same);
    chunk_release(&t);
}

static void
scan_ok_str(struct chunk *c, const char *s)
{
    scan_ok(c, s, strlen(s));
}

/* s must be declined, and chunk_decode must still decode it (via jansson)
 * with result `rc`. */
static void
scan_declines(const char *s, int rc)
{
    struct chunk c;

    CHECK_INT(chunk_scan(&c, s, strlen(s)), ==, -1);
    CHECK_INT(chunk_decode(&c, s, strlen(s)), ==, rc);
    chunk_release(&c);
}

/* A text chunk_scan declines and what chunk_decode then answers. */
struct t_decline {
    const char *s;
    int rc;
};

static void
scan_declines_all(const struct t_decline *t, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        scan_declines(t[i].s, t[i].rc);
}

TEST(common_shape)
{
    struct chunk c;

    scan_ok_str(&c, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
                    "\"created\":1700000000,\"model\":\"qwen/qwen3-8b\","
                    "\"system_fingerprint\":\"qwen3-8b\",\"choices\":[{\"index\":0,"
                    "\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,"
                    "\"finish_reason\":null}]}");
    CHECK(c.has_choice);
    CHECK_STR(c.model, "qwen/qwen3-8b");
    CHECK_INT(c.content_len, ==, 5);
    CHECK_STR(c.content, "Hello");
    CHECK(c.finish_reason == NULL);
    CHECK(c.reasoning == NULL);
    CHECK(chunk_has_text(&c));
    CHECK(!c.role_only);
    CHECK_INT(c.completion_tokens, ==, -1);
    chunk_release(&c);
    chunk_release(&c);
}

TEST(role_and_finish)
{
    struct chunk c;

    scan_ok_str(&c, "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                    "\"content\":\"\",\"refusal\":null},\"finish_reason\":null}],"
                    "\"usage\":null}");
    CHECK_STR(c.role, "assistant");
    CHECK(c.role_only);
    CHECK(c.content != NULL && c.content_len == 0);
    scan_ok_str(&c, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}");
    CHECK_STR(c.finish_reason, "stop");
    CHECK(!chunk_has_text(&c));
    scan_ok_str(&c, "{\"choices\":[],\"model\":null}");
    CHECK(!c.has_choice);
    CHECK(c.model == NULL);
}

TEST(escapes)
{
    struct chunk c;

    scan_ok_str(&c,
                "{\"choices\":[{\"delta\":{\"content\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}}]}");
    CHECK_STR(c.content, "a\"b\\c/d\b\f\n\r\t");
    CHECK_INT(c.content_len, ==, 12);
    /* \u escapes: ASCII, 2- and 3-byte, mixed case hex. */
    scan_ok_str(&c, "{\"choices\":[{\"delta\":{\"content\":\"\\u0041\\u00e9\\u20AC\"}}]}");
    CHECK_STR(c.content, "A\xc3\xa9\xe2\x82\xac");
    /* A string that ends in an escaped backslash, then an escaped quote. */
    scan_ok_str(&c, "{\"choices\":[{\"delta\":{\"content\":\"\\\\\"}}],\"id\":\"x\\\"\"}");
    CHECK_STR(c.content, "\\");
}

TEST(surrogate_pairs)
{
    static const struct t_decline bad_text[] = {
        /* Lone or reversed surrogates, bad UTF-8: jansson rejects, so must we. */
        {"{\"choices\":[{\"delta\":{\"content\":\"\\ud83d\"}}]}", -1},
        {"{\"choices\":[{\"delta\":{\"content\":\"\\ude00\\ud83d\"}}]}", -1},
        {"{\"choices\":[{\"delta\":{\"content\":\"\\ud83dx\"}}]}", -1},
        {"{\"choices\":[{\"delta\":{\"content\":\"\xc0\xaf\"}}]}", -1},
        {"{\"choices\":[{\"delta\":{\"content\":\"\xed\xa0\x80\"}}]}", -1},
        {"{\"choices\":[{\"delta\":{\"content\":\"\xf4\x90\x80\x80\"}}]}", -1},
        {"{\"choices\":[{\"delta\":{\"content\":\"\xe2\x82\"}}]}", -1},
        /* \u0000 is left to jansson (JSON_ALLOW_NUL: text with a NUL). */
        {"{\"choices\":[{\"delta\":{\"content\":\"a\\u0000b\"}}]}", 0},
    };
    struct chunk c;

    /* U+1F600 as a pair, and as raw UTF-8: the same bytes. */
    scan_ok_str(&c, "{\"choices\":[{\"delta\":{\"content\":\"\\ud83d\\ude00\"}}]}");
    CHECK_STR(c.content, "\xf0\x9f\x98\x80");
    scan_ok_str(&c,
                "{\"choices\":[{\"delta\":{\"content\":\"\xf0\x9f\x98\x80 caf\xc3\xa9\"}}]}");
    CHECK_STR(c.content, "\xf0\x9f\x98\x80 caf\xc3\xa9");
    scan_declines_all(bad_text, sizeof(bad_text) / sizeof(bad_text[0]));
}

TEST(whitespace_and_order)
{
    struct chunk c;

    scan_ok_str(&c, " \r\n\t{ \"choices\" :\n[ {\t\"finish_reason\" : \"length\" , \"delta\""
                    " : { \"content\" : \"x\" , \"role\" : \"assistant\" } , \"index\" : 0 }"
                    " ] , \"model\" : \"m\" , \"created\" : -12 }\n\r\t ");
    CHECK_STR(c.content, "x");
    CHECK_STR(c.role, "assistant");
    CHECK(!c.role_only);
    CHECK_STR(c.finish_reason, "length");
    CHECK_STR(c.model, "m");
    scan_ok_str(&c, "{}");
    CHECK(!c.has_choice);
}

TEST(null_content)
{
    struct chunk c;

    scan_ok_str(&c, "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null}}]}");
    CHECK(c.content == NULL);
    CHECK_INT(c.content_len, ==, 0);
    CHECK(c.role_only);
    scan_ok_str(&c, "{\"choices\":[{\"delta\":{\"content\":null,\"reasoning_content\":null},"
                    "\"finish_reason\":null}]}");
    CHECK(c.content == NULL && c.reasoning == NULL);
    CHECK(!chunk_has_text(&c));
}

TEST(reasoning_priority)
{
    struct chunk c;

    /* reasoning_content wins when it has text, in either order. */
    scan_ok_str(
        &c, "{\"choices\":[{\"delta\":{\"reasoning\":\"r\",\"reasoning_content\":\"rc\"}}]}");
    CHECK_STR(c.reasoning, "rc");
    scan_ok_str(
        &c, "{\"choices\":[{\"delta\":{\"reasoning_content\":\"rc\",\"reasoning\":\"r\"}}]}");
    CHECK_STR(c.reasoning, "rc");
    /* Empty or null reasoning_content: reasoning is taken. */
    scan_ok_str(&c,
                "{\"choices\":[{\"delta\":{\"reasoning_content\":\"\",\"reasoning\":\"r\"}}]}");
    CHECK_STR(c.reasoning, "r");
    scan_ok_str(&c,
                "{\"choices\":[{\"delta\":{\"reasoning\":\"r\",\"reasoning_content\":null}}]}");
    CHECK_STR(c.reasoning, "r");
    /* Empty reasoning_content alone: an empty, non-NULL reasoning. */
    scan_ok_str(&c, "{\"choices\":[{\"delta\":{\"reasoning_content\":\"\"}}]}");
    CHECK(c.reasoning != NULL && c.reasoning_len == 0);
    scan_ok_str(&c,
                "{\"choices\":[{\"delta\":{\"reasoning_content\":\"\",\"reasoning\":null}}]}");
    CHECK(c.reasoning != NULL && c.reasoning_len == 0);
    /* Reasoning and content in one delta. */
    scan_ok_str(&c,
                "{\"choices\":[{\"delta\":{\"reasoning\":\"think\",\"content\":\"say\"}}]}");
    CHECK_STR(c.reasoning, "think");
    CHECK_STR(c.content, "say");
}

TEST(declines_the_unusual)
{
    static const struct t_decline unusual[] = {
        /* The last chunk of a stream, errors, statistics, tools: jansson's. */
        {"{\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}", 0},
        {"{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"timings\":{\"predicted_n\":1}}", 0},
        {"{\"error\":{\"message\":\"boom\"}}", 0},
        {"{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}", 0},
        {"{\"choices\":[{\"text\":\"legacy\"}]}", 0},
        {"{\"choices\":[{\"delta\":null,\"message\":{\"content\":\"x\"}}]}", 0},
        {"{\"choices\":[{\"delta\":{}},{\"delta\":{}}]}", 0},
        {"{\"eval_count\":3}", 0},
        /* Duplicate keys: jansson keeps the last; the scanner leaves it to it. */
        {"{\"model\":\"a\",\"model\":\"b\"}", 0},
        {"{\"choices\":[{\"delta\":{\"content\":\"a\",\"content\":\"b\"}}]}", 0},
        /* Wrong types (chunk.c counts them), escaped keys, reals, big numbers. */
        {"{\"model\":5}", 0},
        {"{\"choices\":[{\"delta\":{\"content\":7}}]}", 0},
        {"{\"mod\\u0065l\":\"m\"}", 0},
        {"{\"created\":1.5}", 0},
        {"{\"created\":1e3}", 0},
        {"{\"created\":1234567890123456789012}", -1},
        /* Not JSON, not an object, [DONE]: the tree path's answer. */
        {"[DONE]", 0},
        {"{\"choices\":[{\"delta\":{\"content\":\"x\"}}]", -1},
        {"{\"choices\":[{\"delta\":{\"content\":\"x\"}}]} x", -1},
        {"{\"id\":\"a\tb\"}", -1},
        {"{\"created\":01}", -1},
        {"[1]", -1},
        {"", -1},
    };
    scan_declines_all(unusual, sizeof(unusual) / sizeof(unusual[0]));
}

TEST(scratch_limit)
{
    static char big[CHUNK_SCRATCH_MAX + 100];
    struct chunk c;
    size_t n;

    /* Text that fills the scratch: declined, and jansson's path takes it. */
    n = (size_t)snprintf(big, sizeof(big), "{\"choices\":[{\"delta\":{\"content\":\"");
    memset(big + n, 'a', CHUNK_SCRATCH_MAX);
    n += CHUNK_SCRATCH_MAX;
    n += (size_t)snprintf(big + n, sizeof(big) - n, "\"}}]}");
    CHECK_INT(chunk_scan(&c, big, n), ==, -1);
    CHECK_INT(chunk_decode(&c, big, n), ==, 0);
    CHECK_INT(c.content_len, ==, CHUNK_SCRATCH_MAX);
    CHECK(c.root != NULL);
    chunk_release(&c);
    /* One byte less room needed (text + NUL fit exactly): scanned. */
    n = (size_t)snprintf(big, sizeof(big), "{\"choices\":[{\"delta\":{\"content\":\"");
    memset(big + n, 'b', CHUNK_SCRATCH_MAX - 1);
    n += CHUNK_SCRATCH_MAX - 1;
    n += (size_t)snprintf(big + n, sizeof(big) - n, "\"}}]}");
    scan_ok(&c, big, n);
    CHECK_INT(c.content_len, ==, CHUNK_SCRATCH_MAX - 1);
}

TEST(decode_uses_scan)
{
    struct chunk c;
    const char *s = "{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}";

    /* chunk_decode takes the scanner's path: strings in the scratch. */
    CHECK_INT(chunk_decode(&c, s, strlen(s)), ==, 0);
    CHECK(c.root == NULL);
    CHECK(c.content >= c.scratch && c.content < c.scratch + sizeof(c.scratch));
    CHECK_STR(c.content, "hi");
    chunk_release(&c);
    CHECK(c.content == NULL);
}
