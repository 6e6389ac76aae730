/* A TCP server that accepts through an io_uring, for the test that checks the sensor's inbound
 * flows of such a server (no accept(2) returns for them).
 *
 *   sluice_test_uring_server single|multishot ADDR PORT REPLY CONNS
 *
 * Listens on ADDR:PORT, prints LISTENING, accepts CONNS connections through one io_uring (one
 * single-shot accept per connection, or one multishot accept for all), and for each in turn
 * reads to EOF with recv(2), sends REPLY bytes and closes it; then prints "GOT N" with the bytes
 * received in all. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s single|multishot ADDR PORT REPLY CONNS\n", argv[0]);
		return 2;
	}
	const int multishot = strcmp(argv[1], "multishot") == 0;
	const long reply = atol(argv[4]);
	const int conns = atoi(argv[5]);
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (strchr(argv[2], ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(atoi(argv[3]));
		if (inet_pton(AF_INET6, argv[2], &a->sin6_addr) != 1)
			fail("address", 22);
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(atoi(argv[3]));
		if (inet_pton(AF_INET, argv[2], &a->sin_addr) != 1)
			fail("address", 22);
		len = sizeof(*a);
	}
	int l = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&ss, len) != 0 || listen(l, 8) != 0)
		fail("bind/listen", errno);
	struct io_uring ring;
	int err = io_uring_queue_init(8, &ring, 0);
	if (err < 0)
		fail("io_uring_queue_init", -err);
	if (multishot)
		io_uring_prep_multishot_accept(io_uring_get_sqe(&ring), l, NULL, NULL, 0);
	printf("LISTENING\n");
	fflush(stdout);
	static char buf[65536];
	long got = 0;
	for (int i = 0; i < conns; i++) {
		if (!multishot)
			io_uring_prep_accept(io_uring_get_sqe(&ring), l, NULL, NULL, 0);
		struct io_uring_cqe *cqe;
		if ((err = io_uring_submit_and_wait(&ring, 1)) < 0 ||
		    (err = io_uring_wait_cqe(&ring, &cqe)) < 0)
			fail("accept", -err);
		int c = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
		if (c < 0)
			fail("accept", -c);
		ssize_t n;
		while ((n = recv(c, buf, sizeof(buf), 0)) > 0)
			got += n;
		memset(buf, 'r', sizeof(buf));
		for (long left = reply; left > 0;) {
			n = send(c, buf, left < (long)sizeof(buf) ? left : (long)sizeof(buf), 0);
			if (n <= 0)
				fail("send", errno);
			left -= n;
		}
		close(c);
	}
	io_uring_queue_exit(&ring);
	printf("GOT %ld\n", got);
	return 0;
}
