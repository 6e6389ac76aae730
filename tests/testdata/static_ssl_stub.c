/* A statically linked program that defines SSL_write/SSL_write_ex itself, the way an executable
 * with BoringSSL or a static OpenSSL inside does. agent/bpf/tls_libs_test.cc checks that
 * InspectExecutable reports it as not covered by the shared-library uprobes (and, stripped,
 * as unknown). */
#include <stddef.h>

__attribute__((noinline, used)) int SSL_write(void *ssl, const void *buf, int num) {
  return ssl != NULL && buf != NULL ? num : -1;
}

__attribute__((noinline, used)) int SSL_write_ex(void *ssl, const void *buf, size_t num,
                                                 size_t *written) {
  if (written != NULL) *written = num;
  return ssl != NULL && buf != NULL;
}

int main(void) {
  char buf[4] = {0};
  return SSL_write(buf, buf, 0);
}
