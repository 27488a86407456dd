#define _GNU_SOURCE
#include "cshim.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

struct vk_events { int capacity; struct epoll_event items[]; };

const uint32_t VK_EPOLLIN = EPOLLIN, VK_EPOLLOUT = EPOLLOUT, VK_EPOLLERR = EPOLLERR,
               VK_EPOLLHUP = EPOLLHUP, VK_EPOLLRDHUP = EPOLLRDHUP, VK_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;

vk_events *vk_events_create(int capacity) {
    vk_events *e = malloc(sizeof(vk_events) + sizeof(struct epoll_event) * (size_t)capacity);
    if (e) e->capacity = capacity;
    return e;
}
void vk_events_destroy(vk_events *events) { free(events); }
uint64_t vk_events_data(const vk_events *events, int index) { return events->items[index].data.u64; }
uint32_t vk_events_flags(const vk_events *events, int index) { return events->items[index].events; }

int vk_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static int ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}
int vk_epoll_add(int epfd, int fd, uint32_t events, uint64_t data) { return ctl(epfd, EPOLL_CTL_ADD, fd, events, data); }
int vk_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data) { return ctl(epfd, EPOLL_CTL_MOD, fd, events, data); }
int vk_epoll_delete(int epfd, int fd) { return ctl(epfd, EPOLL_CTL_DEL, fd, 0, 0); }
int vk_epoll_wait(int epfd, vk_events *events, int timeout_ms) {
    int n;
    do { n = epoll_wait(epfd, events->items, events->capacity, timeout_ms); } while (n < 0 && errno == EINTR);
    return n;
}

static void format_address(const struct sockaddr_storage *ss, char *out, size_t out_len) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
    }
    /* As Redis's anetFormatAddr: IPv6 addresses in brackets. */
    snprintf(out, out_len, ss->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

int vk_epoll_has_ready_below(int epfd, uint64_t token_limit) {
    struct epoll_event items[64];
    int n = epoll_wait(epfd, items, 64, 0);
    for (int i = 0; i < n; i++) if (items[i].data.u64 < token_limit) return 1;
    /* A full answer may have left client events out: count it as ready. */
    return n == 64;
}

int vk_enable_receive_timestamps(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

long vk_read_timestamped(int fd, void *buf, size_t len, uint64_t *received_ns) {
    struct iovec iov = { buf, len };
    union { char bytes[CMSG_SPACE(sizeof(struct timespec))]; struct cmsghdr align; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n <= 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            *received_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        }
    }
    return n;
}

int vk_accept(int listen_fd, char *peer, size_t peer_len) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return -errno;
    if (peer && peer_len) format_address(&ss, peer, peer_len);
    return fd;
}

int vk_local_address(int fd, char *out, size_t out_len) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    format_address(&ss, out, out_len);
    return 0;
}

int vk_listen_tcp(const char *host, int port, int backlog, int *bound_port) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    int family;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return -EINVAL;
        len = sizeof *a;
        family = AF_INET6;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -EINVAL;
        len = sizeof *a;
        family = AF_INET;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    if (bound_port) {
        struct sockaddr_storage got;
        socklen_t glen = sizeof got;
        getsockname(fd, (struct sockaddr *)&got, &glen);
        *bound_port = got.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&got)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&got)->sin_port);
    }
    return fd;
}

