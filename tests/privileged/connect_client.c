/* Test client for the privileged suite: one connect() to ADDR:PORT, then a few bytes.
 * Prints "OK" or "ERR <errno name>" and exits 0 either way (the test asserts the text).
 * Usage: sluice_test_connect inet|inet6|udp|udpc ADDR PORT
 * "inet6" with an IPv4 address connects an AF_INET6 socket to ::ffff:ADDR (the v4-mapped path).
 * "udp" sends one datagram with sendto() (no connect); "udpc" connects a UDP socket, then
 * sends (IPv4); "udp6" and "udpc6" do the same from an AF_INET6 socket (an IPv4 ADDR is sent
 * v4-mapped). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s inet|inet6|udp|udpc|udp6|udpc6 ADDR PORT\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[3]);
	int fd;
	int rc;
	if (strcmp(argv[1], "udp") == 0 || strcmp(argv[1], "udpc") == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
		if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
			return 2;
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		const char dgram[] = "datagram from sluice test\n";
		if (strcmp(argv[1], "udpc") == 0) {
			rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
			if (rc == 0)
				rc = send(fd, dgram, sizeof(dgram) - 1, 0) < 0 ? -1 : 0;
		} else {
			rc = sendto(fd, dgram, sizeof(dgram) - 1, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0
				     ? -1 : 0;
		}
		if (rc != 0) {
			printf("ERR %s\n", errno == EPERM ? "EPERM" : strerror(errno));
			return 0;
		}
		close(fd);
		printf("OK\n");
		return 0;
	}
	if (strcmp(argv[1], "udp6") == 0 || strcmp(argv[1], "udpc6") == 0) {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		char mapped[64];
		const char *text = argv[2];
		if (strchr(text, ':') == NULL) {
			snprintf(mapped, sizeof(mapped), "::ffff:%s", text);
			text = mapped;
		}
		if (inet_pton(AF_INET6, text, &sa.sin6_addr) != 1)
			return 2;
		fd = socket(AF_INET6, SOCK_DGRAM, 0);
		const char dgram[] = "datagram from sluice test\n";
		if (strcmp(argv[1], "udpc6") == 0) {
			rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
			if (rc == 0)
				rc = send(fd, dgram, sizeof(dgram) - 1, 0) < 0 ? -1 : 0;
		} else {
			rc = sendto(fd, dgram, sizeof(dgram) - 1, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0
				     ? -1 : 0;
		}
		if (rc != 0) {
			printf("ERR %s\n", errno == EPERM ? "EPERM" : strerror(errno));
			return 0;
		}
		close(fd);
		printf("OK\n");
		return 0;
	}
	if (strcmp(argv[1], "inet") == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
		if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
			return 2;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		char mapped[64];
		const char *text = argv[2];
		if (strchr(text, ':') == NULL) {
			snprintf(mapped, sizeof(mapped), "::ffff:%s", text);
			text = mapped;
		}
		if (inet_pton(AF_INET6, text, &sa.sin6_addr) != 1)
			return 2;
		fd = socket(AF_INET6, SOCK_STREAM, 0);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (rc != 0) {
		printf("ERR %s\n", errno == EPERM ? "EPERM" : strerror(errno));
		return 0;
	}
	const char msg[] = "hello from sluice test\n";
	if (write(fd, msg, sizeof(msg) - 1) < 0)
		perror("write");
	close(fd);
	printf("OK\n");
	return 0;
}
