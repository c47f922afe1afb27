// Tests for daemon/policy/mount_policy.hpp: templates expanded per user, checked against
// real directories in a temp dir (the tests run as root, like jobmand), and access_as
// checking with a real setuid child.

#include "daemon/policy/mount_policy.hpp"

#include "matchers.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon::policy;
using jobman::test::IsErrorInfo;
using jobman::test::TempDir;
namespace fs = std::filesystem;

namespace {

const Submitter k_alice{1001, 1001, "alice", "/home/alice", {1001, 27}};
// nobody/nogroup: a real unprivileged account for access_as.
const Submitter k_nobody{65534, 65534, "nobody", "/nonexistent", {65534}};

MountTemplate mount_template(std::string source, std::string target = "{source}", bool read_only = true, bool optional = false) {
  MountTemplate t;
  t.source = std::move(source);
  t.target = std::move(target);
  t.read_only = read_only;
  t.optional = optional;
  return t;
}

// Grants everything; the tests about paths do not depend on permissions.
bool allow_all(const std::string&, const Submitter&, int) { return true; }

// The temp dir made traversable by anyone (mkdtemp creates it 0700).
struct OpenTempDir {
  OpenTempDir() { fs::permissions(dir.path(), fs::perms(0755)); }
  std::string operator/(const std::string& rest) const { return (root() / rest).string(); }
  fs::path root() const { return fs::canonical(dir.path()); }
  TempDir dir;
};

struct AccessCall {
  std::string path;
  std::uint32_t uid = 0;
  int mode = 0;
};

} // namespace

TEST_CASE("expand_template replaces {user}, {uid} and {home}", "[mount_policy]") {
  CHECK(expand_template("/data/{user}/datasets", k_alice) == "/data/alice/datasets");
  CHECK(expand_template("/scratch/{uid}", k_alice) == "/scratch/1001");
  CHECK(expand_template("{home}/persistent", k_alice) == "/home/alice/persistent");
  CHECK(expand_template("/m/{user}-{uid}/{user}", k_alice) == "/m/alice-1001/alice");
  CHECK(expand_template("/srv/shared", k_alice) == "/srv/shared");
  CHECK(expand_template("", k_alice) == "");
}

TEST_CASE("expand_template replaces {source} only when given one", "[mount_policy]") {
  CHECK(expand_template("{source}", k_alice, "/data/alice") == "/data/alice");
  CHECK(expand_template("{source}/in/{user}", k_alice, "/data/alice") == "/data/alice/in/alice");
  CHECK(expand_template("/mnt/{source}", k_alice, "/x") == "/mnt//x");
  CHECK(expand_template("{source}/{user}", k_alice) == "{source}/alice");
}

TEST_CASE("expand_template leaves unknown braces alone", "[mount_policy]") {
  CHECK(expand_template("/data/{name}", k_alice) == "/data/{name}");
  CHECK(expand_template("/data/{user", k_alice) == "/data/{user");
  CHECK(expand_template("/data/{USER}", k_alice) == "/data/{USER}");
}

TEST_CASE("resolve_mounts gives an existing directory, resolved, with the template's target", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  fs::create_directories(tmp / "alice/persistent");
  const std::vector<MountTemplate> templates{
    mount_template(tmp / "{user}/datasets"),
    mount_template(tmp / "{user}/persistent", "/persistent", false),
    mount_template(tmp / "{user}/datasets", "{source}/copy"),
  };
  auto mounts = resolve_mounts(templates, k_alice, allow_all);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 3);
  CHECK((*mounts)[0].source == tmp / "alice/datasets");
  CHECK((*mounts)[0].target == tmp / "alice/datasets");
  CHECK((*mounts)[0].read_only);
  CHECK((*mounts)[1].source == tmp / "alice/persistent");
  CHECK((*mounts)[1].target == "/persistent");
  CHECK_FALSE((*mounts)[1].read_only);
  CHECK((*mounts)[2].source == tmp / "alice/datasets");
  CHECK((*mounts)[2].target == tmp / "alice/datasets/copy");
}

