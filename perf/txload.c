/*
 * perf/txload.c: perf/txbench's load generator in C, one thread on epoll, as redis-benchmark
 * is: CLIENTS connections, each sending DEPTH transactions (MULTI; INCR a{x}; INCR b{y};
 * EXEC) at once and the next DEPTH when the last reply of the batch is in.
 *
 *   txload PORT CLIENTS DEPTH SECONDS DISTINCT SAME_SHARD SHARDS
 *
 * Prints "transactions p50_ms p99_ms" (a batch's round trip, from sending it to its last
 * reply), as the Python load does. Replies are parsed (RESP2), not searched for a marker;
 * any error reply or EXEC answer other than two integers is counted and reported on stderr,
 * so a misbehaving server cannot look fast. Written in C because everything but the server
 * (the load and the kernel's work for its sockets) came to ~1.7-1.8 us of CPU per
 * transaction with the Python load, on the two cores the server shares, against ~1.1-1.3
 * with this one (/proc/stat less the server's time, 50 connections).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Redis Cluster's hash slot of a tag (CRC16/XMODEM): ValKeyper's shard is slot % shards. */
static unsigned slot_of(const char *tag) {
    unsigned crc = 0;
    for (const unsigned char *p = (const unsigned char *)tag; *p; p++) {
        crc ^= (unsigned)*p << 8;
        for (int i = 0; i < 8; i++) crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
    }
    return crc & 0x3FFF;
}

/* The n-th pair of tags: on one shard, or on two different ones (as the Python load). */
static void tags(int n, int same_shard, int shards, char *first, char *second) {
    sprintf(first, "%d", n);
    if (same_shard || shards < 2) { strcpy(second, first); return; }
    for (int j = 0; j < 1000; j++) {
        sprintf(second, "%d.%d", n, j);
        if (slot_of(second) % shards != slot_of(first) % shards) return;
    }
    fprintf(stderr, "txload: no tag on another shard for %d\n", n);
    exit(1);
}

