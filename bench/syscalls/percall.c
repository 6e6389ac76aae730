// The per-call loop of bench/syscalls: what one system call costs, by kind, so that the cost a
// sensor adds to each can be read without the loopback TCP stack's noise (bench/overhead).
// For each kind, ROUNDS rounds of N calls; prints one JSON line with the fastest round's ns per
// call (noise on a shared machine only ever adds time):
//   getppid   a system call no sensor hooks;
//   read      1 byte from /dev/zero: a hooked call on an fd that holds nothing sensitive;
//   pread     1 byte of FILE through an fd held open: a read of a sensitive file;
//   openclose open + close of FILE;
//   write     64 bytes to /dev/null.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

enum { kGetppid, kRead, kPread, kOpenClose, kWrite, kKinds };
static const char *const kNames[kKinds] = {"getppid", "read", "pread", "openclose", "write"};

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s FILE CALLS ROUNDS\n", argv[0]);
    return 2;
  }
  const char *file = argv[1];
  long n = atol(argv[2]), rounds = atol(argv[3]);
  if (n <= 0 || rounds <= 0) {
    fprintf(stderr, "%s: CALLS and ROUNDS must be > 0\n", argv[0]);
    return 2;
  }
  int zero = open("/dev/zero", O_RDONLY), devnull = open("/dev/null", O_WRONLY);
  int held = open(file, O_RDONLY);
  if (zero < 0 || devnull < 0 || held < 0) {
    perror("open");
    return 1;
  }
  char buf[64] = {0};
  int64_t best[kKinds];
  for (int k = 0; k < kKinds; k++) best[k] = INT64_MAX;
  for (long r = 0; r < rounds; r++) {
    for (int k = 0; k < kKinds; k++) {
      int64_t t = now_ns();
      for (long i = 0; i < n; i++) {
        switch (k) {
          case kGetppid: syscall(SYS_getppid); break;
          case kRead:
            if (read(zero, buf, 1) != 1) return 1;
            break;
          case kPread:
            if (pread(held, buf, 1, 0) != 1) return 1;
            break;
          case kOpenClose: {
            int fd = open(file, O_RDONLY);
            if (fd < 0) return 1;
            close(fd);
            break;
          }
          case kWrite:
            if (write(devnull, buf, sizeof(buf)) != sizeof(buf)) return 1;
            break;
        }
      }
      int64_t d = now_ns() - t;
      if (d < best[k]) best[k] = d;
    }
  }
  printf("{");
  for (int k = 0; k < kKinds; k++)
    printf("%s\"%s\":%.1f", k ? "," : "", kNames[k], (double)best[k] / (double)n);
  printf("}\n");
  return 0;
}