TEST_CASE("resolve_mounts expands {uid} and {home} as well", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "scratch/1001");
  fs::create_directories(tmp / "homes/alice/work");
  Submitter alice = k_alice;
  alice.home = tmp / "homes/alice";
  auto mounts = resolve_mounts({mount_template(tmp / "scratch/{uid}", "/scratch"), mount_template("/{home}/work", "/work")}, alice, allow_all);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 2);
  CHECK((*mounts)[0].source == tmp / "scratch/1001");
  CHECK((*mounts)[0].target == "/scratch");
  CHECK((*mounts)[1].source == tmp / "homes/alice/work");
  CHECK((*mounts)[1].target == "/work");
}

TEST_CASE("resolve_mounts with no templates gives no mounts", "[mount_policy]") {
  auto mounts = resolve_mounts({}, k_alice, allow_all);
  REQUIRE(mounts.ok());
  CHECK(mounts->empty());
}

TEST_CASE("a missing required source is an error naming the path", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets"), mount_template(tmp / "{user}/persistent")}, k_alice, allow_all);
  REQUIRE_FALSE(mounts.ok());
  CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {tmp / "alice/persistent", "does not exist", "No such file"}));
}

TEST_CASE("a missing optional source is skipped", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/extra", "/extra", true, true), mount_template(tmp / "{user}/datasets")},
                               k_alice, allow_all);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 1);
  CHECK((*mounts)[0].source == tmp / "alice/datasets");
  // An optional source that exists is mounted.
  fs::create_directories(tmp / "alice/extra");
  auto both = resolve_mounts({mount_template(tmp / "{user}/extra", "/extra", true, true)}, k_alice, allow_all);
  REQUIRE(both.ok());
  REQUIRE(both->size() == 1);
  CHECK((*both)[0].source == tmp / "alice/extra");
  CHECK((*both)[0].target == "/extra");
}

TEST_CASE("a symlink in the user's part leading out of the template root is refused", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice");
  fs::create_directories(tmp / "bob/datasets");
  SECTION("to another user's directory") {
    fs::create_directory_symlink(tmp / "bob/datasets", tmp / "alice/datasets");
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice, allow_all);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied,
                                           {tmp / "alice/datasets", "resolves to " + tmp / "bob/datasets", "outside " + tmp / "alice"}));
  }
  SECTION("to a system directory, relative") {
    fs::create_directory_symlink("../../../../../../../../etc", tmp / "alice/datasets");
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice, allow_all);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"resolves to /etc", "symlinks"}));
  }
  SECTION("a symlinked parent inside the user's part") {
    fs::create_directory_symlink(tmp / "bob", tmp / "alice/link");
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/link/datasets")}, k_alice, allow_all);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"resolves to " + tmp / "bob/datasets"}));
  }
  SECTION("a sibling whose name starts like the root") {
    fs::create_directories(tmp / "alice2/datasets");
    fs::create_directory_symlink(tmp / "alice2/datasets", tmp / "alice/datasets");
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice, allow_all);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"outside"}));
  }
}

TEST_CASE("a symlink that stays inside the template root is followed", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/big-disk/data");
  fs::create_directory_symlink(tmp / "alice/big-disk/data", tmp / "alice/datasets");
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice, allow_all);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 1);
  // The engine gets the resolved path; the target keeps the path the template named.
  CHECK((*mounts)[0].source == tmp / "alice/big-disk/data");
  CHECK((*mounts)[0].target == tmp / "alice/datasets");
}

TEST_CASE("the template root itself may be a symlink the admin made", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "export/alice/datasets");
  fs::create_directories(tmp / "users");
  fs::create_directory_symlink(tmp / "export/alice", tmp / "users/alice");
  auto mounts = resolve_mounts({mount_template(tmp / "users/{user}/datasets")}, k_alice, allow_all);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 1);
  CHECK((*mounts)[0].source == tmp / "export/alice/datasets");
  CHECK((*mounts)[0].target == tmp / "users/alice/datasets");
}