int vk_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int vk_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
int vk_eventfd_signal(int fd) {
    uint64_t one = 1;
    return (int)write(fd, &one, sizeof one);
}
int vk_eventfd_drain(int fd) {
    uint64_t value;
    return (int)read(fd, &value, sizeof value);
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static mallctl_fn probed_mallctl = NULL;
static pthread_once_t mallctl_probe = PTHREAD_ONCE_INIT;

static void probe_mallctl(void) {
    // jemalloc serves malloc only if the malloc that the process resolves lives in
    // the same object as mallctl: merely linking the library is not enough.
    void *ctl = dlsym(RTLD_DEFAULT, "mallctl");
    void *mal = dlsym(RTLD_DEFAULT, "malloc");
    if (!ctl || !mal) return;
    Dl_info ctl_info, mal_info;
    if (!dladdr(ctl, &ctl_info) || !dladdr(mal, &mal_info)) return;
    if (ctl_info.dli_fbase != mal_info.dli_fbase) return;
    probed_mallctl = (mallctl_fn)ctl;
}

// Probed once: INFO may ask from several workers at a time.
static mallctl_fn jemalloc_mallctl(void) {
    pthread_once(&mallctl_probe, probe_mallctl);
    return probed_mallctl;
}

const char *vk_jemalloc_version(void) {
    mallctl_fn ctl = jemalloc_mallctl();
    if (!ctl) return NULL;
    const char *version = NULL;
    size_t len = sizeof version;
    if (ctl("version", &version, &len, NULL, 0) != 0) return NULL;
    return version;
}

static size_t jemalloc_stat(const char *name) {
    mallctl_fn ctl = jemalloc_mallctl();
    if (!ctl) return 0;
    uint64_t epoch = 1;
    size_t elen = sizeof epoch;
    ctl("epoch", &epoch, &elen, &epoch, elen);
    size_t value = 0, len = sizeof value;
    if (ctl(name, &value, &len, NULL, 0) != 0) return 0;
    return value;
}
size_t vk_jemalloc_allocated(void) { return jemalloc_stat("stats.allocated"); }
size_t vk_jemalloc_resident(void) { return jemalloc_stat("stats.resident"); }
size_t vk_malloc_usable_size(void *ptr) { return malloc_usable_size(ptr); }

// MEMORY MALLOC-STATS: malloc_stats_print's report, resolved like mallctl (absent without
// jemalloc serving malloc). The text is collected into a growing malloc'd buffer.
typedef void (*malloc_stats_print_fn)(void (*)(void *, const char *), void *, const char *);
struct stats_text { char *bytes; size_t length, capacity; };
static void append_stats(void *opaque, const char *text) {
    struct stats_text *out = opaque;
    size_t n = strlen(text);
    if (out->length + n + 1 > out->capacity) {
        size_t capacity = (out->length + n + 1) * 2;
        char *grown = realloc(out->bytes, capacity);
        if (!grown) return;
        out->bytes = grown;
        out->capacity = capacity;
    }
    memcpy(out->bytes + out->length, text, n);
    out->length += n;
    out->bytes[out->length] = 0;
}
char *vk_jemalloc_stats_text(void) {
    if (!jemalloc_mallctl()) return NULL;
    malloc_stats_print_fn print = (malloc_stats_print_fn)dlsym(RTLD_DEFAULT, "malloc_stats_print");
    if (!print) return NULL;
    struct stats_text out = {0};
    print(append_stats, &out, NULL);
    return out.bytes;
}

// MEMORY PURGE: jemalloc's arena.<all>.purge (MALLCTL_ARENAS_ALL is 4096). 0 on success.
int vk_jemalloc_purge(void) {
    mallctl_fn ctl = jemalloc_mallctl();
    if (!ctl) return -1;
    return ctl("arena.4096.purge", NULL, NULL, NULL, 0);
}

// Defined by a sanitizer's runtime (linked into the executable by --sanitize=...), absent
// otherwise: weak, so a normal build links and sees NULL.
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

size_t vk_sanitizer_allocated(void) {
    return __sanitizer_get_current_allocated_bytes ? __sanitizer_get_current_allocated_bytes() : 0;
}

// A sanitizer replaces malloc and free but, as swiftc links its runtime, not C++'s operator
// new and delete. With jemalloc linked too, jemalloc's operator new hands out its own memory
// and its operator delete passes it to free, the sanitizer's, which aborts deep in its
// allocator ("CHECK failed: sanitizer_allocator_secondary.h"). Say so at once instead.
__attribute__((constructor)) static void refuse_sanitizer_with_jemalloc(void) {
    if (!__sanitizer_get_current_allocated_bytes || !dlsym(RTLD_DEFAULT, "mallctl")) return;
    static const char message[] =
        "valkeyper: built with a sanitizer but linked with jemalloc, which cannot work together: "
        "build with VALKEYPER_SANITIZE=1 in the environment (see `make tsan`)\n";
    (void)!write(STDERR_FILENO, message, sizeof message - 1);
    _exit(1);
}

void vk_process_cpu(int64_t *user_us, int64_t *sys_us) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
    *sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

size_t vk_process_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#include <signal.h>
#include <sys/signalfd.h>

int vk_signalfd_setup(void) {
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int vk_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

#include <netdb.h>

// Outbound connections (a replica's link to its master).
int vk_connect_tcp(const char *host, int port) {
    struct addrinfo hints, *found = NULL, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &found);
    if (rc != 0) return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    int result = -ECONNREFUSED;
    for (ai = found; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) { result = -errno; continue; }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            result = fd;
            break;
        }
        result = -errno;
        close(fd);
    }
    freeaddrinfo(found);
    return result;
}

int vk_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>

// 0: not set; 1: set; 2: not set and a waiter may sleep (set must wake it).
void vk_flag_clear(uint32_t *flag) { __atomic_store_n(flag, 0, __ATOMIC_RELAXED); }

void vk_flag_set(uint32_t *flag) {
    if (__atomic_exchange_n(flag, 1, __ATOMIC_RELEASE) == 2) {
        syscall(SYS_futex, flag, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

void vk_flag_wait(uint32_t *flag) {
    for (int i = 0; i < 100; i++) {
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 1) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    for (;;) {
        uint32_t expected = 0;
        // Announce the sleep (0 -> 2); if it was set meanwhile, done.
        if (!__atomic_compare_exchange_n(flag, &expected, 2, 0, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)
            && expected == 1) return;
        // A timeout only bounds the cost of a lost wake-up; none is expected.
        struct timespec limit = {0, 1000000};
        syscall(SYS_futex, flag, FUTEX_WAIT_PRIVATE, 2, &limit, NULL, 0);
        if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 1) return;
    }
}
