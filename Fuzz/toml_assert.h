/* Included into every C++ compilation of the fuzz build (Fuzz/run.sh: -Xcxx -include this file).
 *
 * toml++ 3.4.0, which TOMLKit 0.6.0 vendors, aborts the process through assert() on malformed
 * TOML that reaches one of its parser preconditions (`[+a]`, `a = [1, }]`, ...): upsign's
 * check-config and a SIGHUP reload die on such a file. That bug is reported; the fuzz build routes
 * toml++'s assertions to upsign_fuzz_assertion (Fuzz/Support/KnownBugs.swift), which aborts as
 * production does when UPSIGN_FUZZ_KNOWN_BUGS=crash and otherwise counts the hit and lets the
 * parser go on, as a build without assertions would, so the fuzzer can look past it. */
#ifndef UPSIGN_FUZZ_TOML_ASSERT_H
#define UPSIGN_FUZZ_TOML_ASSERT_H
#ifdef __cplusplus
extern "C" {
#endif
void upsign_fuzz_assertion(const char *expression, const char *file, unsigned line);
#ifdef __cplusplus
}
#endif
#define TOML_ASSERT(expr) ((expr) ? (void)0 : upsign_fuzz_assertion(#expr, __FILE__, __LINE__))
#endif
