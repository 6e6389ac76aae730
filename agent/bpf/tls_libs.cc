#include "agent/bpf/tls_libs.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/common/unique_fd.h"

namespace sluice::bpf {
namespace {

// Go programs are not covered, on purpose: crypto/tls is Go code compiled into the executable
// (there is no shared library to hook and no stable C symbol), and uretprobes crash Go programs,
// because the Go runtime moves goroutine stacks and the return-address trampoline the kernel
// plants on the stack moves with them. Covering Go would need per-binary offsets of
// crypto/tls.(*Conn).Write and return-instruction probes instead of uretprobes.
constexpr std::string_view kGoBuildInfoMagic("\xff Go buildinf:", 14);
// Go's own reader (debug/buildinfo) looks for the magic in the first 64 KiB of the data segment.
constexpr size_t kGoBuildInfoSearchBytes = 64 * 1024;
// Bounds of the DT_NEEDED walk: a real dependency closure is a few dozen libraries.
constexpr int kMaxDependencies = 128;
constexpr size_t kMaxMapsBytes = 64 << 20;

#if defined(__x86_64__)
constexpr int kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int kHostMachine = EM_AARCH64;
#else
constexpr int kHostMachine = EM_NONE;  // no machine check
#endif

absl::Status OpenError(int err, absl::string_view path) {
  std::string msg = absl::StrCat("cannot open ", path, ": ", strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ESRCH:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

// A path inside the file system of another process: `root` is /proc/PID/root, `rel` the path
// as that process sees it. Plain host paths have an empty root.
struct RootedPath {
  std::string root;
  std::string rel;
};

bool IsDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// "/proc/123/root/usr/bin/x" → {"/proc/123/root", "/usr/bin/x"}; anything else → {"", path}.
RootedPath SplitRoot(const std::string& path) {
  absl::string_view rest(path);
  if (absl::ConsumePrefix(&rest, "/proc/")) {
    const size_t slash = rest.find('/');
    if (slash != absl::string_view::npos && IsDigits(rest.substr(0, slash))) {
      absl::string_view after = rest.substr(slash);
      if (absl::ConsumePrefix(&after, "/root") && (after.empty() || after[0] == '/')) {
        return {path.substr(0, path.size() - after.size()),
                after.empty() ? std::string("/") : std::string(after)};
      }
    }
  }
  return {"", path};
}

// "/proc/123/exe" → "/proc/123", else "".
std::string ProcDirOfExeLink(const std::string& path) {
  absl::string_view rest(path);
  if (!absl::ConsumePrefix(&rest, "/proc/") || !absl::ConsumeSuffix(&rest, "/exe")) return "";
  return IsDigits(rest) ? absl::StrCat("/proc/", rest) : "";
}

// Opens `p.rel` inside `p.root` with absolute symlinks resolved against that root
// (RESOLVE_IN_ROOT): walking /proc/PID/root/... with a plain open() resolves an absolute symlink
// such as /usr/bin/java -> /etc/alternatives/java in the agent's file system instead.
int OpenInRoot(const RootedPath& p) {
  if (p.root.empty()) return open(p.rel.c_str(), O_RDONLY | O_CLOEXEC);
  UniqueFd root(open(p.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return -1;
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT;
  const int fd = static_cast<int>(
      syscall(SYS_openat2, root.get(), p.rel.c_str(), &how, sizeof(how)));
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
  // Kernels before 5.6 (or seccomp filters) lack openat2: fall back to the plain walk.
  return open(absl::StrCat(p.root, p.rel).c_str(), O_RDONLY | O_CLOEXEC);
}

struct ElfDeleter {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfDeleter>;

// An open ELF file. Members are destroyed in reverse order, so the libelf handle is released
// before the descriptor it reads from is closed.
struct ElfFile {
  UniqueFd fd;
  ElfPtr elf;
  GElf_Ehdr ehdr;
};

bool LibelfReady() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

// Takes ownership of `raw_fd` (the result of an open of `display`). ELF_C_READ reads lazily with
// pread instead of mapping the file, so a file truncated under us yields an error, not SIGBUS.
absl::StatusOr<ElfFile> ElfFromFd(int raw_fd, const std::string& display) {
  if (raw_fd < 0) return OpenError(errno, display);
  ElfFile file;
  file.fd.reset(raw_fd);
  if (!LibelfReady()) return absl::InternalError("libelf: version mismatch");
  struct stat st;
  if (fstat(file.fd.get(), &st) != 0) return OpenError(errno, display);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(display, ": not a regular file"));
  }
  file.elf.reset(elf_begin(file.fd.get(), ELF_C_READ, nullptr));
  if (file.elf == nullptr || elf_kind(file.elf.get()) != ELF_K_ELF ||
      gelf_getehdr(file.elf.get(), &file.ehdr) == nullptr) {
    char head[2] = {0, 0};
    if (pread(file.fd.get(), head, sizeof(head), 0) == 2 && head[0] == '#' && head[1] == '!') {
      return absl::InvalidArgumentError(
          absl::StrCat(display, ": not an ELF file but a #! script; inspect its interpreter"));
    }
    return absl::InvalidArgumentError(absl::StrCat(display, ": not an ELF file"));
  }
  return file;
}

absl::StatusOr<ElfFile> OpenElf(const std::string& path) {
  return ElfFromFd(open(path.c_str(), O_RDONLY | O_CLOEXEC), path);
}

template <typename Fn>
void ForEachSection(Elf* elf, Fn&& fn) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr) fn(scn, shdr);
  }
}

// Calls fn(name, sym) for every named symbol of the sections of type `type` (SHT_SYMTAB or
// SHT_DYNSYM) until it returns false. Names are cut at '@' (symbol versions in .symtab of some
// links).
template <typename Fn>
void ForEachSymbol(Elf* elf, GElf_Word type, Fn&& fn) {
  bool more = true;
  ForEachSection(elf, [&](Elf_Scn* scn, const GElf_Shdr& shdr) {
    if (!more || shdr.sh_type != type || shdr.sh_entsize == 0) return;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) return;
    const size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count && more; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (name == nullptr || name[0] == '\0') continue;
      absl::string_view n(name);
      n = n.substr(0, n.find('@'));
      more = fn(n, sym);
    }
  });
}

