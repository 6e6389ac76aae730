#include "agent/bpf/tls_libs.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sluice::bpf {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// The first of `candidates` that exists, or "".
std::string FirstExisting(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates) {
    if (access(c.c_str(), R_OK) == 0) return c;
  }
  return "";
}

std::string SystemLibssl() {
  return FirstExisting({"/usr/lib/x86_64-linux-gnu/libssl.so.3",
                        "/usr/lib/aarch64-linux-gnu/libssl.so.3", "/usr/lib64/libssl.so.3"});
}

std::string SystemLibgnutls() {
  return FirstExisting({"/usr/lib/x86_64-linux-gnu/libgnutls.so.30",
                        "/usr/lib/aarch64-linux-gnu/libgnutls.so.30",
                        "/usr/lib64/libgnutls.so.30"});
}

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  return realpath(p.c_str(), buf) != nullptr ? std::string(buf) : "";
}

struct stat Stat(const std::string& p) {
  struct stat st = {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st;
}

// A fresh directory under the test's temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sluice_tls_libs_XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& rel, const std::string& content) const {
    const fs::path p = fs::path(path_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }

 private:
  std::string path_;
};

// --- SystemTlsLibraries --------------------------------------------------------------------

TEST(SystemTlsLibrariesTest, FindsTheSystemLibsslOnceWithItsIdentity) {
  const std::string libssl = SystemLibssl();
  if (libssl.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  const std::vector<TlsLibrary> libs = SystemTlsLibraries();
  int openssl = 0;
  for (const auto& lib : libs) {
    if (lib.kind != TlsLibKind::kOpenSsl) continue;
    ++openssl;
    EXPECT_EQ(lib.path, RealPath(libssl));
    const struct stat st = Stat(libssl);
    EXPECT_EQ(lib.dev, st.st_dev);
    EXPECT_EQ(lib.ino, st.st_ino);
  }
  // /lib/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu are one directory on merged /usr.
  EXPECT_EQ(openssl, 1);
}

TEST(SystemTlsLibrariesTest, ResolvesSymlinksToTheRealGnuTlsFile) {
  const std::string gnutls = SystemLibgnutls();
  if (gnutls.empty()) GTEST_SKIP() << "no libgnutls.so.30 on this host";
  int found = 0;
  for (const auto& lib : SystemTlsLibraries()) {
    if (lib.kind != TlsLibKind::kGnuTls) continue;
    ++found;
    EXPECT_EQ(lib.path, RealPath(gnutls));  // libgnutls.so.30.x.y, not the symlink
    struct stat lst;
    ASSERT_EQ(lstat(lib.path.c_str(), &lst), 0);
    EXPECT_TRUE(S_ISREG(lst.st_mode));
  }
  EXPECT_EQ(found, 1);
}

TEST(SystemTlsLibrariesTest, DeduplicatesLinksAndSkipsNonElfAndDanglingNames) {
  const std::string libssl = SystemLibssl();
  if (libssl.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  TempDir links, bogus;
  ASSERT_EQ(symlink(libssl.c_str(), (links.path() + "/libssl.so.3").c_str()), 0);
  bogus.Write("libssl.so.3", "not a library\n");
  ASSERT_EQ(symlink("/nonexistent/libgnutls.so.30", (bogus.path() + "/libgnutls.so.30").c_str()),
            0);
  const std::vector<TlsLibrary> libs = SystemTlsLibraries(
      {bogus.path(), links.path(), fs::path(libssl).parent_path().string(), "/nonexistent"});
  int openssl = 0;
  for (const auto& lib : libs) {
    if (lib.kind == TlsLibKind::kOpenSsl) {
      ++openssl;
      EXPECT_EQ(lib.path, RealPath(libssl));
    }
  }
  EXPECT_EQ(openssl, 1);
}

TEST(SystemTlsLibrariesTest, NoDirectoriesNoLibraries) {
  EXPECT_TRUE(SystemTlsLibraries({}).empty());
  EXPECT_TRUE(SystemTlsLibraries({"/nonexistent", ""}).empty());
}

TEST(SystemTlsLibrariesTest, DefaultDirsCoverDebianRhelAndArm) {
  const std::vector<std::string> dirs = DefaultLibDirs();
  for (const char* d : {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
                        "/lib64", "/usr/local/lib", "/usr/lib/aarch64-linux-gnu"}) {
    EXPECT_THAT(dirs, ::testing::Contains(std::string(d)));
  }
}

// --- LibrarySymbols --------------------------------------------------------------------------

TEST(LibrarySymbolsTest, OpenSslExportsAllFourEntryPoints) {
  const std::string libssl = SystemLibssl();
  if (libssl.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  auto syms = LibrarySymbols(libssl);
  ASSERT_TRUE(syms.ok()) << syms.status();
  EXPECT_TRUE(syms->ssl_write);
  EXPECT_TRUE(syms->ssl_write_ex);
  EXPECT_TRUE(syms->ssl_read);
  EXPECT_TRUE(syms->ssl_read_ex);
  EXPECT_FALSE(syms->gnutls_record_send);
  EXPECT_FALSE(syms->gnutls_record_recv);
  EXPECT_TRUE(syms->any());
}

TEST(LibrarySymbolsTest, GnuTlsExportsRecordSendAndRecv) {
  const std::string gnutls = SystemLibgnutls();
  if (gnutls.empty()) GTEST_SKIP() << "no libgnutls.so.30 on this host";
  auto syms = LibrarySymbols(gnutls);
  ASSERT_TRUE(syms.ok()) << syms.status();
  EXPECT_TRUE(syms->gnutls_record_send);
  EXPECT_TRUE(syms->gnutls_record_recv);
  EXPECT_FALSE(syms->ssl_write);
  EXPECT_FALSE(syms->ssl_read_ex);
}

TEST(LibrarySymbolsTest, ImportedSymbolsDoNotCount) {
  // gnutls-cli calls gnutls_record_send but does not define it.
  const std::string cli = FirstExisting({"/usr/bin/gnutls-cli"});
  if (cli.empty()) GTEST_SKIP() << "no gnutls-cli";
  auto syms = LibrarySymbols(cli);
  ASSERT_TRUE(syms.ok()) << syms.status();
  EXPECT_FALSE(syms->any());
}

TEST(LibrarySymbolsTest, ErrorsAreStatusesNotCrashes) {
  TempDir dir;
  const std::string script = dir.Write("run.sh", "#!/bin/sh\necho hi\n");
  const std::string empty = dir.Write("empty", "");
  EXPECT_EQ(LibrarySymbols(script).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LibrarySymbols(empty).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LibrarySymbols(dir.path()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LibrarySymbols(dir.path() + "/missing").status().code(), absl::StatusCode::kNotFound);
  // A static executable has no .dynsym at all.
  EXPECT_EQ(LibrarySymbols(SLUICE_TEST_STATIC_SSL_STUB).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// --- InspectExecutable -----------------------------------------------------------------------

TEST(InspectExecutableTest, CurlUsesSharedOpenSslThroughLibcurl) {
  // curl needs libcurl.so.4, which needs libssl.so.3: found by following DT_NEEDED.
  const std::string curl = FirstExisting({"/usr/bin/curl"});
  if (curl.empty() || SystemLibssl().empty()) GTEST_SKIP() << "no curl or libssl";
  auto cov = InspectExecutable(curl);
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kSharedLibrary);
}

TEST(InspectExecutableTest, GnutlsCliImportsGnuTls) {
  const std::string cli = FirstExisting({"/usr/bin/gnutls-cli"});
  if (cli.empty()) GTEST_SKIP() << "no gnutls-cli";
  auto cov = InspectExecutable(cli);
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kSharedLibrary);
}

TEST(InspectExecutableTest, ShellHasNoTls) {
  auto cov = InspectExecutable("/bin/sh");
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kNone);
}

TEST(InspectExecutableTest, ProcessViewsOfTheSameFile) {
  const std::string curl = FirstExisting({"/usr/bin/curl"});
  if (curl.empty() || SystemLibssl().empty()) GTEST_SKIP() << "no curl or libssl";
  // A container's file seen from the agent: /proc/PID/root/<path>.
  auto cov = InspectExecutable(absl::StrCat("/proc/", getpid(), "/root", curl));
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kSharedLibrary);
  // The running executable: /proc/PID/exe (this test binary: no TLS).
  cov = InspectExecutable(absl::StrCat("/proc/", getpid(), "/exe"));
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kNone);
}

TEST(InspectExecutableTest, StaticSslWriteIsNotCovered) {
  auto cov = InspectExecutable(SLUICE_TEST_STATIC_SSL_STUB);
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kStaticOpenSsl);
  EXPECT_EQ(TlsCoverageName(*cov), "not covered: static OpenSSL/BoringSSL");
}

