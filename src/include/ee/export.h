/* eeclient: marks the declarations the shared library exports.
 *
 * The library is compiled with -fvisibility=hidden, so only what carries EE_API is
 * visible to programs that link libeeclient.so; internal (eei_) functions shared between
 * the library's files stay private to it. Every public header includes this one. */
#ifndef EE_EXPORT_H
#define EE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define EE_API __attribute__((visibility("default")))
#else
#define EE_API
#endif

#endif
