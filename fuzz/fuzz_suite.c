/*
 * fuzz_suite.c - libFuzzer target: suite parsing and validation.
 *
 * Whatever parses must survive suite_to_json() and parse again to the same
 * JSON; every case's validators run over the input as model output.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[SUITE_ERR_MAX], why[256];
    struct suite *s = NULL, *t = NULL;
    json_t *j = NULL, *k = NULL;
    char *text = NULL, *out = NULL;
    size_t i;

    if (suite_parse((const char *)data, size, &s, err, sizeof(err)) == -1) {
        if (s != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    for (i = 0; i < s->n_cases; i++) {
        int r = suite_validate_output(&s->cases[i], text, (int64_t)size - 1, "stop", why,
                                      sizeof(why));

        if (r != 0 && r != 1)
            abort();
    }
    j = suite_to_json(s);
    if (j == NULL || json_object_del(j, "builtin") != 0)
        abort();
    out = json_dumps(j, JSON_COMPACT);
    if (out == NULL)
        abort();
    if (suite_parse(out, strlen(out), &t, err, sizeof(err)) == -1) {
        /* Resolved parameters make the JSON longer: only the size may fail. */
        if (strlen(out) <= SUITE_BYTES_MAX)
            abort();
        goto out;
    }
    k = suite_to_json(t);
    if (k == NULL || json_object_del(k, "builtin") != 0 || !json_equal(j, k))
        abort();
out:
    free(out);
    free(text);
    json_decref(j);
    json_decref(k);
    suite_free(s);
    suite_free(t);
    return 0;
}