bool IsDefinedFunction(const GElf_Sym& sym) {
  const int type = GELF_ST_TYPE(sym.st_info);
  return sym.st_shndx != SHN_UNDEF && (type == STT_FUNC || type == STT_GNU_IFUNC);
}

bool IsTlsEntryPoint(absl::string_view name) {
  return name == "SSL_write" || name == "SSL_write_ex" || name == "SSL_read" ||
         name == "SSL_read_ex" || name == "gnutls_record_send" || name == "gnutls_record_recv";
}

// "libssl.so.3", "libssl.so.3.0.7" (RHEL's real name) and "libssl-1a2b3c4d.so.3" (the renamed
// copy auditwheel bundles into Python wheels); not NSS's "libssl3.so".
bool MatchesSoname(absl::string_view base, absl::string_view stem, absl::string_view version) {
  const std::string exact = absl::StrCat(stem, ".so.", version);
  if (base == exact || absl::StartsWith(base, absl::StrCat(exact, "."))) return true;
  if (!absl::StartsWith(base, absl::StrCat(stem, "-"))) return false;
  const std::string so = absl::StrCat(".so.", version);
  return absl::EndsWith(base, so) || absl::StrContains(base, absl::StrCat(so, "."));
}

std::optional<TlsLibKind> CoveredTlsLibrary(absl::string_view base) {
  if (MatchesSoname(base, "libssl", "3")) return TlsLibKind::kOpenSsl;
  if (MatchesSoname(base, "libgnutls", "30")) return TlsLibKind::kGnuTls;
  return std::nullopt;
}

// A TLS library the uprobes do not target: another soname version (libssl.so.1.1,
// libssl.so.10, libgnutls.so.28).
bool OtherTlsLibrary(absl::string_view base) {
  return absl::StartsWith(base, "libssl.so.") || absl::StartsWith(base, "libgnutls.so.");
}

absl::string_view Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

