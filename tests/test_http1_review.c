/*
 * test_http1_review.c - defects a review found in daemon/http1.c (s15),
 * in a file another engineer owns: each case fails until its fix lands.
 * tests/CMakeLists.txt marks them WILL_FAIL (label review_open), so the
 * suite passes while they fail and ctest flags each one once it passes:
 * then delete its line there.
 *
 * The proxy cases compare http1_proxied with libcurl's own rules, read in
 * curl's lib/proxy.c (proxy_check_noproxy; lib/noproxy.c in 7.88,
 * Curl_check_noproxy): no_proxy exempts every host only when the whole
 * value is "*"; a host that is an IP address is matched against the
 * entries as an address or CIDR range (cidr4_match, cidr6_match), never as
 * a domain suffix. Where http1 says "not proxied" and libcurl would proxy,
 * the direct path bypasses the proxy the user set.
 */
#include "tests/check.h"

#include "daemon/http1.h"
#include "daemon/httpbody.h"

#include <stdlib.h>
#include <string.h>

#define T_BODY_MAX 256

/* The proxy environment of one case: http_proxy set, no_proxy = np. */
static void
proxy_env(const char *np)
{
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("NO_PROXY");
    setenv("http_proxy", "http://proxy.invalid:3128", 1);
    setenv("no_proxy", np, 1);
}

TEST(noproxy_star_only_as_whole_value)
{
    /* proxy_check_noproxy: `if(!strcmp("*", no_proxy)) return TRUE;` and
     * a "*" entry in a list is a host name, which matches no real host. */
    proxy_env("example.com,*");
    CHECK_INT(http1_proxied("127.0.0.1"), ==, 1);
    CHECK_INT(http1_proxied("localhost"), ==, 1);
    proxy_env(" *");
    CHECK_INT(http1_proxied("localhost"), ==, 1);
}

TEST(noproxy_ip_host_not_a_domain_suffix)
{
    /* An IPv4 host: match_ip -> cidr4_match("127.0.0.1", "0.0.1", 0):
     * inet_pton of "0.0.1" fails, so no match: libcurl proxies. */
    proxy_env("0.0.1");
    CHECK_INT(http1_proxied("127.0.0.1"), ==, 1);
    proxy_env("1");
    CHECK_INT(http1_proxied("10.0.0.1"), ==, 1);
}

TEST(noproxy_ipv4_shorthand_host)
{
    struct http1_url u;

    /* libcurl's URL parser writes "127.1" as 127.0.0.1 (lib/urlapi.c,
     * ipv4_normalize), then compares that address with the entry "127.1",
     * which inet_pton refuses: proxied. http1 compares the text. */
    proxy_env("127.1");
    CHECK_INT(http1_mine("http://127.1:1234", &u), ==, -1);
}

/* ---- the parser: RFC 9112 section 5.2, obs-fold ---- */

TEST(obs_fold_in_transfer_encoding)
{
    /* "A user agent that receives an obs-fold in a response message ...
     * MUST replace each received obs-fold with one or more SP octets prior
     * to interpreting the field value" (RFC 9112 section 5.2). The value
     * is "chunked": the body is "hello". Refusing the head (a bad header
     * line) is safe too; taking the chunk framing as body bytes is not. */
    static const char msg[] = "HTTP/1.1 200 OK\r\n"
                              "Transfer-Encoding:\r\n"
                              " chunked\r\n"
                              "\r\n"
                              "5\r\nhello\r\n0\r\n\r\n";
    struct http1_parser p;
    struct httpbody b = {NULL, 0, T_BODY_MAX, 0};
    int rc;

    http1_parser_init(&p);
    rc = http1_parse(&p, msg, sizeof(msg) - 1, httpbody_add, &b);
    if (rc == -1) {
        CHECK_INT(p.err, ==, HTTP1_E_HEADER);
    } else {
        CHECK_INT(p.complete, ==, 1);
        CHECK(b.data != NULL);
        CHECK_STR(b.data, "hello");
    }
    free(b.data);
}
