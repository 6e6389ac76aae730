#include "agent/state/container_meta.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice::state {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Not;
using ::testing::Pair;

const std::string kId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kOtherId = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

// A fresh directory under /tmp, removed with everything in it when the test ends, failed or not.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/container_meta_XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class ContainerMetaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty()) << "mkdtemp failed";
    // Every root points into the temp dir, so the host's real runtimes are never consulted.
    roots_.docker = {(tmp_.path() / "docker").string()};
    roots_.containerd = {(tmp_.path() / "containerd").string()};
    roots_.oci_userdata = {(tmp_.path() / "crio").string(), (tmp_.path() / "podman").string()};
  }

  // Writes `content` at `rel` under the temp dir, creating parents; returns the full path.
  std::string Write(const std::string& rel, const std::string& content) {
    const fs::path p = tmp_.path() / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

  std::string WriteDocker(const std::string& id, const nlohmann::json& labels) {
    nlohmann::json config = {{"ID", id},
                             {"Name", "/crm-web-1"},
                             {"Config", {{"Hostname", "crm-web"}, {"Labels", labels}}}};
    return Write(absl::StrCat("docker/", id, "/config.v2.json"), config.dump());
  }

  static nlohmann::json OciSpec(const nlohmann::json& annotations) {
    return {{"ociVersion", "1.1.0"},
            {"process", {{"args", {"/bin/crm"}}, {"cwd", "/"}}},
            {"annotations", annotations}};
  }

  std::string WriteContainerd(const std::string& ns, const std::string& id,
                              const nlohmann::json& annotations) {
    return Write(absl::StrCat("containerd/", ns, "/", id, "/config.json"),
                 OciSpec(annotations).dump());
  }

  std::string WriteUserdata(const std::string& root, const std::string& id,
                            const nlohmann::json& annotations) {
    return Write(absl::StrCat(root, "/", id, "/userdata/config.json"), OciSpec(annotations).dump());
  }

  TempDir tmp_;
  ContainerMetaRoots roots_;
};

TEST_F(ContainerMetaTest, DockerLabels) {
  WriteDocker(kId, {{"com.docker.compose.project", "crm"},
                    {"com.docker.compose.service", "web"},
                    {"maintainer", "ops@example.test"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("com.docker.compose.project", "crm"),
                                   Pair("com.docker.compose.service", "web"),
                                   Pair("maintainer", "ops@example.test")));
}

TEST_F(ContainerMetaTest, DockerNullOrMissingLabelsAreEmpty) {
  WriteDocker(kId, nullptr);
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, IsEmpty());

  Write(absl::StrCat("docker/", kOtherId, "/config.v2.json"), R"({"Config":{}})");
  labels = ReadContainerLabels(roots_, kOtherId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, IsEmpty());
}

TEST_F(ContainerMetaTest, DockerRootWithTrailingSlash) {
  WriteDocker(kId, {{"app", "crm"}});
  roots_.docker = {(tmp_.path() / "docker").string() + "/"};
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("app", "crm")));
}

TEST_F(ContainerMetaTest, ContainerdAnnotationsInK8sNamespace) {
  // Other namespaces exist and do not know the id.
  fs::create_directories(tmp_.path() / "containerd" / "default");
  WriteContainerd("moby", kOtherId, {{"moby", "other"}});
  WriteContainerd("k8s.io", kId,
                  {{"io.kubernetes.cri.container-name", "web"},
                   {"io.kubernetes.cri.container-type", "container"},
                   {"io.kubernetes.cri.sandbox-name", "web-7d9f6c-x2x8q"},
                   {"io.kubernetes.cri.sandbox-namespace", "crm"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("io.kubernetes.cri.container-name", "web"),
                                   Pair("io.kubernetes.cri.container-type", "container"),
                                   Pair("io.kubernetes.cri.sandbox-name", "web-7d9f6c-x2x8q"),
                                   Pair("io.kubernetes.cri.sandbox-namespace", "crm")));
}

TEST_F(ContainerMetaTest, ContainerdWithoutAnnotationsIsEmpty) {
  Write(absl::StrCat("containerd/default/", kId, "/config.json"), R"({"ociVersion":"1.1.0"})");
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, IsEmpty());
}

