/* A dynamically linked C program that carries the Go build-info magic at the start of a writable
 * data section, the way a Go executable does in .go.buildinfo. The section is named otherwise, so
 * agent/bpf/tls_libs_test.cc exercises the data-segment search used when section headers are
 * gone; the build also copies the blob into a section named .go.buildinfo of another stub. */
__attribute__((section(".sluice_gobi"), aligned(16), used))
char go_buildinfo[32] = "\xff Go buildinf:\x08\x02";

int main(void) { return go_buildinfo[1] == ' ' ? 0 : 1; }
