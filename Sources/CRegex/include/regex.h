#ifndef SCALPEL_REGEX_H
#define SCALPEL_REGEX_H
#include <stdint.h>

/* A compiled regular expression (ICU's engine, the one NSRegularExpression uses), with a bound on
 * the work one search may do: a pattern that backtracks catastrophically fails with
 * SC_REGEX_LIMIT instead of running for minutes. Not thread-safe: one user at a time. */
typedef struct sc_regex sc_regex;

enum { SC_REGEX_FOUND = 1, SC_REGEX_NONE = 0, SC_REGEX_LIMIT = -1, SC_REGEX_ERROR = -2 };

/* pattern: [length] UTF-16 code units. Returns NULL on a syntax error, with a message in error. */
sc_regex *sc_regex_compile(const uint16_t *pattern, int32_t length, int32_t step_limit, char *error, int32_t error_size);
void sc_regex_free(sc_regex *re);
/* Starts searching text: [length] UTF-16 code units, which must stay valid until the next call. */
int32_t sc_regex_set_text(sc_regex *re, const uint16_t *text, int32_t length);
/* The next match after the previous one: [*start, *end) in UTF-16 units. */
int32_t sc_regex_next(sc_regex *re, int32_t *start, int32_t *end);

#endif