TEST(InspectExecutableTest, StrippedStaticExecutableIsUnknown) {
  auto cov = InspectExecutable(SLUICE_TEST_STRIPPED_STATIC_STUB);
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kUnknown);
}

TEST(InspectExecutableTest, GoBuildInfoSectionMeansGo) {
  auto cov = InspectExecutable(SLUICE_TEST_GO_SECTION_STUB);
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kGoCryptoTls);
  EXPECT_EQ(TlsCoverageName(*cov), "not covered: Go crypto/tls");
}

TEST(InspectExecutableTest, GoBuildInfoMagicInDataSegmentMeansGo) {
  auto cov = InspectExecutable(SLUICE_TEST_GO_MAGIC_STUB);
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kGoCryptoTls);
}

TEST(InspectExecutableTest, RealGoBinaryWhenTheHostHasOne) {
  const std::string go = FirstExisting({"/usr/lib/google-cloud-sdk/bin/kubectl",
                                        "/usr/local/go/bin/go", "/usr/lib/go/bin/go",
                                        "/usr/bin/docker", "/usr/bin/containerd"});
  if (go.empty()) GTEST_SKIP() << "no Go binary on this host";
  auto cov = InspectExecutable(go);
  ASSERT_TRUE(cov.ok()) << cov.status();
  EXPECT_EQ(*cov, TlsCoverage::kGoCryptoTls) << go;
}

