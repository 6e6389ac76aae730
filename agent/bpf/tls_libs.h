// Where the TLS plaintext of a process can be seen, and where it cannot (DESIGN §4, "TLS
// plaintext"). The uprobe loader attaches SSL_write/SSL_read(_ex) and gnutls_record_send/recv per
// watched process; this module tells it which library files to attach to (on the host and inside
// containers), which of the symbols each file really exports, and which executables carry their
// TLS code inside themselves so that no uprobe on a shared library can see it.
//
// Nothing here needs libbpf or privileges beyond reading /proc/PID/{maps,root,map_files} of the
// watched processes; ELF files are read with libelf.
#ifndef SLUICE_AGENT_BPF_TLS_LIBS_H_
#define SLUICE_AGENT_BPF_TLS_LIBS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::bpf {

enum class TlsLibKind { kOpenSsl, kGnuTls };

struct TlsLibrary {
  TlsLibKind kind;
  // A path the agent can open from its own mount namespace: a host path, or
  // /proc/PID/root/<path> for a library only visible inside a container, or
  // /proc/PID/map_files/<range> for a mapped library whose file has been deleted (replaced by a
  // package upgrade while the process kept running).
  std::string path;
  // Identity of the file: st_dev/st_ino for system libraries; for mapped libraries the device and
  // inode the kernel reports in /proc/PID/maps (on overlayfs that is the underlying file, which
  // is also what a uprobe attached through the overlay path lands on).
  uint64_t dev = 0;
  uint64_t ino = 0;

  bool operator==(const TlsLibrary&) const = default;
};

// The library directories of Debian/Ubuntu (multiarch), RHEL/Fedora/SUSE (lib64) and local
// installs, for x86_64 and aarch64. Missing directories are skipped by the search.
std::vector<std::string> DefaultLibDirs();

// libssl.so.3 and libgnutls.so.30 found in `dirs`: symlinks resolved to the real file, only
// regular ELF files of the agent's own machine type, deduplicated by device and inode (on merged
// /usr systems /lib/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu are the same files). Ordered
// as found in `dirs`. Never fails: unreadable directories and files are skipped.
std::vector<TlsLibrary> SystemTlsLibraries(const std::vector<std::string>& dirs = DefaultLibDirs());

// The OpenSSL 3 and GnuTLS 3 libraries mapped by process `pid`, from `<proc_root>/PID/maps`,
// one entry per file (a library has several mappings). Matches libssl.so.3 / libgnutls.so.30,
// their versioned real names (libssl.so.3.0.7 on RHEL, libgnutls.so.30.34.3) and the renamed
// copies that Python wheels bundle (libssl-<hash>.so.3). NotFound when the process is gone,
// PermissionDenied when its maps cannot be read.
absl::StatusOr<std::vector<TlsLibrary>> MappedTlsLibraries(int pid,
                                                           const std::string& proc_root = "/proc");

// Which TLS entry points a library file defines in its dynamic symbol table, so the loader
// attaches only to symbols that exist (SSL_write_ex/SSL_read_ex are OpenSSL >= 1.1.1).
struct TlsSymbols {
  bool ssl_write = false;
  bool ssl_write_ex = false;
  bool ssl_read = false;
  bool ssl_read_ex = false;
  bool gnutls_record_send = false;
  bool gnutls_record_recv = false;

  bool any() const {
    return ssl_write || ssl_write_ex || ssl_read || ssl_read_ex || gnutls_record_send ||
           gnutls_record_recv;
  }
  bool operator==(const TlsSymbols&) const = default;
};

// Reads .dynsym of `path`. InvalidArgument for a file that is not ELF or has no .dynsym;
// NotFound/PermissionDenied when it cannot be opened.
absl::StatusOr<TlsSymbols> LibrarySymbols(const std::string& path);

// File offsets of the TLS entry points a library defines (what a uprobe attaches to), resolved
// once per library so attaching to a new process costs no ELF parsing.
struct TlsSymbolOffset {
  std::string name;
  uint64_t offset = 0;
};
absl::StatusOr<std::vector<TlsSymbolOffset>> TlsSymbolOffsets(const std::string& path);

enum class TlsCoverage {
  kNone,           // no TLS code seen: not linked against libssl/libgnutls, no SSL_* defined
                   // (the process may still dlopen a TLS library later, as Python's _ssl does;
                   // MappedTlsLibraries sees that at run time)
  kSharedLibrary,  // TLS comes from a shared libssl/libgnutls: the uprobes see it
  kStaticOpenSsl,  // SSL_write(_ex) defined in the executable itself (BoringSSL/static OpenSSL)
  kGoCryptoTls,    // a Go program: crypto/tls, not coverable by uprobes (see tls_libs.cc)
  kUnknown,        // cannot tell: statically linked and stripped (no symbols), or linked
                   // against a TLS library version the uprobes do not target (libssl.so.1.1)
};

// Classifies an executable by reading its ELF headers, sections and symbols (the file is
// mapped, not read whole). Libraries it needs are followed through DT_NEEDED (bounded) in its
// DT_RUNPATH and DefaultLibDirs(); for a path under /proc/PID/root/ or for /proc/PID/exe the
// search happens inside /proc/PID/root, the process's own file system.
// InvalidArgument for a file that is not ELF (a script: inspect its interpreter instead);
// NotFound/PermissionDenied when it cannot be opened.
absl::StatusOr<TlsCoverage> InspectExecutable(const std::string& path);

// For reports: "none", "shared-library", "not covered: static OpenSSL/BoringSSL",
// "not covered: Go crypto/tls", "unknown".
std::string TlsCoverageName(TlsCoverage coverage);

// "openssl" or "gnutls".
std::string TlsLibKindName(TlsLibKind kind);

}  // namespace sluice::bpf

#endif  // SLUICE_AGENT_BPF_TLS_LIBS_H_
