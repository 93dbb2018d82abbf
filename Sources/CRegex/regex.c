#include "regex.h"
#include <stdio.h>
#include <stdlib.h>
#include <unicode/uregex.h>

struct sc_regex { URegularExpression *re; };

sc_regex *sc_regex_compile(const uint16_t *pattern, int32_t length, int32_t step_limit, char *error, int32_t error_size) {
    UErrorCode status = U_ZERO_ERROR;
    UParseError parse;
    URegularExpression *re = uregex_open((const UChar *)pattern, length, 0, &parse, &status);
    if (U_FAILURE(status)) {
        snprintf(error, (size_t)error_size, "%s at offset %d", u_errorName(status), parse.offset);
        if (re) uregex_close(re);
        return NULL;
    }
    /* the limit is in ICU's time-limit units, each about 10,000 steps of the match engine (uregex.h) */
    uregex_setTimeLimit(re, step_limit, &status);
    /* backtracking memory: 8 MiB, ICU's default, stated here so it is not left to chance */
    uregex_setStackLimit(re, 8 << 20, &status);
    if (U_FAILURE(status)) { uregex_close(re); snprintf(error, (size_t)error_size, "%s", u_errorName(status)); return NULL; }
    sc_regex *out = malloc(sizeof *out);
    if (!out) { uregex_close(re); snprintf(error, (size_t)error_size, "out of memory"); return NULL; }
    out->re = re;
    return out;
}

void sc_regex_free(sc_regex *re) {
    if (!re) return;
    uregex_close(re->re);
    free(re);
}

int32_t sc_regex_set_text(sc_regex *re, const uint16_t *text, int32_t length) {
    UErrorCode status = U_ZERO_ERROR;
    uregex_setText(re->re, (const UChar *)text, length, &status);
    return U_FAILURE(status) ? SC_REGEX_ERROR : SC_REGEX_NONE;
}

int32_t sc_regex_next(sc_regex *re, int32_t *start, int32_t *end) {
    UErrorCode status = U_ZERO_ERROR;
    UBool found = uregex_findNext(re->re, &status);
    if (status == U_REGEX_TIME_OUT || status == U_REGEX_STACK_OVERFLOW) return SC_REGEX_LIMIT;
    if (U_FAILURE(status)) return SC_REGEX_ERROR;
    if (!found) return SC_REGEX_NONE;
    *start = uregex_start(re->re, 0, &status);
    *end = uregex_end(re->re, 0, &status);
    return U_FAILURE(status) ? SC_REGEX_ERROR : SC_REGEX_FOUND;
}
