#ifndef UPSIGN_CFASTCGI_SHIM_H
#define UPSIGN_CFASTCGI_SHIM_H
// What Swift's Glibc module leaves out and the event loops need: eventfd, memfd, accept4,
// MADV_PAGEOUT, the usable CPUs, and the socket queue ioctl (ioctl and syscall are variadic,
// which Swift cannot call). No _GNU_SOURCE here: it changes the C library's types (fd_set's
// member names) against those of Swift's Glibc module, and clang refuses the mismatch in some
// builds; the GNU-only calls are made as system calls instead.
#include <stdarg.h>
#include <stdio.h>
#include <fcgiapp.h>
#include <sched.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/memfd.h>
#include <linux/sockios.h>

/// MADV_PAGEOUT (Linux 5.4+): reclaim these pages now.
static const int upsign_MADV_PAGEOUT = MADV_PAGEOUT;

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC: a connection ready for an event loop, in one call.
static inline int upsign_accept_nonblocking(int listen_fd) {
    return (int)syscall(SYS_accept4, listen_fd, (void *)0, (void *)0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/// A non-blocking, close-on-exec eventfd.
static inline int upsign_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// An anonymous in-memory file (close-on-exec), or -1.
static inline int upsign_memfd(void) { return (int)syscall(SYS_memfd_create, "upsign-request", MFD_CLOEXEC); }

/// The CPUs this process may run on (its affinity mask, which taskset and cgroup cpusets
/// narrow), or the online CPUs when the mask cannot be read.
static inline int upsign_usable_cpus(void) {
    unsigned long mask[16] = {0};
    long bytes = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
    if (bytes > 0) {
        int n = 0;
        for (long i = 0; i < bytes / (long)sizeof mask[0]; i++) n += __builtin_popcountl(mask[i]);
        if (n > 0) return n;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

/// Bytes queued to be read on a socket (SIOCINQ, also FIONREAD), or -1.
static inline int upsign_queued_input(int fd) {
    int n = 0;
    return ioctl(fd, SIOCINQ, &n) == 0 ? n : -1;
}
#endif
