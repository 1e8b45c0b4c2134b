#ifndef UPSIGN_CFASTCGI_SHIM_H
#define UPSIGN_CFASTCGI_SHIM_H
#include <stdarg.h>
#include <stdio.h>
#include <fcgiapp.h>
// The worker loop waits with epoll (EPOLLEXCLUSIVE on the shared listening socket), which the
// Glibc module does not export.
#include <sys/epoll.h>
#endif
