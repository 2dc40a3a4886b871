/*
 * test_log.c - the logger's value quoting (log_quote): what may appear
 * inside key="value" so that one log line stays one parseable line.
 */
#include "tests/check.h"

#include "daemon/log.h"

#include <string.h>

TEST(quote_plain)
{
    char b[64];

    CHECK_STR(log_quote(b, sizeof(b), "qwen/qwen3@Q4_K_S"), "qwen/qwen3@Q4_K_S");
    CHECK_STR(log_quote(b, sizeof(b), ""), "");
    CHECK_STR(log_quote(b, sizeof(b), NULL), "");
}

TEST(quote_escapes)
{
    char b[64];

    CHECK_STR(log_quote(b, sizeof(b), "\"m\" needs 1 GB"), "\\\"m\\\" needs 1 GB");
    CHECK_STR(log_quote(b, sizeof(b), "a\\b"), "a\\\\b");
    CHECK_STR(log_quote(b, sizeof(b), "line1\nline2\t\x7f"), "line1\\x0aline2\\x09\\x7f");
}

TEST(quote_cut)
{
    char b[16], big[200];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_quote(b, sizeof(b), big);
    CHECK(strlen(b) < sizeof(b));
    CHECK(strcmp(b + strlen(b) - 3, "...") == 0);
    /* An escape is never cut in half. */
    memset(big, '"', 40);
    big[40] = '\0';
    log_quote(b, sizeof(b), big);
    CHECK(strlen(b) < sizeof(b));
    CHECK(strncmp(b, "\\\"\\\"", 4) == 0);
    CHECK(strcmp(b + strlen(b) - 3, "...") == 0);
    CHECK(b[strlen(b) - 4] == '"');
}
