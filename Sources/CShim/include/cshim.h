// Thin wrappers for what Swift's Glibc module does not expose: epoll, accept4,
// eventfd, and a probe that tells whether jemalloc really serves malloc.
#ifndef VALKEYPER_CSHIM_H
#define VALKEYPER_CSHIM_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

// epoll_event is packed on x86_64, which Swift imports awkwardly: keep it in C.
typedef struct vk_events vk_events;
vk_events *vk_events_create(int capacity);
void vk_events_destroy(vk_events *events);
uint64_t vk_events_data(const vk_events *events, int index);
uint32_t vk_events_flags(const vk_events *events, int index);

int vk_epoll_create(void);
int vk_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int vk_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data);
int vk_epoll_delete(int epfd, int fd);
int vk_epoll_wait(int epfd, vk_events *events, int timeout_ms);
// Whether another thread's (level-triggered) epoll set has a ready event whose token is below
// `token_limit`, without waiting and without taking the events from its owner.
int vk_epoll_has_ready_below(int epfd, uint64_t token_limit);

extern const uint32_t VK_EPOLLIN, VK_EPOLLOUT, VK_EPOLLERR, VK_EPOLLHUP, VK_EPOLLRDHUP, VK_EPOLLEXCLUSIVE;

// Nonblocking, close-on-exec accept; fills the peer's "ip:port" text (for CLIENT LIST).
int vk_accept(int listen_fd, char *peer, size_t peer_len);
// Local "ip:port" of a connected socket.
int vk_local_address(int fd, char *out, size_t out_len);
// Listening TCP socket bound to host:port (IPv4 or IPv6 literal), nonblocking.
// Returns the fd, or -errno; *bound_port gets the port actually bound (port 0 picks one).
int vk_listen_tcp(const char *host, int port, int backlog, int *bound_port);
int vk_set_nodelay(int fd);
// Asks the kernel to stamp what the socket receives (SO_TIMESTAMPNS).
int vk_enable_receive_timestamps(int fd);
// One recvmsg into buf: returns what read() would; *received_ns gets the kernel's receive
// time of the data read (CLOCK_REALTIME, ns), or is left alone when there is none.
long vk_read_timestamped(int fd, void *buf, size_t len, uint64_t *received_ns);
// Starts a nonblocking TCP connect to host:port (name or literal; the lookup itself blocks).
// Returns the fd (connected or in progress), or -errno.
int vk_connect_tcp(const char *host, int port);
// The pending error of a socket (SO_ERROR): 0 once a nonblocking connect succeeded.
int vk_socket_error(int fd);

int vk_eventfd(void);
int vk_eventfd_signal(int fd);
int vk_eventfd_drain(int fd);

// "5.3.0-0-g..." when malloc in this process resolves to jemalloc, else NULL.
const char *vk_jemalloc_version(void);
// Bytes allocated through jemalloc (stats.allocated after an epoch refresh); 0 if unknown.
size_t vk_jemalloc_allocated(void);
size_t vk_jemalloc_resident(void);
// malloc_stats_print's report (free() it), or NULL without jemalloc serving malloc.
char *vk_jemalloc_stats_text(void);
// Purges every arena's dirty pages: 0 on success, -1 without jemalloc.
int vk_jemalloc_purge(void);
size_t vk_malloc_usable_size(void *ptr);
// Bytes a sanitizer's allocator holds (sanitizer builds, where its malloc replaces
// jemalloc's); 0 when no sanitizer runtime is linked.
size_t vk_sanitizer_allocated(void);

// CPU time of this process (user, system) in microseconds.
void vk_process_cpu(int64_t *user_us, int64_t *sys_us);
// Resident set size of this process in bytes (from /proc/self/statm).
size_t vk_process_rss(void);

// A one-shot flag one thread waits on and another sets (a script's call to another
// worker's shard): spin briefly, then sleep on a futex; set wakes the sleeper.
void vk_flag_clear(uint32_t *flag);
void vk_flag_set(uint32_t *flag);
void vk_flag_wait(uint32_t *flag);

/* A spin-wait hint to the core (a worker watching its rings before it parks). */
static inline void vk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Starts loading the cache line at p (a hint: never faults). Inlined into Swift: a
   multi-key command prefetches its keys' table slots and entries so their cache misses
   overlap (Shard.prefetch). */
static inline void vk_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif

// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (threads created later inherit it)
// and returns a nonblocking signalfd for them; SIGPIPE is ignored.
int vk_signalfd_setup(void);
// Reads one pending signal from the signalfd; returns its number or 0.
int vk_signalfd_read(int fd);