static size_t append_command(char *out, const char *const *argv, int argc) {
    size_t n = (size_t)sprintf(out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) n += (size_t)sprintf(out + n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    return n;
}

enum { BUFFER = 1 << 16 };

struct conn {
    int fd;
    char *batch;             /* DEPTH transactions, sent as one write */
    size_t batch_len;
    char in[BUFFER];         /* unparsed input: at most one partial reply carried over */
    size_t in_len;
    long replies_due;        /* top-level replies still owed for the batch in flight */
    double sent_at;
};

static long errors, bad_exec;

/* One RESP2 reply at *pos of buf[0..len): 1 and *pos past it if complete, 0 if not yet.
 * depth 0 is a top-level reply; an EXEC answer is checked to be an array of 2 integers. */
static int parse_reply(const char *buf, size_t len, size_t *pos, int depth) {
    if (*pos >= len) return 0;
    const char *start = buf + *pos;
    const char *crlf = memmem(start, len - *pos, "\r\n", 2);
    if (!crlf) return 0;
    size_t after = (size_t)(crlf - buf) + 2;
    switch (start[0]) {
    case '+': case ':':
        *pos = after;
        return 1;
    case '-':
        *pos = after;
        if (depth == 0) errors++;  /* inside EXEC's answer it is a bad EXEC answer */
        return 1;
    case '$': {
        long n = strtol(start + 1, NULL, 10);
        if (n < 0) { *pos = after; return 1; }
        if (len < after + (size_t)n + 2) return 0;
        *pos = after + (size_t)n + 2;
        return 1;
    }
    case '*': {
        long n = strtol(start + 1, NULL, 10);
        size_t p = after;
        int integers = 0;
        for (long i = 0; i < n; i++) {
            if (p < len && buf[p] == ':') integers++;
            if (!parse_reply(buf, len, &p, depth + 1)) return 0;
        }
        if (depth == 0 && (n != 2 || integers != 2)) bad_exec++;  /* counted once: it is complete */
        *pos = p;
        return 1;
    }
    default:
        fprintf(stderr, "txload: unexpected reply byte 0x%02x\n", (unsigned char)start[0]);
        exit(1);
    }
}

static void send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;  /* a batch fits the socket buffer; rare */
            perror("txload: write");
            exit(1);
        }
        data += n;
        len -= (size_t)n;
    }
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: txload PORT CLIENTS DEPTH SECONDS DISTINCT SAME_SHARD SHARDS\n");
        return 2;
    }
    int port = atoi(argv[1]), clients = atoi(argv[2]), depth = atoi(argv[3]);
    double seconds = atof(argv[4]);
    int distinct = atoi(argv[5]), same_shard = atoi(argv[6]), shards = atoi(argv[7]);
    int ep = epoll_create1(0);
    struct conn *conns = calloc((size_t)clients, sizeof *conns);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < clients; i++) {
        struct conn *c = &conns[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("txload: connect"); return 1; }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char x[32], y[32], a[48], b[48];
        tags(distinct ? i : 0, same_shard, shards, x, y);
        snprintf(a, sizeof a, "a{%s}", x);
        snprintf(b, sizeof b, "b{%s}", y);
        char one_tx[256];
        const char *multi[] = { "MULTI" }, *incr_a[] = { "INCR", a }, *incr_b[] = { "INCR", b }, *exec[] = { "EXEC" };
        size_t n = append_command(one_tx, multi, 1);
        n += append_command(one_tx + n, incr_a, 2);
        n += append_command(one_tx + n, incr_b, 2);
        n += append_command(one_tx + n, exec, 1);
        c->batch = malloc(n * (size_t)depth);
        for (int d = 0; d < depth; d++) memcpy(c->batch + n * (size_t)d, one_tx, n);
        c->batch_len = n * (size_t)depth;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    size_t latency_cap = 1 << 20, latency_count = 0;
    double *latencies = malloc(latency_cap * sizeof *latencies);
    long done = 0;
    double start = now_seconds(), end = start + seconds;
    for (int i = 0; i < clients; i++) {
        conns[i].replies_due = 4L * depth;
        conns[i].sent_at = start;
        send_all(conns[i].fd, conns[i].batch, conns[i].batch_len);
    }
    struct epoll_event events[256];
    for (double now = start; now < end; now = now_seconds()) {
        int n = epoll_wait(ep, events, 256, 100);
        for (int e = 0; e < n; e++) {
            struct conn *c = &conns[events[e].data.u32];
            ssize_t got = read(c->fd, c->in + c->in_len, BUFFER - c->in_len);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                fprintf(stderr, "txload: the server closed a connection\n");
                return 1;
            }
            c->in_len += (size_t)got;
            size_t pos = 0;
            while (c->replies_due > 0 && parse_reply(c->in, c->in_len, &pos, 0)) c->replies_due--;
            memmove(c->in, c->in + pos, c->in_len - pos);
            c->in_len -= pos;
            if (c->in_len == BUFFER) { fprintf(stderr, "txload: a reply larger than the buffer\n"); return 1; }
            if (c->replies_due == 0) {
                double t = now_seconds();
                done += depth;
                if (latency_count == latency_cap) latencies = realloc(latencies, (latency_cap *= 2) * sizeof *latencies);
                latencies[latency_count++] = t - c->sent_at;
                c->sent_at = t;
                c->replies_due = 4L * depth;
                send_all(c->fd, c->batch, c->batch_len);
            }
        }
    }
    if (errors || bad_exec) fprintf(stderr, "txload: %ld error replies, %ld EXEC answers not two integers\n", errors, bad_exec);
    qsort(latencies, latency_count, sizeof *latencies, compare_doubles);
    double p50 = latency_count ? latencies[(size_t)(0.5 * latency_count)] : 0;
    double p99 = latency_count ? latencies[(size_t)(0.99 * latency_count)] : 0;
    printf("%ld %.3f %.3f\n", done, p50 * 1000, p99 * 1000);
    return errors || bad_exec ? 1 : 0;
}