absl::string_view Dirname(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// --- executables -------------------------------------------------------------------------

bool IsGoBinary(const ElfFile& file) {
  bool go = false;
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(file.elf.get(), &shstrndx) == 0) {
    ForEachSection(file.elf.get(), [&](Elf_Scn*, const GElf_Shdr& shdr) {
      const char* name = elf_strptr(file.elf.get(), shstrndx, shdr.sh_name);
      if (name == nullptr) return;
      const absl::string_view n(name);
      if (n == ".go.buildinfo" || n == ".note.go.buildid" || n == ".gopclntab") go = true;
    });
  }
  if (go) return true;
  // Without section headers (stripped by sstrip, packed) the build info blob is still at the
  // start of the writable data segment.
  size_t phnum = 0;
  if (elf_getphdrnum(file.elf.get(), &phnum) != 0) return false;
  std::string buf;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(file.elf.get(), static_cast<int>(i), &phdr) == nullptr) continue;
    if (phdr.p_type != PT_LOAD || (phdr.p_flags & PF_W) == 0 || phdr.p_filesz == 0) continue;
    buf.resize(std::min<uint64_t>(phdr.p_filesz, kGoBuildInfoSearchBytes));
    const ssize_t n = pread(file.fd.get(), buf.data(), buf.size(), phdr.p_offset);
    if (n <= 0) continue;
    if (std::string_view(buf.data(), n).find(kGoBuildInfoMagic) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

struct DynamicInfo {
  std::vector<std::string> needed;
  std::vector<std::string> search;  // DT_RUNPATH, else DT_RPATH, split on ':'
};

DynamicInfo ReadDynamic(Elf* elf) {
  DynamicInfo info;
  std::vector<std::string> rpath, runpath;
  ForEachSection(elf, [&](Elf_Scn* scn, const GElf_Shdr& shdr) {
    if (shdr.sh_type != SHT_DYNAMIC || shdr.sh_entsize == 0) return;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) return;
    const size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Dyn dyn;
      if (gelf_getdyn(data, static_cast<int>(i), &dyn) == nullptr || dyn.d_tag == DT_NULL) break;
      if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RPATH && dyn.d_tag != DT_RUNPATH) continue;
      const char* s = elf_strptr(elf, shdr.sh_link, dyn.d_un.d_val);
      if (s == nullptr) continue;
      if (dyn.d_tag == DT_NEEDED) {
        info.needed.emplace_back(s);
      } else {
        auto& out = dyn.d_tag == DT_RUNPATH ? runpath : rpath;
        for (absl::string_view d : absl::StrSplit(s, ':', absl::SkipEmpty())) out.emplace_back(d);
      }
    }
  });
  info.search = runpath.empty() ? std::move(rpath) : std::move(runpath);
  return info;
}

bool HasInterpreter(Elf* elf) {
  size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return false;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) != nullptr && phdr.p_type == PT_INTERP) {
      return true;
    }
  }
  return false;
}

enum class DependencyTls { kNone, kCovered, kOther };

// Follows DT_NEEDED breadth first, the way the dynamic loader resolves it (minus
// LD_LIBRARY_PATH and ld.so.cache, which the agent cannot see), inside `root`.
// `origin` is the directory of the executable as the process sees it ($ORIGIN).
DependencyTls FindTlsDependency(const DynamicInfo& exe, const std::string& root,
                                const std::string& origin) {
  struct Pending {
    std::string name;
    std::vector<std::string> search;
    std::string origin;
  };
  std::deque<Pending> queue;
  for (const auto& n : exe.needed) queue.push_back({n, exe.search, origin});
  absl::flat_hash_set<std::string> seen;
  DependencyTls result = DependencyTls::kNone;
  int opened = 0;
  const std::vector<std::string> defaults = DefaultLibDirs();
  while (!queue.empty() && opened < kMaxDependencies) {
    Pending p = std::move(queue.front());
    queue.pop_front();
    if (!seen.insert(p.name).second) continue;
    const absl::string_view base = Basename(p.name);
    if (CoveredTlsLibrary(base).has_value()) return DependencyTls::kCovered;
    if (OtherTlsLibrary(base)) {
      result = DependencyTls::kOther;
      continue;
    }
    std::vector<std::string> candidates;
    if (absl::StrContains(p.name, '/')) {
      candidates.push_back(p.name);
    } else {
      for (const auto& dir : p.search) {
        std::string d = dir;
        if (absl::StartsWith(d, "$ORIGIN")) d = absl::StrCat(p.origin, d.substr(7));
        if (absl::StartsWith(d, "${ORIGIN}")) d = absl::StrCat(p.origin, d.substr(9));
        candidates.push_back(absl::StrCat(d, "/", p.name));
      }
      for (const auto& dir : defaults) candidates.push_back(absl::StrCat(dir, "/", p.name));
    }
    for (const auto& c : candidates) {
      if (c.empty() || c[0] != '/') continue;
      const int fd = OpenInRoot({root, c});
      if (fd < 0) continue;
      ++opened;
      auto lib = ElfFromFd(fd, c);
      if (!lib.ok() || lib->ehdr.e_type != ET_DYN) continue;
      DynamicInfo info = ReadDynamic(lib->elf.get());
      for (auto& n : info.needed) {
        queue.push_back({std::move(n), info.search, std::string(Dirname(c))});
      }
      break;
    }
  }
  return result;
}

