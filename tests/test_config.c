/* test_config.c - precedence (defaults < file < env < flags) and bad input. */
#include "tests/check.h"
#include "tests/testutil.h"

#include "daemon/cli/cmd.h"
#include "daemon/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[CONFIG_ERR_MAX];

static const char *
write_tmp(const char *name, const char *text)
{
    static char p[700];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", tu_tmpdir(), name);
    f = fopen(p, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    return p;
}

TEST(defaults)
{
    struct config c;

    config_defaults(&c);
    CHECK_STR(c.listen_addr, "127.0.0.1");
    CHECK_INT(c.listen_port, ==, 8765);
    CHECK_STR(c.base_url, "http://127.0.0.1:1234");
    CHECK_INT(c.allow_server_start, ==, 0);
}

TEST(precedence)
{
    struct config c;
    const char *file =
        write_tmp("c.json", "{\"listen_port\": 1111, \"base_url\": \"http://file\","
                            " \"log_level\": \"debug\", \"lms\": \"/file/lms\"}");
    char a0[] = "--listen-port", a1[] = "3333", a2[] = "--lms=/flag/lms", a3[] = "serve-arg";
    char a4[] = "--config";
    char *argv[] = {a0, a1, a2, a3, a4, (char *)file};
    char *rest[6];
    int nrest;

    setenv("TPSD_LISTEN_PORT", "2222", 1);
    setenv("TPSD_BASE_URL", "http://env", 1);
    setenv("TPSD_LMS", "/env/lms", 1);
    CHECK_INT(cmd_config(&c, 6, argv, rest, &nrest), ==, 0);
    CHECK_INT(c.listen_port, ==, 3333);     /* flag beats env and file */
    CHECK_STR(c.base_url, "http://env");    /* env beats file */
    CHECK_STR(c.lms, "/flag/lms");          /* --name=value form */
    CHECK_STR(c.log_level, "debug");        /* file beats default */
    CHECK_INT(c.allow_server_start, ==, 0); /* default */
    CHECK_INT(nrest, ==, 1);
    CHECK_STR(rest[0], "serve-arg");
    unsetenv("TPSD_LISTEN_PORT");
    unsetenv("TPSD_BASE_URL");
    unsetenv("TPSD_LMS");
}

TEST(bad_file_input_is_an_error_naming_the_key)
{
    struct config c;

    config_defaults(&c);
    CHECK_INT(config_load_file(&c, write_tmp("a.json", "{\"listen_port\": \"80\"}"), err,
                               sizeof(err)),
              ==, -1);
    CHECK(strstr(err, "listen_port") != NULL);
    CHECK_INT(config_load_file(&c, write_tmp("b.json", "{\"no_such\": 1}"), err, sizeof(err)),
              ==, -1);
    CHECK(strstr(err, "no_such") != NULL);
    CHECK_INT(
        config_load_file(&c, write_tmp("c.json", "{\"listen_port\": 70000}"), err, sizeof(err)),
        ==, -1);
    CHECK(strstr(err, "1..65535") != NULL);
    CHECK_INT(
        config_load_file(&c, write_tmp("d.json", "{\"listen_port\": 1,"), err, sizeof(err)), ==,
        -1);
    CHECK(strstr(err, "d.json:") != NULL);
    CHECK_INT(config_load_file(&c, write_tmp("e.json", "[1,2]"), err, sizeof(err)), ==, -1);
    CHECK_INT(config_load_file(&c, write_tmp("f.json", "{\"a\":1,\"a\":2}"), err, sizeof(err)),
              ==, -1);
    CHECK_INT(config_load_file(&c, "/nonexistent/tpsd.json", err, sizeof(err)), ==, -1);
    {
        char big[CONFIG_STR_MAX + 64];
        char json[CONFIG_STR_MAX + 128];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        snprintf(json, sizeof(json), "{\"lms\": \"%s\"}", big);
        CHECK_INT(config_load_file(&c, write_tmp("g.json", json), err, sizeof(err)), ==, -1);
        CHECK(strstr(err, "lms: value longer") != NULL);
    }
    CHECK_INT(c.listen_port, ==, 8765); /* nothing half-applied that matters */
}

TEST(bad_env_and_flags)
{
    struct config c;
    char a0[] = "--listen-port", a1[] = "12ab";
    char *argv[] = {a0, a1};
    char b0[] = "--listen-port";
    char *argv2[] = {b0};
    char *rest[2];
    int nrest, i = 0;

    config_defaults(&c);
    setenv("TPSD_MAX_CONNECTIONS", "-5", 1);
    CHECK_INT(config_load_env(&c, err, sizeof(err)), ==, -1);
    CHECK(strstr(err, "TPSD_MAX_CONNECTIONS") != NULL);
    unsetenv("TPSD_MAX_CONNECTIONS");
    setenv("TPSD_ALLOW_SERVER_START", "maybe", 1);
    CHECK_INT(config_load_env(&c, err, sizeof(err)), ==, -1);
    unsetenv("TPSD_ALLOW_SERVER_START");
    CHECK_INT(config_apply_flag(&c, 2, argv, &i, err, sizeof(err)), ==, -1);
    i = 0;
    CHECK_INT(config_apply_flag(&c, 1, argv2, &i, err, sizeof(err)), ==, -1);
    CHECK(strstr(err, "needs a value") != NULL);
    CHECK_INT(cmd_config(&c, 2, argv, rest, &nrest), ==, -1);
}

/* A string setting with a control character is refused, naming the key:
 * a CR/LF in server_token would inject a header into every request. */
TEST(control_character_refused)
{
    struct config c;

    config_defaults(&c);
    CHECK_INT(config_set(&c, "server_token", "abc\r\nX-Injected: 1", err, sizeof(err)), ==, -1);
    CHECK(strstr(err, "server_token") != NULL);
    CHECK(strstr(err, "control character") != NULL);
    CHECK_STR(c.server_token, "");
    CHECK_INT(config_set(&c, "server_token", "abc-123.XYZ", err, sizeof(err)), ==, 0);
    CHECK_STR(c.server_token, "abc-123.XYZ");
}
