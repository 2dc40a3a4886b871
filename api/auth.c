/*
 * auth.c - request authentication for the API: SHA-256 (FIPS 180-4), the
 * bearer token read from a private file and compared in constant time, and
 * the Host allow-list against DNS rebinding.
 */
#include "api/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
sha_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (i = 0; i < 64; i++) {
        t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void
api_sha256(const void *data, size_t len, unsigned char out[API_SHA256_LEN])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const unsigned char *p = data;
    unsigned char tail[128];
    uint64_t bits = (uint64_t)len * 8;
    size_t rest, n, i;

    for (n = len; n >= 64; n -= 64, p += 64)
        sha_block(h, p);
    rest = n;
    memset(tail, 0, sizeof(tail));
    if (rest > 0)
        memcpy(tail, p, rest);
    tail[rest] = 0x80;
    n = rest + 1 + 8 <= 64 ? 64 : 128;
    for (i = 0; i < 8; i++)
        tail[n - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha_block(h, tail);
    if (n == 128)
        sha_block(h, tail + 64);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

void
api_sha256_hex(const void *data, size_t len, char hex[2 * API_SHA256_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[API_SHA256_LEN];
    size_t i;

    api_sha256(data, len, d);
    for (i = 0; i < API_SHA256_LEN; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * API_SHA256_LEN] = '\0';
}

int
api_token_load(struct api *a, const char *path, char *err, size_t errlen)
{
    char buf[API_TOKEN_MAX + 1];
    struct stat st;
    ssize_t n;
    size_t len;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1) {
        snprintf(err, errlen, "token_file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == -1) {
        snprintf(err, errlen, "token_file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        snprintf(err, errlen,
                 "token_file %s: must be a regular file of mode 0600 or 0400"
                 " (it is %03o)",
                 path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    n = read(fd, buf, sizeof(buf));
    if (n < 0) {
        snprintf(err, errlen, "token_file %s: %s", path, strerror(errno));
        goto out;
    }
    if ((size_t)n > API_TOKEN_MAX) {
        snprintf(err, errlen, "token_file %s: longer than %d bytes", path, API_TOKEN_MAX);
        goto out;
    }
    len = (size_t)n;
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        len--;
    if (len == 0 || memchr(buf, '\n', len) != NULL) {
        snprintf(err, errlen, "token_file %s: must hold one non-empty line", path);
        goto out;
    }
    api_sha256(buf, len, a->token_sha);
    a->have_token = 1;
    rc = 0;
out:
    memset(buf, 0, sizeof(buf));
    close(fd);
    return rc;
}

int
api_token_ok(const struct api *a, const char *authorization)
{
    unsigned char got[API_SHA256_LEN];
    unsigned diff = 0;
    size_t i;

    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    /* Hash first: the comparison then runs over equal-length digests and
     * takes the same time wherever they differ. */
    api_sha256(authorization + 7, strlen(authorization + 7), got);
    for (i = 0; i < API_SHA256_LEN; i++)
        diff |= (unsigned)(got[i] ^ a->token_sha[i]);
    return diff == 0;
}

int
api_host_ok(const struct api *a, const char *host)
{
    char name[API_HOST_MAX];
    const char *port = NULL, *end;
    size_t n;
    int64_t p;

    if (host == NULL || *host == '\0' || strlen(host) >= sizeof(name))
        return 0;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (end == NULL)
            return 0;
        n = (size_t)(end - host - 1);
        memcpy(name, host + 1, n);
        name[n] = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1] != '\0')
            return 0;
    } else {
        end = strchr(host, ':');
        n = end != NULL ? (size_t)(end - host) : strlen(host);
        if (end != NULL && strchr(end + 1, ':') != NULL)
            return 0;
        memcpy(name, host, n);
        name[n] = '\0';
        if (end != NULL)
            port = end + 1;
    }
    if (port != NULL) {
        if (api_parse_i64(port, 1, 65535, &p) == -1 || p != a->port)
            return 0;
    } else if (a->port != 80) {
        return 0;
    }
    if (a->any_host)
        return name[0] != '\0';
    return strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 ||
           strcasecmp(name, "::1") == 0 || strcasecmp(name, a->listen_addr) == 0;
}
