/* Reads a file through one kernel read path, for the tests that check the sensor's exact byte
 * totals (the vm tests run it in a busybox guest, which has no python). Prints its pid so the
 * test can find the totals the agent reports for it.
 *
 *   sluice_test_fileread MODE PATH    MODE: read pread readv preadv2 mmap sendfile
 *
 * Totals a sensor must report (the file holds at least 100000 bytes):
 *   read 100000 (4096-byte reads to the end), pread 5000, readv 7000, preadv2 7000,
 *   mmap 40960 mapped, sendfile 100000. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s read|pread|readv|preadv2|mmap|sendfile PATH\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	int fd = open(argv[2], O_RDONLY);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	static char buf[8192];
	long total = 0, n;
	if (strcmp(mode, "read") == 0) {
		while ((n = read(fd, buf, 4096)) > 0)
			total += n;
	} else if (strcmp(mode, "pread") == 0) {
		total = pread(fd, buf, 5000, 100);
	} else if (strcmp(mode, "readv") == 0 || strcmp(mode, "preadv2") == 0) {
		struct iovec iov[2] = {{buf, 3000}, {buf + 3000, 4000}};
		total = mode[1] == 'r' ? preadv2(fd, iov, 2, 0, 0) : readv(fd, iov, 2);
	} else if (strcmp(mode, "mmap") == 0) {
		volatile char *m = mmap(NULL, 40960, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		(void)m[0];  /* touch it */
		total = 40960;
	} else if (strcmp(mode, "sendfile") == 0) {
		int out = open("/dev/null", O_WRONLY);
		while ((n = sendfile(out, fd, NULL, 65536)) > 0)
			total += n;
		close(out);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	printf("pid=%d bytes=%ld\n", (int)getpid(), total);
	close(fd);
	return total > 0 ? 0 : 1;
}
