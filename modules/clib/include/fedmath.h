/* fedmath: two small functions, shared with the fedcrate and fedpy modules. */
#ifndef FEDMATH_H
#define FEDMATH_H

#if defined(FEDMATH_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define FEDMATH_API __attribute__((visibility("default")))
#else
#define FEDMATH_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* a + b, wrapping on overflow (computed unsigned, so never undefined). */
FEDMATH_API int fm_add(int a, int b);

/* 32-bit FNV-1a hash of a NUL-terminated string; 0x811c9dc5 for "" or NULL. */
FEDMATH_API unsigned fm_checksum(const char *text);

/* The library's version, "major.minor.patch". */
FEDMATH_API const char *fm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* FEDMATH_H */
