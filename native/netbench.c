/*
 * Blocking socket and file loops for bench/: the machine's limits (loopback TCP, file-to-socket sendfile,
 * socket-to-file, sequential append) and the I/O of the load generator's clients, so that neither the
 * limits nor the clients are held back by JavaScript. Compiled at run time with bun:ffi's `cc` (TinyCC)
 * and called from worker threads (every call here may block).
 * No #include: the prototypes and struct layouts below are the Linux x86-64/arm64 glibc ABI, so this
 * compiles on a machine without libc headers.
 */
typedef unsigned long nb_size_t;
typedef long nb_ssize_t;

struct nb_sockaddr_in {
  unsigned short family;
  unsigned short port; /* network byte order */
  unsigned int addr;   /* network byte order */
  unsigned char zero[8];
};
struct nb_timespec {
  long sec;
  long nsec;
};

extern int socket(int domain, int type, int protocol);
extern int bind(int fd, const void *addr, unsigned int len);
extern int listen(int fd, int backlog);
extern int accept(int fd, void *addr, void *len);
extern int connect(int fd, const void *addr, unsigned int len);
extern int setsockopt(int fd, int level, int name, const void *value, unsigned int len);
extern int getsockname(int fd, void *addr, unsigned int *len);
extern int shutdown(int fd, int how);
extern nb_ssize_t send(int fd, const void *buf, nb_size_t len, int flags);
extern nb_ssize_t recv(int fd, void *buf, nb_size_t len, int flags);
extern nb_ssize_t pwrite(int fd, const void *buf, nb_size_t len, long offset);
extern nb_ssize_t sendfile(int out_fd, int in_fd, long *offset, nb_size_t count);
extern int ftruncate(int fd, long length);
extern int fdatasync(int fd);
extern int close(int fd);
extern int clock_gettime(int clock, struct nb_timespec *ts);
extern int clock_nanosleep(int clock, int flags, const struct nb_timespec *request, struct nb_timespec *remain);
extern int *__errno_location(void);

#define NB_AF_INET 2
#define NB_SOCK_STREAM 1
#define NB_SOL_SOCKET 1
#define NB_SO_REUSEADDR 2
#define NB_IPPROTO_TCP 6
#define NB_TCP_NODELAY 1
#define NB_MSG_DONTWAIT 0x40
#define NB_MSG_NOSIGNAL 0x4000
#define NB_EINTR 4
#define NB_EAGAIN 11
#define NB_CLOCK_MONOTONIC 1
#define NB_LOOPBACK 0x0100007f /* 127.0.0.1 in network byte order (little-endian host) */

static long nb_errno(void) { return -(long)(*__errno_location()); }

static unsigned short nb_htons(unsigned short value) { return (unsigned short)((value << 8) | (value >> 8)); }

static long nb_now_ns(void) {
  struct nb_timespec ts;
  clock_gettime(NB_CLOCK_MONOTONIC, &ts);
  return ts.sec * 1000000000L + ts.nsec;
}

/* Monotonic clock in nanoseconds (the same clock in every thread). */
long nb_monotonic_ns(void) { return nb_now_ns(); }

/* Sleeps until the monotonic clock reads deadline_ns (paced load without spinning a core). */
int nb_sleep_until(long deadline_ns) {
  struct nb_timespec ts = {deadline_ns / 1000000000L, deadline_ns % 1000000000L};
  int result;
  do result = clock_nanosleep(NB_CLOCK_MONOTONIC, 1 /* TIMER_ABSTIME */, &ts, 0);
  while (result == NB_EINTR);
  return result;
}

