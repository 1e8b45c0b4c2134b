#ifndef UPSIGN_CFASTCGI_SHIM_H
#define UPSIGN_CFASTCGI_SHIM_H
// The GNU and Linux parts of the C library that Swift's Glibc module leaves out: accept4,
// POLLRDHUP, MADV_PAGEOUT, eventfd, memfd_create, CPU_COUNT, and the socket queue ioctls (ioctl is variadic,
// which Swift cannot call).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <stdarg.h>
#include <stdio.h>
#include <fcgiapp.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/sockios.h>

/// POLLRDHUP: the peer shut down its writing side.
static const short upsign_POLLRDHUP = POLLRDHUP;

/// MADV_PAGEOUT (Linux 5.4+): reclaim these pages now.
static const int upsign_MADV_PAGEOUT = MADV_PAGEOUT;

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC: a connection ready for an event loop, in one call.
static inline int upsign_accept_nonblocking(int listen_fd) {
    return accept4(listen_fd, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/// A non-blocking, close-on-exec eventfd.
static inline int upsign_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// The CPUs this process may run on (its affinity mask, which taskset and cgroup cpusets
/// narrow), or the online CPUs when the mask cannot be read.
static inline int upsign_usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/// An anonymous in-memory file (close-on-exec), or -1.
static inline int upsign_memfd(void) { return memfd_create("upsign-request", MFD_CLOEXEC); }

/// Bytes queued to be read on a socket (SIOCINQ, also FIONREAD), or -1.
static inline int upsign_queued_input(int fd) {
    int n = 0;
    return ioctl(fd, SIOCINQ, &n) == 0 ? n : -1;
}
#endif
