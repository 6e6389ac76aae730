/* Reads a file through one kernel read path, for the tests that check the sensor's exact byte
 * totals (the vm tests run it in a busybox guest, which has no python). Prints its pid so the
 * test can find the totals the agent reports for it.
 *
 *   sluice_test_fileread MODE PATH    MODE: read pread readv preadv2 mmap sendfile
 *                                           uring-read uring-open uring-fixed uring-splice
 *
 * Totals a sensor must report (the file holds at least 100000 bytes):
 *   read 100000 (4096-byte reads to the end), pread 5000, readv 7000, preadv2 7000,
 *   mmap 40960 mapped, sendfile 100000;
 *   through an io_uring: uring-read 100000 (open(2), then 4096-byte io_uring reads to the end),
 *   uring-open 11000 (an io_uring open, a 6000-byte io_uring read and a 5000-byte pread(2) of
 *   that fd), uring-fixed 3000 (an io_uring open into a registered file slot, a read through
 *   the slot: no fd ever), uring-splice 8000 (an io_uring splice of the file into a pipe). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

/* Submits the one prepared request and returns its result (a negative errno on failure). */
static int uring_run(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int err = io_uring_submit_and_wait(ring, 1);
	if (err < 0)
		return err;
	if ((err = io_uring_wait_cqe(ring, &cqe)) < 0)
		return err;
	int res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void uring_fail(const char *what, int res)
{
	fprintf(stderr, "%s: %s\n", what, strerror(-res));
	exit(1);
}

/* The io_uring modes; returns the bytes read. `fd` is the file opened with open(2). */
static long uring_mode(const char *mode, const char *path, int fd, char *buf)
{
	struct io_uring ring;
	int res = io_uring_queue_init(8, &ring, 0);
	if (res < 0)
		uring_fail("io_uring_queue_init", res);
	long total = 0;
	if (strcmp(mode, "uring-read") == 0) {
		for (;;) {
			io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf, 4096, total);
			if ((res = uring_run(&ring)) < 0)
				uring_fail("read", res);
			if (res == 0)
				break;
			total += res;
		}
	} else if (strcmp(mode, "uring-open") == 0) {
		io_uring_prep_openat(io_uring_get_sqe(&ring), AT_FDCWD, path, O_RDONLY, 0);
		int ufd = uring_run(&ring);
		if (ufd < 0)
			uring_fail("openat", ufd);
		io_uring_prep_read(io_uring_get_sqe(&ring), ufd, buf, 6000, 0);
		if ((res = uring_run(&ring)) != 6000)
			uring_fail("read", res < 0 ? res : -EIO);
		total = res + pread(ufd, buf, 5000, 0);
		close(ufd);
	} else if (strcmp(mode, "uring-fixed") == 0) {
		if ((res = io_uring_register_files_sparse(&ring, 1)) < 0)
			uring_fail("register_files_sparse", res);
		io_uring_prep_openat_direct(io_uring_get_sqe(&ring), AT_FDCWD, path, O_RDONLY, 0, 0);
		if ((res = uring_run(&ring)) < 0)
			uring_fail("openat_direct", res);
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_read(sqe, 0 /* slot */, buf, 3000, 0);
		sqe->flags |= IOSQE_FIXED_FILE;
		if ((res = uring_run(&ring)) < 0)
			uring_fail("read", res);
		total = res;
	} else if (strcmp(mode, "uring-splice") == 0) {
		int p[2];
		if (pipe(p) != 0) {
			perror("pipe");
			exit(1);
		}
		io_uring_prep_splice(io_uring_get_sqe(&ring), fd, 0, p[1], -1, 8000, 0);
		if ((res = uring_run(&ring)) < 0)
			uring_fail("splice", res);
		total = res;
		close(p[0]);
		close(p[1]);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		exit(2);
	}
	io_uring_queue_exit(&ring);
	return total;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s read|pread|readv|preadv2|mmap|sendfile|uring-read|"
			"uring-open|uring-fixed|uring-splice PATH\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	/* The modes that open the file themselves through the io_uring get no fd of it here. */
	int fd = strcmp(mode, "uring-open") == 0 || strcmp(mode, "uring-fixed") == 0
			 ? open("/dev/null", O_RDONLY)
			 : open(argv[2], O_RDONLY);
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
	} else if (strncmp(mode, "uring-", 6) == 0) {
		total = uring_mode(mode, argv[2], fd, buf);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	printf("pid=%d bytes=%ld\n", (int)getpid(), total);
	close(fd);
	return total > 0 ? 0 : 1;
}
