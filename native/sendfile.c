/*
 * sendfile(2) for Bunka's fetch path, compiled at broker start by bun:ffi's `cc` (TinyCC, bundled with Bun).
 * No #include on purpose: the prototypes below are the Linux/glibc ABI, so the file compiles on a machine
 * without libc headers (a fresh clone with no libc6-dev). src/server/sendfile.ts loads it and falls back
 * to writing from mmap views when it does not compile or load.
 */
typedef long bunka_ssize_t;
extern bunka_ssize_t sendfile(int out_fd, int in_fd, long *offset, unsigned long count);
extern int *__errno_location(void);

/*
 * Sends up to `count` bytes of `in_fd` starting at `offset` to the socket `out_fd` (non-blocking).
 * Returns the bytes sent (>= 0) or -errno (-11 = EAGAIN: the socket buffer is full).
 * The offset is passed by value: the file position of in_fd is never used or moved, so one fd can serve
 * every connection at once.
 */
long bunka_sendfile(int out_fd, int in_fd, long offset, long count) {
  long position = offset;
  bunka_ssize_t sent = sendfile(out_fd, in_fd, &position, (unsigned long)count);
  if (sent < 0) return -(long)(*__errno_location());
  return (long)sent;
}