TEST_CASE("a template without placeholders is its own root", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "real-shared");
  fs::create_directory_symlink(tmp / "real-shared", tmp / "shared");
  auto mounts = resolve_mounts({mount_template(tmp / "shared", "/shared")}, k_alice, allow_all);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 1);
  CHECK((*mounts)[0].source == tmp / "real-shared");
  CHECK((*mounts)[0].target == "/shared");
}

TEST_CASE("an expanded source that is not a plain path is refused", "[mount_policy]") {
  OpenTempDir tmp;
  Submitter odd = k_alice;
  SECTION("a comma from the user name") {
    odd.user = "x,readonly=false";
    auto mounts = resolve_mounts({mount_template(tmp / "{user}")}, odd, allow_all);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {tmp / "x,readonly=false", "not a plain path"}));
  }
  SECTION("dot-dot from the user name") {
    fs::create_directories(tmp / "datasets");
    odd.user = "..";
    auto mounts = resolve_mounts({mount_template(tmp / "sub/{user}/datasets")}, odd, allow_all);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"not a plain path"}));
  }
  SECTION("a line break from the home directory") {
    odd.home = "/home/a\nb";
    auto mounts = resolve_mounts({mount_template("/{home}/data")}, odd, allow_all);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"not a plain path"}));
  }
}

TEST_CASE("resolve_mounts refuses what the submitter cannot access", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  std::vector<AccessCall> calls;
  AccessCheck deny = [&](const std::string& path, const Submitter& who, int mode) {
    calls.push_back({path, who.uid, mode});
    return false;
  };
  SECTION("read-only") {
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice, deny);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"you (alice) cannot read " + tmp / "alice/datasets"}));
  }
  SECTION("read-write") {
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets", "/d", false)}, k_alice, deny);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"you (alice) cannot read and write " + tmp / "alice/datasets"}));
  }
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].path == tmp / "alice/datasets");
  CHECK(calls[0].uid == 1001);
}

TEST_CASE("the access asked for includes W_OK only for read-write templates", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/ro");
  fs::create_directories(tmp / "alice/rw");
  fs::create_directories(tmp / "alice/real");
  fs::create_directory_symlink(tmp / "alice/real", tmp / "alice/link");
  std::ofstream(tmp / "alice/file.txt") << "x";
  std::ofstream(tmp / "alice/rwfile.txt") << "x";
  std::vector<AccessCall> calls;
  AccessCheck record = [&](const std::string& path, const Submitter& who, int mode) {
    calls.push_back({path, who.uid, mode});
    return true;
  };
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/ro"), mount_template(tmp / "{user}/rw", "/rw", false),
                                mount_template(tmp / "{user}/file.txt", "/f"), mount_template(tmp / "{user}/rwfile.txt", "/g", false),
                                mount_template(tmp / "{user}/link", "/l")},
                               k_alice, record);
  REQUIRE(mounts.ok());
  REQUIRE(calls.size() == 5);
  CHECK(calls[0].path == tmp / "alice/ro");
  CHECK(calls[0].mode == (R_OK | X_OK));
  CHECK(calls[1].path == tmp / "alice/rw");
  CHECK(calls[1].mode == (R_OK | W_OK | X_OK));
  CHECK(calls[2].path == tmp / "alice/file.txt");
  CHECK(calls[2].mode == R_OK);
  CHECK(calls[3].path == tmp / "alice/rwfile.txt");
  CHECK(calls[3].mode == (R_OK | W_OK));
  // The check is made on the resolved path, the one the engine gets.
  CHECK(calls[4].path == tmp / "alice/real");
  for (const auto& call : calls) CHECK(call.uid == 1001);
}