TEST_F(ContainerMetaTest, ContainerdNamespaceSymlinkIsNotFollowed) {
  // A namespace entry that is a symlink could lead anywhere on the host.
  const fs::path outside = tmp_.path() / "outside";
  Write(absl::StrCat("outside/", kId, "/config.json"), OciSpec({{"leaked", "yes"}}).dump());
  fs::create_directories(tmp_.path() / "containerd");
  fs::create_directory_symlink(outside, tmp_.path() / "containerd" / "k8s.io");
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kNotFound) << labels.status();
}

TEST_F(ContainerMetaTest, CrioLabelsExpandedPlainAnnotationWins) {
  const nlohmann::json pod_labels = {{"app", "crm"},
                                     {"io.kubernetes.pod.name", "web-7d9f6c-x2x8q"},
                                     {"tier", "from-embedded"},
                                     {"replicas", 3}};  // not a string: skipped
  WriteUserdata("crio", kId,
                {{"io.kubernetes.cri-o.Labels", pod_labels.dump()},
                 {"io.kubernetes.cri-o.ContainerName", "k8s_web_web-7d9f6c-x2x8q_crm_1"},
                 {"tier", "plain"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(
      *labels,
      ElementsAre(Pair("app", "crm"),
                  Pair("io.kubernetes.cri-o.ContainerName", "k8s_web_web-7d9f6c-x2x8q_crm_1"),
                  Pair("io.kubernetes.cri-o.Labels", pod_labels.dump()),
                  Pair("io.kubernetes.pod.name", "web-7d9f6c-x2x8q"), Pair("tier", "plain")));
}

TEST_F(ContainerMetaTest, NerdctlLabelsExpanded) {
  const nlohmann::json user_labels = {{"owner", "payments"}, {"env", "prod"}};
  WriteContainerd("default", kId,
                  {{"nerdctl/labels", user_labels.dump()}, {"nerdctl/name", "crm-web"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("env", "prod"), Pair("nerdctl/labels", user_labels.dump()),
                                   Pair("nerdctl/name", "crm-web"), Pair("owner", "payments")));
}

TEST_F(ContainerMetaTest, MalformedEmbeddedLabelsAreNotFatal) {
  WriteContainerd("default", kId,
                  {{"nerdctl/labels", "{not json"},
                   {"io.kubernetes.cri-o.Labels", R"(["an","array"])"},
                   {"nerdctl/name", "crm-web"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels,
              ElementsAre(Pair("io.kubernetes.cri-o.Labels", R"(["an","array"])"),
                          Pair("nerdctl/labels", "{not json"), Pair("nerdctl/name", "crm-web")));
}

TEST_F(ContainerMetaTest, PodmanUserdataInSecondRoot) {
  WriteUserdata("podman", kId, {{"io.podman.annotations.autoremove", "FALSE"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("io.podman.annotations.autoremove", "FALSE")));
}

TEST_F(ContainerMetaTest, UnknownIdIsNotFound) {
  WriteDocker(kOtherId, {{"app", "crm"}});
  WriteContainerd("k8s.io", kOtherId, {{"app", "crm"}});
  WriteUserdata("crio", kOtherId, {{"app", "crm"}});
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kNotFound) << labels.status();
}

TEST_F(ContainerMetaTest, MissingRootsAreNotFound) {
  // None of the root directories exist.
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kNotFound) << labels.status();
}

TEST_F(ContainerMetaTest, InvalidIds) {
  WriteDocker(kId, {{"app", "crm"}});
  std::string upper = kId;
  upper[10] = 'A';
  std::string non_hex = kId;
  non_hex[5] = 'g';
  const std::string cases[] = {
      "",
      kId.substr(0, 12),  // the short form `docker ps` shows
      kId + "0",
      upper,
      non_hex,
      "../../../../../../etc/passwd/0123456789abcdef0123456789abcdef012",
      std::string(64, '.'),
      kId.substr(0, 63) + std::string(1, '\0'),
  };
  for (const std::string& id : cases) {
    auto labels = ReadContainerLabels(roots_, id);
    EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument)
        << "id \"" << id << "\": " << labels.status();
  }
}

TEST_F(ContainerMetaTest, CorruptJsonNamesThePath) {
  const std::string path =
      Write(absl::StrCat("docker/", kId, "/config.v2.json"), R"({"Config":{"Labels":{"a":)");
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_FALSE(labels.ok());
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(labels.status().message(), HasSubstr(path));
  EXPECT_THAT(labels.status().message(), HasSubstr("not valid JSON"));
}

TEST_F(ContainerMetaTest, EmptyFileIsAnError) {
  const std::string path = Write(absl::StrCat("crio/", kId, "/userdata/config.json"), "");
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kDataLoss) << labels.status();
  EXPECT_THAT(labels.status().message(), HasSubstr(path));
}

TEST_F(ContainerMetaTest, WrongShapeNamesThePath) {
  const struct {
    std::string rel;
    std::string content;
  } cases[] = {
      {absl::StrCat("docker/", kId, "/config.v2.json"), R"(["Config"])"},
      {absl::StrCat("docker/", kId, "/config.v2.json"), R"({"Config":"x"})"},
      {absl::StrCat("docker/", kId, "/config.v2.json"), R"({"ID":"x"})"},
      {absl::StrCat("docker/", kId, "/config.v2.json"), R"({"Config":{"Labels":["a=b"]}})"},
      {absl::StrCat("containerd/k8s.io/", kId, "/config.json"), R"({"annotations":"a=b"})"},
      {absl::StrCat("crio/", kId, "/userdata/config.json"), R"("just a string")"},
  };
  for (const auto& c : cases) {
    std::error_code ec;
    fs::remove_all(tmp_.path() / "docker", ec);
    fs::remove_all(tmp_.path() / "containerd", ec);
    fs::remove_all(tmp_.path() / "crio", ec);
    const std::string path = Write(c.rel, c.content);
    auto labels = ReadContainerLabels(roots_, kId);
    ASSERT_FALSE(labels.ok()) << c.content;
    EXPECT_EQ(labels.status().code(), absl::StatusCode::kDataLoss) << labels.status();
    EXPECT_THAT(labels.status().message(), HasSubstr(path)) << c.content;
  }
}

TEST_F(ContainerMetaTest, FileOver4MiBIsRejected) {
  // Valid JSON: only the size is wrong with it.
  const std::string head = R"({"annotations":{"app":"crm"}})";
  const std::string path = Write(absl::StrCat("crio/", kId, "/userdata/config.json"),
                                 head + std::string((4 << 20) + 1 - head.size(), ' '));
  ASSERT_EQ(fs::file_size(path), (4u << 20) + 1);
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_FALSE(labels.ok());
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(labels.status().message(), HasSubstr(path));

  // Exactly 4 MiB is still read.
  Write(absl::StrCat("crio/", kId, "/userdata/config.json"),
        head + std::string((4 << 20) - head.size(), ' '));
  ASSERT_EQ(fs::file_size(path), 4u << 20);
  labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("app", "crm")));
}

TEST_F(ContainerMetaTest, NotARegularFileIsRejectedWithoutBlocking) {
  // A directory where the file should be.
  const fs::path dir = tmp_.path() / "docker" / kId / "config.v2.json";
  fs::create_directories(dir);
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument) << labels.status();
  EXPECT_THAT(labels.status().message(), HasSubstr(dir.string()));

  // A FIFO with no writer: opening or reading it must not hang.
  const fs::path fifo = tmp_.path() / "crio" / kOtherId / "userdata" / "config.json";
  fs::create_directories(fifo.parent_path());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  labels = ReadContainerLabels(roots_, kOtherId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument) << labels.status();
  EXPECT_THAT(labels.status().message(), HasSubstr(fifo.string()));
}