// --- /proc/PID/maps ----------------------------------------------------------------------

absl::StatusOr<std::string> ReadProcFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return OpenError(errno, path);
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      // A process exiting while we read its maps yields ESRCH.
      return OpenError(errno, path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxMapsBytes) {
      return absl::ResourceExhaustedError(absl::StrCat(path, ": larger than ", kMaxMapsBytes));
    }
  }
  return out;
}

struct MapsEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  std::string path;
  bool deleted = false;
};

// "start-end perms offset major:minor inode    path". The path is everything after the blank
// run that follows the inode: it may contain spaces. The kernel escapes only '\n' (as "\012").
std::optional<MapsEntry> ParseMapsLine(absl::string_view line) {
  MapsEntry e;
  absl::string_view rest = line;
  absl::string_view fields[5];
  for (auto& f : fields) {
    rest = absl::StripLeadingAsciiWhitespace(rest);
    const size_t sp = rest.find(' ');
    f = rest.substr(0, sp);
    rest = sp == absl::string_view::npos ? absl::string_view() : rest.substr(sp);
  }
  const size_t dash = fields[0].find('-');
  const size_t colon = fields[3].find(':');
  uint32_t major_num = 0, minor_num = 0;
  if (dash == absl::string_view::npos || colon == absl::string_view::npos ||
      !absl::SimpleHexAtoi(fields[0].substr(0, dash), &e.start) ||
      !absl::SimpleHexAtoi(fields[0].substr(dash + 1), &e.end) ||
      !absl::SimpleHexAtoi(fields[3].substr(0, colon), &major_num) ||
      !absl::SimpleHexAtoi(fields[3].substr(colon + 1), &minor_num) ||
      !absl::SimpleAtoi(fields[4], &e.ino)) {
    return std::nullopt;
  }
  e.dev = makedev(major_num, minor_num);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!rest.empty() && rest.back() == '\r') rest.remove_suffix(1);
  e.deleted = absl::ConsumeSuffix(&rest, " (deleted)");
  e.path = std::string(rest);
  return e;
}

bool SameFile(const std::string& path, uint64_t dev, uint64_t ino) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_dev) == dev &&
         static_cast<uint64_t>(st.st_ino) == ino;
}

}  // namespace

std::vector<std::string> DefaultLibDirs() {
  return {
      // Debian/Ubuntu multiarch (on merged-/usr systems /lib is a link to /usr/lib).
      "/lib/x86_64-linux-gnu",
      "/usr/lib/x86_64-linux-gnu",
      "/lib/aarch64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu",
      // RHEL/Fedora/SUSE/Amazon Linux.
      "/usr/lib64",
      "/lib64",
      // Arch, Alpine, and distributions without multiarch.
      "/usr/lib",
      "/lib",
      // Local builds of OpenSSL 3 (./config installs into lib64 on x86_64).
      "/usr/local/lib",
      "/usr/local/lib64",
      "/usr/local/lib/x86_64-linux-gnu",
      "/usr/local/lib/aarch64-linux-gnu",
  };
}