TEST_CASE("access_as answers with the submitter's own uid", "[mount_policy][root]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: access_as needs root to change uid");
    return;
  }
  OpenTempDir tmp;
  fs::create_directories(tmp / "private");
  fs::create_directories(tmp / "public");
  fs::permissions(tmp / "private", fs::perms(0700));
  fs::permissions(tmp / "public", fs::perms(0755));
  CHECK_FALSE(access_as(tmp / "private", k_nobody, R_OK | X_OK));
  CHECK_FALSE(access_as(tmp / "private", k_nobody, R_OK));
  CHECK(access_as(tmp / "public", k_nobody, R_OK | X_OK));
  CHECK_FALSE(access_as(tmp / "public", k_nobody, W_OK)); // root owns it
  CHECK_FALSE(access_as(tmp / "missing", k_nobody, R_OK));
  // Root itself may read the private one: the answer is the submitter's, not the daemon's.
  Submitter root{0, 0, "root", "/root", {0}};
  CHECK(access_as(tmp / "private", root, R_OK | X_OK));
  // Inside a directory the submitter cannot traverse, even a 0755 one is out of reach.
  fs::create_directories(tmp / "private/inner");
  fs::permissions(tmp / "private/inner", fs::perms(0755));
  CHECK_FALSE(access_as(tmp / "private/inner", k_nobody, R_OK | X_OK));
}

TEST_CASE("access_as applies the submitter's supplementary groups", "[mount_policy][root]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: access_as needs root to change uid");
    return;
  }
  OpenTempDir tmp;
  const std::string shared = tmp / "group-shared";
  fs::create_directories(shared);
  REQUIRE(::chown(shared.c_str(), 0, 54321) == 0);
  fs::permissions(shared, fs::perms(0070));
  Submitter member = k_nobody;
  member.groups = {65534, 54321};
  CHECK(access_as(shared, member, R_OK | W_OK | X_OK));
  CHECK_FALSE(access_as(shared, k_nobody, R_OK | X_OK));
  // The primary group counts as well.
  Submitter primary = k_nobody;
  primary.gid = 54321;
  primary.groups = {};
  CHECK(access_as(shared, primary, R_OK | X_OK));
}

TEST_CASE("resolve_mounts with the real access check refuses a directory only root can read", "[mount_policy][root]") {
  if (::geteuid() != 0) {
    WARN("SKIPPED: access_as needs root to change uid");
    return;
  }
  OpenTempDir tmp;
  fs::create_directories(tmp / "nobody/datasets");
  fs::create_directories(tmp / "nobody/open");
  fs::permissions(tmp / "nobody", fs::perms(0755));
  fs::permissions(tmp / "nobody/datasets", fs::perms(0700));
  fs::permissions(tmp / "nobody/open", fs::perms(0755));
  auto refused = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_nobody);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"you (nobody) cannot read " + tmp / "nobody/datasets"}));

  auto readable = resolve_mounts({mount_template(tmp / "{user}/open")}, k_nobody);
  REQUIRE(readable.ok());
  REQUIRE(readable->size() == 1);
  CHECK((*readable)[0].source == tmp / "nobody/open");

  auto writable = resolve_mounts({mount_template(tmp / "{user}/open", "/o", false)}, k_nobody);
  REQUIRE_FALSE(writable.ok());
  CHECK_THAT(writable.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"cannot read and write"}));
}

TEST_CASE("a symlink to a path with a comma cannot add options to --mount", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/x,type=volume,source=evil");
  fs::create_directory_symlink(tmp / "alice/x,type=volume,source=evil", tmp / "alice/datasets");
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets", "{source}")}, k_alice, allow_all);
  REQUIRE_FALSE(mounts.ok());
  CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"not a plain path"}));
}

TEST_CASE("expand_template does not expand what it inserted", "[mount_policy]") {
  Submitter odd{1001, 1001, "{uid}", "/home/x", {1001}};
  CHECK(expand_template("/d/{user}/{uid}", odd) == "/d/{uid}/1001");
}
