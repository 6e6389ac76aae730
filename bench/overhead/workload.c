// The syscall-heavy loop of the overhead benchmark: per iteration a TCP connect + close on
// loopback (to a listener thread of its own), an open + 4 KiB read + close of a file under DIR
// (the benchmark declares DIR sensitive) and a 64-byte write to /dev/null. With PORT 0 (the
// `files` workload of run.sh) the connect is left out: no loopback handshake, no second thread,
// so the file and write syscalls are measured without the TCP stack's noise. Prints one JSON
// line: iterations, elapsed ns, operations per second (syscall groups per iteration: 3, or 2).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int listener;

static void *accept_loop(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(listener, NULL, NULL);
    if (c < 0) return NULL;
    close(c);
  }
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s ITERATIONS DIR PORT\n", argv[0]);
    return 2;
  }
  long iters = atol(argv[1]);
  const char *dir = argv[2];
  int port = atoi(argv[3]);
  if (iters <= 0 || port < 0 || port > 65535) {
    fprintf(stderr, "%s: ITERATIONS must be > 0 and PORT in 0..65535\n", argv[0]);
    return 2;
  }

  enum { kFiles = 4, kFileSize = 64 * 1024 };
  char paths[kFiles][4096];
  char *buf = calloc(1, kFileSize);
  for (int i = 0; i < kFiles; i++) {
    snprintf(paths[i], sizeof(paths[i]), "%s/bench-%d.bin", dir, i);
    int fd = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, buf, kFileSize) != kFileSize) {
      perror(paths[i]);
      return 1;
    }
    close(fd);
  }

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (port != 0) {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 512)) {
      fprintf(stderr, "listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
      return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, accept_loop, NULL);
  }

  int devnull = open("/dev/null", O_WRONLY);
  char small[64] = {0};
  int64_t start = now_ns();
  for (long i = 0; i < iters; i++) {
    if (port != 0) {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      // Abortive close (RST): tens of thousands of connects per run must not pile up TIME_WAIT
      // sockets and run out of ephemeral ports between rounds.
      struct linger lg = {.l_onoff = 1, .l_linger = 0};
      setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      if (connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("connect");
        return 1;
      }
      close(s);
    }
    int fd = open(paths[i % kFiles], O_RDONLY);
    if (fd < 0 || read(fd, buf, 4096) != 4096) {
      perror("read");
      return 1;
    }
    close(fd);
    if (write(devnull, small, sizeof(small)) != sizeof(small)) return 1;
  }
  int64_t elapsed = now_ns() - start;
  printf("{\"iterations\":%ld,\"elapsed_ns\":%lld,\"ops_per_s\":%.0f}\n", iters,
         (long long)elapsed, (port != 0 ? 3.0 : 2.0) * iters * 1e9 / (double)elapsed);
  return 0;
}
