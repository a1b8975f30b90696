/* Redis's long double arithmetic, as util.c's string2ld and ld2string (LD_STR_HUMAN) and
 * t_string.c's incrbyfloatCommand use it. Values cross the boundary as 16 opaque bytes. */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Redis's MAX_LONG_DOUBLE_CHARS: the buffer string2ld copies into and ld2string prints to. */
#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

typedef char long_double_fits[sizeof(long double) <= 16 ? 1 : -1];

static long double load(const void *p) {
    long double v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store(void *p, long double v) {
    memset(p, 0, 16);
    memcpy(p, &v, sizeof v);
}

/* string2ld: 1 and the value in *out when s is a float strtold reads whole. */
int cinnabar_ld_parse(const char *s, size_t slen, void *out) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    long double value;
    char *eptr;

    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';

    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' ||
        ((errno == ERANGE) &&
         (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    store(out, value);
    return 1;
}

void cinnabar_ld_from_i64(long long v, void *out) {
    store(out, (long double)v);
}

void cinnabar_ld_add(const void *a, const void *b, void *out) {
    store(out, load(a) + load(b));
}

/* !isnan && !isinf */
int cinnabar_ld_is_finite(const void *a) {
    long double v = load(a);
    return !(isnan(v) || isinf(v));
}

/* ld2string(buf, len, value, LD_STR_HUMAN); len must be MAX_LONG_DOUBLE_CHARS. */
size_t cinnabar_ld_format_human(const void *a, char *buf, size_t len) {
    long double value = load(a);
    size_t l = 0;

    if (isinf(value)) {
        if (len < 5) return 0;
        if (value > 0) {
            memcpy(buf, "inf", 3);
            l = 3;
        } else {
            memcpy(buf, "-inf", 4);
            l = 4;
        }
    } else if (isnan(value)) {
        if (len < 4) return 0;
        memcpy(buf, "nan", 3);
        l = 3;
    } else {
        int n = snprintf(buf, len, "%.17Lf", value);
        if (n < 0 || (size_t)n + 1 > len) return 0;
        l = (size_t)n;
        /* Trailing zeros after the '.' go, then a bare '.'; "-0" becomes "0". */
        if (memchr(buf, '.', l) != NULL) {
            char *p = buf + l - 1;
            while (*p == '0') {
                p--;
                l--;
            }
            if (*p == '.') l--;
        }
        if (l == 2 && buf[0] == '-' && buf[1] == '0') {
            buf[0] = '0';
            l = 1;
        }
    }
    buf[l] = '\0';
    return l;
}