TEST_F(ContainerMetaTest, UnreadableFileIsAnError) {
  // A symlink loop cannot be opened even by root (unlike a mode-000 file).
  const fs::path path = tmp_.path() / "docker" / kId / "config.v2.json";
  fs::create_directories(path.parent_path());
  fs::create_symlink("config.v2.json", path);
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kDataLoss) << labels.status();
  EXPECT_THAT(labels.status().message(), HasSubstr(path.string()));
}

TEST_F(ContainerMetaTest, UnreadableFileModeIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads mode-000 files";
  const std::string path = WriteDocker(kId, {{"app", "crm"}});
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kDataLoss) << labels.status();
  EXPECT_THAT(labels.status().message(), HasSubstr(path));
}

TEST_F(ContainerMetaTest, DeeplyNestedJsonDoesNotCrash) {
  const std::string nested = std::string(1 << 20, '[') + std::string(1 << 20, ']');
  Write(absl::StrCat("docker/", kId, "/config.v2.json"),
        absl::StrCat(R"({"Config":{"Labels":{"a":"b","deep":)", nested, "}}}"));
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("a", "b")));

  // Unterminated.
  Write(absl::StrCat("docker/", kId, "/config.v2.json"), std::string(3 << 20, '['));
  labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kDataLoss) << labels.status();
}