/* A listening socket on 127.0.0.1:port (0 = any free port); returns the fd or -errno. */
int nb_listen(int port) {
  int fd = socket(NB_AF_INET, NB_SOCK_STREAM, 0);
  if (fd < 0) return (int)nb_errno();
  int one = 1;
  setsockopt(fd, NB_SOL_SOCKET, NB_SO_REUSEADDR, &one, sizeof(one));
  struct nb_sockaddr_in addr = {NB_AF_INET, nb_htons((unsigned short)port), NB_LOOPBACK, {0}};
  if (bind(fd, &addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
    int error = (int)nb_errno();
    close(fd);
    return error;
  }
  return fd;
}

/* The port a socket is bound to. */
int nb_local_port(int fd) {
  struct nb_sockaddr_in addr;
  unsigned int len = sizeof(addr);
  if (getsockname(fd, &addr, &len) < 0) return (int)nb_errno();
  return nb_htons(addr.port);
}

int nb_accept(int fd) {
  int client = accept(fd, 0, 0);
  if (client < 0) return (int)nb_errno();
  int one = 1;
  setsockopt(client, NB_IPPROTO_TCP, NB_TCP_NODELAY, &one, sizeof(one));
  return client;
}

/* A TCP connection to 127.0.0.1:port with TCP_NODELAY (as Kafka clients set it); fd or -errno. */
int nb_connect(int port) {
  int fd = socket(NB_AF_INET, NB_SOCK_STREAM, 0);
  if (fd < 0) return (int)nb_errno();
  struct nb_sockaddr_in addr = {NB_AF_INET, nb_htons((unsigned short)port), NB_LOOPBACK, {0}};
  if (connect(fd, &addr, sizeof(addr)) < 0) {
    int error = (int)nb_errno();
    close(fd);
    return error;
  }
  int one = 1;
  setsockopt(fd, NB_IPPROTO_TCP, NB_TCP_NODELAY, &one, sizeof(one));
  return fd;
}

int nb_close(int fd) { return close(fd); }

/* Half-close: the peer's recv sees the end of the stream. */
int nb_shutdown_write(int fd) { return shutdown(fd, 1); }

/* Sends all of buf; returns len or -errno. */
long nb_send_all(int fd, const unsigned char *buf, long len) {
  long sent = 0;
  while (sent < len) {
    nb_ssize_t n = send(fd, buf + sent, (nb_size_t)(len - sent), NB_MSG_NOSIGNAL);
    if (n < 0) {
      if (*__errno_location() == NB_EINTR) continue;
      return nb_errno();
    }
    sent += n;
  }
  return sent;
}

/* Receives exactly len bytes; returns len, 0 if the peer closed first, or -errno. */
long nb_recv_exact(int fd, unsigned char *buf, long len) {
  long got = 0;
  while (got < len) {
    nb_ssize_t n = recv(fd, buf + got, (nb_size_t)(len - got), 0);
    if (n == 0) return 0;
    if (n < 0) {
      if (*__errno_location() == NB_EINTR) continue;
      return nb_errno();
    }
    got += n;
  }
  return got;
}

/* Receives whatever is there without blocking (up to cap); returns bytes, 0 at end of stream, -11 if none. */
long nb_recv_nowait(int fd, unsigned char *buf, long cap) {
  nb_ssize_t n = recv(fd, buf, (nb_size_t)cap, NB_MSG_DONTWAIT);
  if (n < 0) return nb_errno();
  return n;
}

/* Limit: sends buf again and again until total bytes or max_ns elapsed; returns bytes sent or -errno. */
long nb_send_repeat(int fd, const unsigned char *buf, long len, long total, long max_ns) {
  long sent = 0;
  long deadline = nb_now_ns() + max_ns;
  while (sent < total) {
    long chunk = total - sent < len ? total - sent : len;
    long n = nb_send_all(fd, buf, chunk);
    if (n < 0) return sent > 0 ? sent : n;
    sent += n;
    if (nb_now_ns() > deadline) break;
  }
  return sent;
}

/* Limit: receives into buf (cap bytes a call) until the peer closes; returns bytes received. */
long nb_recv_discard(int fd, unsigned char *buf, long cap) {
  long got = 0;
  for (;;) {
    nb_ssize_t n = recv(fd, buf, (nb_size_t)cap, 0);
    if (n == 0) return got;
    if (n < 0) {
      if (*__errno_location() == NB_EINTR) continue;
      return got > 0 ? got : nb_errno();
    }
    got += n;
  }
}

/*
 * Limit: sendfile(2) of a page-cached file to a socket, chunk bytes a call, wrapping around the file,
 * until total bytes or max_ns elapsed; returns bytes sent or -errno.
 */
long nb_sendfile_repeat(int sock, int file, long file_bytes, long chunk, long total, long max_ns) {
  long sent = 0;
  long position = 0;
  long deadline = nb_now_ns() + max_ns;
  while (sent < total) {
    long want = chunk;
    if (want > file_bytes - position) want = file_bytes - position;
    if (want > total - sent) want = total - sent;
    long offset = position;
    nb_ssize_t n = sendfile(sock, file, &offset, (nb_size_t)want);
    if (n < 0) {
      if (*__errno_location() == NB_EINTR) continue;
      return sent > 0 ? sent : nb_errno();
    }
    if (n == 0) return sent;
    sent += n;
    position += n;
    if (position >= file_bytes) position = 0;
    if (nb_now_ns() > deadline) break;
  }
  return sent;
}

/*
 * The file limits write as the broker does (src/log/page-cache-writes.ts): in pieces that end at 16 KiB
 * multiples of the file, the one write size that fills new page cache at full speed on the dev VM, so the
 * limit is the best this machine does, not the slow path of larger writes.
 */
#define NB_PAGE_CACHE_WRITE_BYTES 16384L
static long nb_piece(long position, long remaining) {
  long room = NB_PAGE_CACHE_WRITE_BYTES - (position % NB_PAGE_CACHE_WRITE_BYTES);
  return remaining < room ? remaining : room;
}

/*
 * Limit: receives from a socket into buf and appends each read to a file with pwrite, starting the file
 * over (ftruncate 0) when it would pass file_max_bytes, until the peer closes. Returns bytes written.
 */
long nb_recv_to_file(int sock, int file, unsigned char *buf, long cap, long file_max_bytes) {
  long total = 0;
  long position = 0;
  for (;;) {
    nb_ssize_t n = recv(sock, buf, (nb_size_t)cap, 0);
    if (n == 0) return total;
    if (n < 0) {
      if (*__errno_location() == NB_EINTR) continue;
      return total > 0 ? total : nb_errno();
    }
    if (position + n > file_max_bytes) {
      ftruncate(file, 0);
      position = 0;
    }
    long written = 0;
    while (written < n) {
      nb_ssize_t w = pwrite(file, buf + written, (nb_size_t)nb_piece(position + written, n - written), position + written);
      if (w <= 0) return total > 0 ? total : nb_errno();
      written += w;
    }
    position += n;
    total += n;
  }
}

/*
 * Limit: sequential appends of buf (len bytes each) to a file, starting it over when it would pass
 * file_max_bytes, until total bytes or max_ns elapsed. Returns bytes written or -errno.
 */
long nb_append_repeat(int file, const unsigned char *buf, long len, long total, long file_max_bytes, long max_ns) {
  long written_total = 0;
  long position = 0;
  long deadline = nb_now_ns() + max_ns;
  while (written_total < total) {
    if (position + len > file_max_bytes) {
      ftruncate(file, 0);
      position = 0;
    }
    long written = 0;
    while (written < len) {
      nb_ssize_t w = pwrite(file, buf + written, (nb_size_t)nb_piece(position + written, len - written), position + written);
      if (w <= 0) return written_total > 0 ? written_total : nb_errno();
      written += w;
    }
    position += len;
    written_total += len;
    if (nb_now_ns() > deadline) break;
  }
  return written_total;
}