std::vector<TlsLibrary> SystemTlsLibraries(const std::vector<std::string>& dirs) {
  std::vector<TlsLibrary> out;
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> seen;
  for (const auto& dir : dirs) {
    for (const auto& [name, kind] : {std::pair{"libssl.so.3", TlsLibKind::kOpenSsl},
                                     std::pair{"libgnutls.so.30", TlsLibKind::kGnuTls}}) {
      const std::string candidate = absl::StrCat(dir, "/", name);
      char resolved[PATH_MAX];
      if (realpath(candidate.c_str(), resolved) == nullptr) continue;
      struct stat st;
      if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) continue;
      const std::pair<uint64_t, uint64_t> id{st.st_dev, st.st_ino};
      if (seen.contains(id)) continue;
      // A foreign-architecture copy (multiarch libssl3:arm64 on an x86_64 host) is never mapped
      // by a process the agent can watch, and a uprobe on it would only waste a link.
      auto elf = OpenElf(resolved);
      if (!elf.ok() || elf->ehdr.e_type != ET_DYN) continue;
      if (kHostMachine != EM_NONE && elf->ehdr.e_machine != kHostMachine) continue;
      seen.insert(id);
      out.push_back({kind, resolved, id.first, id.second});
    }
  }
  return out;
}

absl::StatusOr<std::vector<TlsLibrary>> MappedTlsLibraries(int pid,
                                                           const std::string& proc_root) {
  const std::string proc_dir = absl::StrCat(proc_root, "/", pid);
  auto maps = ReadProcFile(absl::StrCat(proc_dir, "/maps"));
  if (!maps.ok()) return maps.status();
  std::vector<TlsLibrary> out;
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> seen;
  for (absl::string_view line : absl::StrSplit(*maps, '\n', absl::SkipEmpty())) {
    std::optional<MapsEntry> e = ParseMapsLine(line);
    // Anonymous and special mappings ([heap], [vdso]) have inode 0 or no absolute path.
    if (!e.has_value() || e->ino == 0 || e->path.empty() || e->path[0] != '/') continue;
    const std::optional<TlsLibKind> kind = CoveredTlsLibrary(Basename(e->path));
    if (!kind.has_value() || !seen.insert({e->dev, e->ino}).second) continue;
    // The maps path is the file as the process sees it. The agent's view of that path may be
    // another file (a container with its own /usr/lib) or nothing at all.
    std::string path;
    const std::string in_root = absl::StrCat(proc_dir, "/root", e->path);
    if (SameFile(e->path, e->dev, e->ino)) {
      path = e->path;
    } else if (!e->deleted || SameFile(in_root, e->dev, e->ino)) {
      // On overlayfs the mapping names the underlying file while stat through the overlay
      // reports the overlay's device, so a mismatch here is expected for containers; a uprobe
      // attached through the overlay path lands on the underlying inode all the same.
      path = in_root;
    } else {
      // The file was replaced (package upgrade) while the process kept running: its old inode
      // is reachable only through the mapping itself.
      path = absl::StrFormat("%s/map_files/%x-%x", proc_dir, e->start, e->end);
    }
    out.push_back({*kind, std::move(path), e->dev, e->ino});
  }
  return out;
}

absl::StatusOr<TlsSymbols> LibrarySymbols(const std::string& path) {
  auto file = OpenElf(path);
  if (!file.ok()) return file.status();
  bool has_dynsym = false;
  ForEachSection(file->elf.get(), [&](Elf_Scn*, const GElf_Shdr& shdr) {
    if (shdr.sh_type == SHT_DYNSYM) has_dynsym = true;
  });
  if (!has_dynsym) return absl::InvalidArgumentError(absl::StrCat(path, ": no .dynsym"));
  TlsSymbols syms;
  ForEachSymbol(file->elf.get(), SHT_DYNSYM, [&](absl::string_view name, const GElf_Sym& sym) {
    if (!IsDefinedFunction(sym)) return true;
    if (name == "SSL_write") syms.ssl_write = true;
    if (name == "SSL_write_ex") syms.ssl_write_ex = true;
    if (name == "SSL_read") syms.ssl_read = true;
    if (name == "SSL_read_ex") syms.ssl_read_ex = true;
    if (name == "gnutls_record_send") syms.gnutls_record_send = true;
    if (name == "gnutls_record_recv") syms.gnutls_record_recv = true;
    return true;
  });
  return syms;
}