TEST_F(ContainerMetaTest, NonStringValuesAreSkipped) {
  WriteDocker(kId, {{"app", "crm"},
                    {"count", 3},
                    {"enabled", true},
                    {"nothing", nullptr},
                    {"list", {"a", "b"}},
                    {"object", {{"k", "v"}}},
                    {"zone", "eu-1"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("app", "crm"), Pair("zone", "eu-1")));
}

TEST_F(ContainerMetaTest, AtMost512Labels) {
  nlohmann::json many = nlohmann::json::object();
  for (int i = 0; i < 513; ++i) many[absl::StrCat("k", absl::Dec(i, absl::kZeroPad3))] = "v";
  WriteDocker(kId, many);
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->size(), 512u);
  // Kept in key order, so the same file always keeps the same labels.
  EXPECT_THAT(*labels, Contains(Key("k511")));
  EXPECT_THAT(*labels, Not(Contains(Key("k512"))));
}

TEST_F(ContainerMetaTest, EmbeddedLabelsCountTowardsTheBound) {
  nlohmann::json annotations = nlohmann::json::object();
  for (int i = 0; i < 510; ++i) annotations[absl::StrCat("a", absl::Dec(i, absl::kZeroPad3))] = "v";
  annotations["nerdctl/labels"] = nlohmann::json({{"x", "1"}, {"y", "2"}}).dump();
  WriteContainerd("default", kId, annotations);
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->size(), 512u);
  EXPECT_THAT(*labels, Contains(Key("nerdctl/labels")));
  EXPECT_THAT(*labels, Contains(Key("x")));
  EXPECT_THAT(*labels, Not(Contains(Key("y"))));
}

TEST_F(ContainerMetaTest, OverlongKeysAndValuesAreSkipped) {
  const std::string k4096(4096, 'k'), k4097(4097, 'K');
  const std::string v4096(4096, 'v'), v4097(4097, 'V');
  WriteDocker(kId, {{k4096, "ok"}, {k4097, "dropped"}, {"long-ok", v4096}, {"too-long", v4097}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair(k4096, "ok"), Pair("long-ok", v4096)));
}

TEST_F(ContainerMetaTest, EmbeddedEntryNeverOverridesASkippedPlainOne) {
  const std::string v4097(4097, 'V');
  WriteContainerd("default", kId,
                  {{"tier", v4097}, {"nerdctl/labels", nlohmann::json({{"tier", "x"}}).dump()}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, Not(Contains(Key("tier"))));
}

TEST_F(ContainerMetaTest, FirstRuntimeThatKnowsTheIdWins) {
  WriteUserdata("podman", kId, {{"from", "podman"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("from", "podman")));

  WriteUserdata("crio", kId, {{"from", "crio"}});
  labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("from", "crio")));

  WriteContainerd("moby", kId, {{"from", "containerd"}});
  labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("from", "containerd")));

  WriteDocker(kId, {{"from", "docker"}});
  labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("from", "docker")));
}

TEST_F(ContainerMetaTest, ContainerdNamespacesSearchedInNameOrder) {
  WriteContainerd("moby", kId, {{"from", "moby"}});
  WriteContainerd("k8s.io", kId, {{"from", "k8s.io"}});
  auto labels = ReadContainerLabels(roots_, kId);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_THAT(*labels, ElementsAre(Pair("from", "k8s.io")));
}

TEST_F(ContainerMetaTest, BrokenFirstRuntimeDoesNotFallThrough) {
  // Docker knows the id but its file is corrupt: another runtime's labels would not be this
  // container's.
  Write(absl::StrCat("docker/", kId, "/config.v2.json"), "{");
  WriteContainerd("moby", kId, {{"from", "containerd"}});
  auto labels = ReadContainerLabels(roots_, kId);
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kDataLoss) << labels.status();
}

}  // namespace
}  // namespace sluice::state