TEST(InspectExecutableTest, ScriptsAndOddFilesGiveClearStatuses) {
  TempDir dir;
  const std::string script = dir.Write("job.sh", "#!/bin/sh\ncurl https://example.com\n");
  chmod(script.c_str(), 0755);
  auto cov = InspectExecutable(script);
  EXPECT_EQ(cov.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cov.status().message()), HasSubstr("script"));

  const std::string text = dir.Write("notes.txt", std::string(100, 'x'));
  EXPECT_EQ(InspectExecutable(text).status().code(), absl::StatusCode::kInvalidArgument);
  // An ELF header and nothing else.
  const std::string trunc = dir.Write("trunc", std::string("\x7f" "ELF\x02\x01\x01", 7));
  EXPECT_EQ(InspectExecutable(trunc).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InspectExecutable(dir.path()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InspectExecutable(dir.path() + "/missing").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(InspectExecutable("").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(InspectExecutable("/proc/999999999/exe").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(InspectExecutableTest, UnreadableFileIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads everything";
  TempDir dir;
  const std::string secret = dir.Write("secret", "x");
  chmod(secret.c_str(), 0);
  EXPECT_EQ(InspectExecutable(secret).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(InspectExecutableTest, CorruptElfNeverCrashes) {
  // Real ELF headers followed by garbage at every length: statuses or verdicts, never a crash.
  std::ifstream in("/bin/sh", std::ios::binary);
  std::string sh((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(sh.size(), 4096u);
  TempDir dir;
  for (size_t len : {4u, 16u, 52u, 64u, 100u, 512u, 1000u, 4096u}) {
    const std::string p = dir.Write(absl::StrCat("cut", len), sh.substr(0, len));
    (void)InspectExecutable(p);
    (void)LibrarySymbols(p);
  }
  std::string flipped = sh;
  for (size_t i = 0x40; i < flipped.size(); i += 97) flipped[i] = static_cast<char>(~flipped[i]);
  const std::string p = dir.Write("flipped", flipped);
  (void)InspectExecutable(p);
  (void)LibrarySymbols(p);
}

TEST(TlsCoverageNameTest, EveryValueHasAName) {
  EXPECT_EQ(TlsCoverageName(TlsCoverage::kNone), "none");
  EXPECT_EQ(TlsCoverageName(TlsCoverage::kSharedLibrary), "shared-library");
  EXPECT_EQ(TlsCoverageName(TlsCoverage::kStaticOpenSsl),
            "not covered: static OpenSSL/BoringSSL");
  EXPECT_EQ(TlsCoverageName(TlsCoverage::kGoCryptoTls), "not covered: Go crypto/tls");
  EXPECT_EQ(TlsCoverageName(TlsCoverage::kUnknown), "unknown");
  EXPECT_EQ(TlsLibKindName(TlsLibKind::kOpenSsl), "openssl");
  EXPECT_EQ(TlsLibKindName(TlsLibKind::kGnuTls), "gnutls");
}

// --- MappedTlsLibraries ----------------------------------------------------------------------

// One /proc/PID/maps line for `path` with the device and inode of `st`.
std::string MapsLine(uint64_t start, const std::string& perms, const struct stat& st,
                     const std::string& path) {
  return absl::StrFormat("%08x-%08x %s 00000000 %02x:%02x %-26d%s\n", start, start + 0x1000,
                         perms, major(st.st_dev), minor(st.st_dev), st.st_ino, path);
}

class MappedTlsLibrariesTest : public ::testing::Test {
 protected:
  void SetUp() override { proc_ = dir_.path() + "/proc"; }
  void WriteMaps(int pid, const std::string& maps) {
    dir_.Write(absl::StrCat("proc/", pid, "/maps"), maps);
  }
  // A file inside the process's root, as a container image would have it.
  std::string InRoot(int pid, const std::string& path, const std::string& content = "lib") {
    return dir_.Write(absl::StrCat("proc/", pid, "/root", path), content);
  }
  TempDir dir_;
  std::string proc_;
};

TEST_F(MappedTlsLibrariesTest, HostLibraryKeepsItsPlainPathOnce) {
  const std::string libssl = SystemLibssl();
  if (libssl.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  const std::string real = RealPath(libssl);
  const struct stat st = Stat(real);
  WriteMaps(100, MapsLine(0x7f0000000000, "r--p", st, real) +
                     MapsLine(0x7f0000001000, "r-xp", st, real) +
                     MapsLine(0x7f0000002000, "rw-p", st, real));
  auto libs = MappedTlsLibraries(100, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  ASSERT_EQ(libs->size(), 1u);
  EXPECT_EQ((*libs)[0], (TlsLibrary{TlsLibKind::kOpenSsl, real, st.st_dev, st.st_ino}));
}

TEST_F(MappedTlsLibrariesTest, ContainerLibraryIsReachedThroughProcRoot) {
  // The path exists only inside the process's root, has spaces, and is GnuTLS's real name.
  const std::string lib = InRoot(200, "/opt/my libs/libgnutls.so.30.34.3");
  const struct stat st = Stat(lib);
  WriteMaps(200, MapsLine(0x7f0000000000, "r-xp", st, "/opt/my libs/libgnutls.so.30.34.3"));
  auto libs = MappedTlsLibraries(200, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  ASSERT_EQ(libs->size(), 1u);
  EXPECT_EQ((*libs)[0].kind, TlsLibKind::kGnuTls);
  EXPECT_EQ((*libs)[0].path, proc_ + "/200/root/opt/my libs/libgnutls.so.30.34.3");
  EXPECT_EQ((*libs)[0].dev, st.st_dev);
  EXPECT_EQ((*libs)[0].ino, st.st_ino);
}

TEST_F(MappedTlsLibrariesTest, SamePathButAnotherFileOnTheHostPrefersProcRoot) {
  const std::string libssl = SystemLibssl();
  if (libssl.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  const std::string real = RealPath(libssl);
  // The container has its own file at the host library's path.
  const struct stat st = Stat(InRoot(300, real));
  WriteMaps(300, MapsLine(0x7f0000000000, "r-xp", st, real));
  auto libs = MappedTlsLibraries(300, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  ASSERT_EQ(libs->size(), 1u);
  EXPECT_EQ((*libs)[0].path, absl::StrCat(proc_, "/300/root", real));
}

TEST_F(MappedTlsLibrariesTest, OverlayMismatchStillUsesProcRoot) {
  // On overlayfs maps names the underlying inode: nothing matches, the root path is the answer.
  struct stat fake = {};
  fake.st_dev = makedev(0, 99);
  fake.st_ino = 123456;
  WriteMaps(350, MapsLine(0x7f0000000000, "r-xp", fake, "/usr/lib64/libssl.so.3.0.7"));
  auto libs = MappedTlsLibraries(350, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  ASSERT_EQ(libs->size(), 1u);
  EXPECT_EQ((*libs)[0].path, proc_ + "/350/root/usr/lib64/libssl.so.3.0.7");
  EXPECT_EQ((*libs)[0].dev, makedev(0, 99));
  EXPECT_EQ((*libs)[0].ino, 123456u);
}

TEST_F(MappedTlsLibrariesTest, DeletedLibraryIsReachedThroughMapFiles) {
  struct stat gone = {};
  gone.st_dev = makedev(0xfd, 1);
  gone.st_ino = 987654321;
  WriteMaps(400, MapsLine(0x00400000, "r--p", gone,
                          "/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)") +
                     MapsLine(0x00401000, "r-xp", gone,
                              "/usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)"));
  auto libs = MappedTlsLibraries(400, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  ASSERT_EQ(libs->size(), 1u);
  // map_files names drop the zero padding that maps uses.
  EXPECT_EQ((*libs)[0].path, proc_ + "/400/map_files/400000-401000");
  EXPECT_EQ((*libs)[0].kind, TlsLibKind::kOpenSsl);
  EXPECT_EQ((*libs)[0].dev, makedev(0xfd, 1));
  EXPECT_EQ((*libs)[0].ino, 987654321u);
}

TEST_F(MappedTlsLibrariesTest, DeletedButStillPresentInRootUsesRoot) {
  const std::string lib = InRoot(450, "/lib/libssl.so.3");
  const struct stat st = Stat(lib);
  WriteMaps(450, MapsLine(0x7f0000000000, "r-xp", st, "/lib/libssl.so.3 (deleted)"));
  auto libs = MappedTlsLibraries(450, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  ASSERT_EQ(libs->size(), 1u);
  EXPECT_EQ((*libs)[0].path, proc_ + "/450/root/lib/libssl.so.3");
}

TEST_F(MappedTlsLibrariesTest, IgnoresEverythingElse) {
  struct stat a = {}, b = {};
  a.st_dev = makedev(8, 1);
  a.st_ino = 11;
  b.st_dev = makedev(8, 1);
  b.st_ino = 12;
  std::string maps;
  maps += "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]\n";
  maps += "7ffd1e3f1000-7ffd1e3f3000 r-xp 00000000 00:00 0                          [vdso]\n";
  maps += "7f0000009000-7f000000a000 rw-p 00000000 00:00 0 \n";
  maps += MapsLine(0x7f0000010000, "r-xp", a, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  maps += MapsLine(0x7f0000020000, "r-xp", a, "/usr/lib/x86_64-linux-gnu/libssl3.so");  // NSS
  maps += MapsLine(0x7f0000030000, "r-xp", a, "/usr/lib/x86_64-linux-gnu/libgnutls-dane.so.0");
  maps += MapsLine(0x7f0000040000, "r-xp", a, "/usr/lib/x86_64-linux-gnu/libgnutlsxx.so.30");
  maps += MapsLine(0x7f0000050000, "r-xp", a, "/usr/lib/x86_64-linux-gnu/libssl.so.1.1");
  maps += MapsLine(0x7f0000060000, "r-xp", a, "/usr/lib/x86_64-linux-gnu/libssl.so.30");
  maps += MapsLine(0x7f0000070000, "r-xp", a, "/memfd:libssl.so.3 (deleted)");
  maps += MapsLine(0x7f0000080000, "r-xp", b, "relative/libssl.so.3");
  maps += "garbage line\n";
  maps += "7f00-7f01 r-xp 0 zz:01 5 /lib/libssl.so.3\n";   // bad device
  maps += "7f00-7f01 r-xp 0 08:01 x5 /lib/libssl.so.3\n";  // bad inode
  maps += "7f00-7f01\n";
  maps += "\n";
  WriteMaps(500, maps);
  auto libs = MappedTlsLibraries(500, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  EXPECT_TRUE(libs->empty());
}

TEST_F(MappedTlsLibrariesTest, WheelBundledCopiesAndDistinctFilesAreAllReported) {
  struct stat a = {}, b = {}, c = {};
  a.st_dev = b.st_dev = c.st_dev = makedev(0, 50);
  a.st_ino = 1;
  b.st_ino = 2;
  c.st_ino = 3;
  WriteMaps(600,
            MapsLine(0x7f0000000000, "r-xp", a, "/usr/lib/x86_64-linux-gnu/libssl.so.3") +
                MapsLine(0x7f0000010000, "r-xp", b,
                         "/venv/lib/python3.11/site-packages/cryptography.libs/"
                         "libssl-a1b2c3d4.so.3") +
                MapsLine(0x7f0000020000, "r-xp", c,
                         "/usr/lib/x86_64-linux-gnu/libgnutls.so.30") +
                MapsLine(0x7f0000030000, "r--p", a, "/usr/lib/x86_64-linux-gnu/libssl.so.3"));
  auto libs = MappedTlsLibraries(600, proc_);
  ASSERT_TRUE(libs.ok()) << libs.status();
  ASSERT_EQ(libs->size(), 3u);
  EXPECT_EQ((*libs)[0].ino, 1u);
  EXPECT_EQ((*libs)[1].ino, 2u);
  EXPECT_EQ((*libs)[1].kind, TlsLibKind::kOpenSsl);
  EXPECT_EQ((*libs)[2].kind, TlsLibKind::kGnuTls);
}

TEST_F(MappedTlsLibrariesTest, MissingProcessIsNotFound) {
  EXPECT_EQ(MappedTlsLibraries(777, proc_).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(MappedTlsLibraries(999999999).status().code(), absl::StatusCode::kNotFound);
}

TEST(MappedTlsLibrariesRealTest, SeesLibsslThisProcessLoads) {
  const std::string libssl = SystemLibssl();
  if (libssl.empty()) GTEST_SKIP() << "no libssl.so.3 on this host";
  void* handle = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto libs = MappedTlsLibraries(getpid());
  ASSERT_TRUE(libs.ok()) << libs.status();
  const struct stat st = Stat(libssl);
  bool found = false;
  for (const auto& lib : *libs) {
    if (lib.kind == TlsLibKind::kOpenSsl && lib.dev == st.st_dev && lib.ino == st.st_ino) {
      found = true;
      EXPECT_EQ(lib.path, RealPath(libssl));  // same mount namespace: the plain path
    }
  }
  EXPECT_TRUE(found);
  // The agent's view of the symbols of the library it found.
  if (!libs->empty()) {
    auto syms = LibrarySymbols(libs->front().path);
    ASSERT_TRUE(syms.ok()) << syms.status();
    EXPECT_TRUE(syms->any());
  }
  dlclose(handle);
}

}  // namespace
}  // namespace sluice::bpf