absl::StatusOr<std::vector<TlsSymbolOffset>> TlsSymbolOffsets(const std::string& path) {
  auto file = OpenElf(path);
  if (!file.ok()) return file.status();
  size_t nphdr = 0;
  if (elf_getphdrnum(file->elf.get(), &nphdr) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no program headers"));
  }
  std::vector<GElf_Phdr> loads;
  for (size_t i = 0; i < nphdr; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(file->elf.get(), static_cast<int>(i), &ph) != nullptr && ph.p_type == PT_LOAD) {
      loads.push_back(ph);
    }
  }
  std::vector<TlsSymbolOffset> out;
  ForEachSymbol(file->elf.get(), SHT_DYNSYM, [&](absl::string_view name, const GElf_Sym& sym) {
    if (!IsDefinedFunction(sym) || !IsTlsEntryPoint(name)) return true;
    // The uprobe offset is a file offset: translate the symbol's address through the loadable
    // segment that contains it.
    for (const GElf_Phdr& ph : loads) {
      if (sym.st_value >= ph.p_vaddr && sym.st_value < ph.p_vaddr + ph.p_memsz) {
        out.push_back({std::string(name), sym.st_value - ph.p_vaddr + ph.p_offset});
        break;
      }
    }
    return true;
  });
  return out;
}

absl::StatusOr<TlsCoverage> InspectExecutable(const std::string& path) {
  RootedPath where = SplitRoot(path);
  std::string origin;
  const std::string proc_dir = ProcDirOfExeLink(path);
  int fd;
  if (!proc_dir.empty()) {
    // /proc/PID/exe opens the very file the process runs; its libraries live in its root.
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    where.root = absl::StrCat(proc_dir, "/root");
    char target[PATH_MAX];
    const ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n > 0) origin = std::string(Dirname(absl::string_view(target, n)));
  } else {
    fd = OpenInRoot(where);
    origin = std::string(Dirname(where.rel));
  }
  auto file = ElfFromFd(fd, path);
  if (!file.ok()) return file.status();
  if (file->ehdr.e_type != ET_EXEC && file->ehdr.e_type != ET_DYN) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ELF file is not an executable"));
  }
  Elf* elf = file->elf.get();
  if (IsGoBinary(*file)) return TlsCoverage::kGoCryptoTls;

  bool has_symtab = false;
  bool defines_write = false;
  bool imports_tls = false;
  ForEachSection(elf, [&](Elf_Scn*, const GElf_Shdr& shdr) {
    if (shdr.sh_type == SHT_SYMTAB) has_symtab = true;
  });
  auto check = [&](absl::string_view name, const GElf_Sym& sym) {
    if (!IsTlsEntryPoint(name)) return true;
    if (sym.st_shndx == SHN_UNDEF) {
      imports_tls = true;
    } else if (IsDefinedFunction(sym) && absl::StartsWith(name, "SSL_write")) {
      defines_write = true;
    }
    return !defines_write;
  };
  // .dynsym first: it is small, and executables with OpenSSL inside often export it there
  // (Node.js does); .symtab of a large unstripped binary holds 100k+ symbols.
  ForEachSymbol(elf, SHT_DYNSYM, check);
  if (!defines_write) ForEachSymbol(elf, SHT_SYMTAB, check);
  if (defines_write) return TlsCoverage::kStaticOpenSsl;
  if (imports_tls) return TlsCoverage::kSharedLibrary;

  const DynamicInfo dyn = ReadDynamic(elf);
  if (dyn.needed.empty() && !HasInterpreter(elf)) {
    // Statically linked: without a symbol table a static TLS stack would be invisible here.
    return has_symtab ? TlsCoverage::kNone : TlsCoverage::kUnknown;
  }
  switch (FindTlsDependency(dyn, where.root, origin)) {
    case DependencyTls::kCovered:
      return TlsCoverage::kSharedLibrary;
    case DependencyTls::kOther:
      return TlsCoverage::kUnknown;
    case DependencyTls::kNone:
      break;
  }
  return TlsCoverage::kNone;
}

std::string TlsCoverageName(TlsCoverage coverage) {
  switch (coverage) {
    case TlsCoverage::kNone:
      return "none";
    case TlsCoverage::kSharedLibrary:
      return "shared-library";
    case TlsCoverage::kStaticOpenSsl:
      return "not covered: static OpenSSL/BoringSSL";
    case TlsCoverage::kGoCryptoTls:
      return "not covered: Go crypto/tls";
    case TlsCoverage::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string TlsLibKindName(TlsLibKind kind) {
  return kind == TlsLibKind::kGnuTls ? "gnutls" : "openssl";
}

}  // namespace sluice::bpf
