// Tests for daemon/policy/mount_policy.hpp: templates expanded per user and opened by the
// real opener in a forked child, against real directories in a temp dir. Path tests open
// as the test's own user; the [root] ones as another user (nobody) through a real setuid
// child. The opener itself: test_source_opener.cpp.

#include "daemon/mounts/source_opener.hpp"
#include "daemon/policy/mount_policy.hpp"

#include "matchers.hpp"
#include "mount_fixtures.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace jobman;
using namespace jobman::daemon::policy;
namespace mounts = jobman::daemon::mounts;
using jobman::test::IsErrorInfo;
using jobman::test::k_nobody;
using jobman::test::OpenTempDir;
namespace fs = std::filesystem;

namespace {

// "alice" in paths, with the test process's own uid and gid: the opener needs no switch.
const Submitter k_alice{::getuid(), ::getgid(), "alice", "/home/alice", {::getgid()}};

MountTemplate mount_template(std::string source, std::string target = "{source}", bool read_only = true, bool optional = false) {
  MountTemplate t;
  t.source = std::move(source);
  t.target = std::move(target);
  t.read_only = read_only;
  t.optional = optional;
  return t;
}

} // namespace

TEST_CASE("expand_template replaces {user}, {uid} and {home}", "[mount_policy]") {
  CHECK(expand_template("/data/{user}/datasets", k_alice) == "/data/alice/datasets");
  const Submitter alice_1001{1001, 1001, "alice", "/home/alice", {1001}};
  CHECK(expand_template("/scratch/{uid}", alice_1001) == "/scratch/1001");
  CHECK(expand_template("{home}/persistent", k_alice) == "/home/alice/persistent");
  CHECK(expand_template("/m/{user}-{uid}/{user}", alice_1001) == "/m/alice-1001/alice");
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
  auto mounts = resolve_mounts(templates, k_alice);
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
  fs::create_directories(tmp / ("scratch/" + std::to_string(::getuid())));
  fs::create_directories(tmp / "homes/alice/work");
  Submitter alice = k_alice;
  alice.home = tmp / "homes/alice";
  auto mounts = resolve_mounts({mount_template(tmp / "scratch/{uid}", "/scratch"), mount_template("/{home}/work", "/work")}, alice);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 2);
  CHECK((*mounts)[0].source == tmp / ("scratch/" + std::to_string(::getuid())));
  CHECK((*mounts)[0].target == "/scratch");
  CHECK((*mounts)[1].source == tmp / "homes/alice/work");
  CHECK((*mounts)[1].target == "/work");
}

TEST_CASE("resolve_mounts with no templates gives no mounts", "[mount_policy]") {
  auto mounts = resolve_mounts({}, k_alice);
  REQUIRE(mounts.ok());
  CHECK(mounts->empty());
}

TEST_CASE("a missing required source is an error naming the path", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets"), mount_template(tmp / "{user}/persistent")}, k_alice);
  REQUIRE_FALSE(mounts.ok());
  CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {tmp / "alice/persistent", "does not exist"}));
}

TEST_CASE("a missing optional source is skipped", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/extra", "/extra", true, true), mount_template(tmp / "{user}/datasets")},
                               k_alice);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 1);
  CHECK((*mounts)[0].source == tmp / "alice/datasets");
  // An optional source that exists is mounted.
  fs::create_directories(tmp / "alice/extra");
  auto both = resolve_mounts({mount_template(tmp / "{user}/extra", "/extra", true, true)}, k_alice);
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
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {tmp / "alice/datasets", "leads outside " + tmp / "alice"}));
    // What it leads to is not said (issue 9, V8: private paths could be probed).
    CHECK(mounts.error().message.find("bob") == std::string::npos);
  }
  SECTION("to a system directory, relative") {
    fs::create_directory_symlink("../../../../../../../../etc", tmp / "alice/datasets");
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"leads outside", "symlinks"}));
    CHECK(mounts.error().message.find("/etc") == std::string::npos);
  }
  SECTION("a symlinked parent inside the user's part") {
    fs::create_directory_symlink(tmp / "bob", tmp / "alice/link");
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/link/datasets")}, k_alice);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"leads outside " + tmp / "alice"}));
  }
  SECTION("a sibling whose name starts like the root") {
    fs::create_directories(tmp / "alice2/datasets");
    fs::create_directory_symlink(tmp / "alice2/datasets", tmp / "alice/datasets");
    auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"leads outside"}));
  }
}

TEST_CASE("a symlink that stays inside the template root is followed", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/big-disk/data");
  fs::create_directory_symlink(tmp / "alice/big-disk/data", tmp / "alice/datasets");
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets")}, k_alice);
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
  auto mounts = resolve_mounts({mount_template(tmp / "users/{user}/datasets")}, k_alice);
  REQUIRE(mounts.ok());
  REQUIRE(mounts->size() == 1);
  CHECK((*mounts)[0].source == tmp / "export/alice/datasets");
  CHECK((*mounts)[0].target == tmp / "users/alice/datasets");
}

TEST_CASE("a template without placeholders is its own root", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "real-shared");
  fs::create_directory_symlink(tmp / "real-shared", tmp / "shared");
  auto mounts = resolve_mounts({mount_template(tmp / "shared", "/shared")}, k_alice);
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
    auto mounts = resolve_mounts({mount_template(tmp / "{user}")}, odd);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {tmp / "x,readonly=false", "not a plain path"}));
  }
  SECTION("dot-dot from the user name") {
    fs::create_directories(tmp / "datasets");
    odd.user = "..";
    auto mounts = resolve_mounts({mount_template(tmp / "sub/{user}/datasets")}, odd);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"not a plain path"}));
  }
  SECTION("a line break from the home directory") {
    odd.home = "/home/a\nb";
    auto mounts = resolve_mounts({mount_template("/{home}/data")}, odd);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"not a plain path"}));
  }
}

TEST_CASE("open_mounts asks the opener for each source and its root, as the submitter", "[mount_policy]") {
  OpenTempDir tmp;
  std::vector<mounts::SourceRequest> asked;
  mounts::Opener as;
  SourceOpener record = [&](const std::vector<mounts::SourceRequest>& requests, const mounts::Opener& who) {
    asked = requests;
    as = who;
    std::vector<mounts::OpenedSource> none(requests.size());
    for (auto& o : none) o.step = mounts::OpenStep::Access, o.error = EACCES;
    return Result<std::vector<mounts::OpenedSource>>(std::move(none));
  };
  const Submitter bob{2002, 2003, "bob", "/home/bob", {2003, 27}};
  auto refused = resolve_mounts({mount_template(tmp / "{user}/ro"), mount_template(tmp / "{user}/rw", "/rw", false)}, bob, record);
  REQUIRE(asked.size() == 2);
  CHECK(asked[0].root == tmp / "bob");
  CHECK(asked[0].path == tmp / "bob/ro");
  CHECK_FALSE(asked[0].write);
  CHECK(asked[1].write);
  CHECK(as.uid == 2002);
  CHECK(as.gid == 2003);
  CHECK(as.groups == std::vector<std::uint32_t>{2003, 27});
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"you (bob) cannot read " + tmp / "bob/ro"}));
}

TEST_CASE("open_mounts names each way opening can fail, saying only what the user could see", "[mount_policy]") {
  OpenTempDir tmp;
  auto failing = [](mounts::OpenStep step, int error) {
    return SourceOpener([=](const std::vector<mounts::SourceRequest>& requests, const mounts::Opener&) {
      std::vector<mounts::OpenedSource> out(requests.size());
      for (auto& o : out) o.step = step, o.error = error;
      return Result<std::vector<mounts::OpenedSource>>(std::move(out));
    });
  };
  const auto one = std::vector<MountTemplate>{mount_template(tmp / "{user}/d", "/d", false)};
  CHECK_THAT(resolve_mounts(one, k_alice, failing(mounts::OpenStep::Access, EACCES)).error(),
             IsErrorInfo(ErrorCode::PermissionDenied, {"cannot read and write"}));
  CHECK_THAT(resolve_mounts(one, k_alice, failing(mounts::OpenStep::Path, EACCES)).error(),
             IsErrorInfo(ErrorCode::PermissionDenied, {"you (alice) cannot reach " + tmp / "alice/d"}));
  CHECK_THAT(resolve_mounts(one, k_alice, failing(mounts::OpenStep::Path, ENOENT)).error(),
             IsErrorInfo(ErrorCode::InvalidArgument, {"does not exist"}));
  CHECK_THAT(resolve_mounts(one, k_alice, failing(mounts::OpenStep::Root, ENOENT)).error(),
             IsErrorInfo(ErrorCode::InvalidArgument, {"does not exist"}));
  CHECK_THAT(resolve_mounts(one, k_alice, failing(mounts::OpenStep::Path, ELOOP)).error(),
             IsErrorInfo(ErrorCode::PermissionDenied, {"link jobman does not follow"}));
  CHECK_THAT(resolve_mounts(one, k_alice, failing(mounts::OpenStep::Path, ETIMEDOUT)).error(),
             IsErrorInfo(ErrorCode::Unavailable, {tmp / "alice/d", "did not answer within 5s"}));
}

TEST_CASE("a symlink to a /proc magic link is not followed (the opener's own descriptors)", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice");
  fs::create_symlink("/proc/self/fd/0", tmp / "alice/stdin");
  fs::create_directory_symlink("/proc/self/cwd", tmp / "alice/cwd");
  for (const char* name : {"stdin", "cwd"}) {
    auto mounts = resolve_mounts({mount_template(tmp / ("{user}/" + std::string(name)))}, k_alice);
    REQUIRE_FALSE(mounts.ok());
    CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"link jobman does not follow"}));
  }
}

TEST_CASE("open_mounts keeps the descriptor of what it checked", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  auto opened = open_mounts({mount_template(tmp / "{user}/datasets")}, k_alice);
  REQUIRE(opened.ok());
  REQUIRE(opened->size() == 1);
  auto& m = (*opened)[0];
  CHECK(m.is_directory);
  // Renamed and replaced by a symlink after the check: the descriptor still is the original.
  fs::rename(tmp / "alice/datasets", tmp / "alice/moved");
  fs::create_directory_symlink("/etc", tmp / "alice/datasets");
  CHECK(mounts::path_of(m.fd.get()) == tmp / "alice/moved");
}


TEST_CASE("the opening child holds none of the daemon's descriptors", "[mount_policy][root]") {
  SKIP_UNLESS_ROOT();
  // A root-only file the daemon has open (as jobman.db): a magic link would reach it
  // whatever the path's permissions; and the child does not even hold it.
  OpenTempDir tmp;
  fs::create_directories(tmp / "nobody");
  fs::permissions(tmp / "nobody", fs::perms(0777));
  std::ofstream(tmp / "secret") << "secret";
  fs::permissions(tmp / "secret", fs::perms(0600));
  FileDescriptor secret(::open((tmp / "secret").c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(secret.get() >= 0);
  fs::create_symlink("/proc/self/fd/" + std::to_string(secret.get()), tmp / "nobody/db");
  auto refused = resolve_mounts({mount_template(tmp / "{user}/db")}, k_nobody);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"link jobman does not follow"}));
}

TEST_CASE("resolve_mounts with the real access check refuses a directory only root can read", "[mount_policy][root]") {
  SKIP_UNLESS_ROOT();
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
  auto mounts = resolve_mounts({mount_template(tmp / "{user}/datasets", "{source}")}, k_alice);
  REQUIRE_FALSE(mounts.ok());
  CHECK_THAT(mounts.error(), IsErrorInfo(ErrorCode::PermissionDenied, {"not a plain path"}));
}

TEST_CASE("expand_template does not expand what it inserted", "[mount_policy]") {
  Submitter odd{1001, 1001, "{uid}", "/home/x", {1001}};
  CHECK(expand_template("/d/{user}/{uid}", odd) == "/d/{uid}/1001");
}

TEST_CASE("open_mounts refuses a root the child did not find where its path leads", "[mount_policy]") {
  OpenTempDir tmp;
  fs::create_directories(tmp / "alice/datasets");
  // What a child answers when the user detached their own FUSE root between its open and
  // its realpath, or when realpath failed: the root descriptor is not where the path leads.
  auto answering = [&](std::string root_path) {
    return SourceOpener([=](const std::vector<mounts::SourceRequest>& requests, const mounts::Opener&) {
      std::vector<mounts::OpenedSource> out(requests.size());
      for (std::size_t i = 0; i < requests.size(); ++i) {
        out[i].fd.reset(::open(requests[i].path.c_str(), O_PATH | O_CLOEXEC));
        out[i].root.reset(::open(requests[i].root.c_str(), O_PATH | O_CLOEXEC));
        out[i].is_directory = true;
        out[i].root_path = root_path;
      }
      return Result<std::vector<mounts::OpenedSource>>(std::move(out));
    });
  };
  const auto one = std::vector<MountTemplate>{mount_template(tmp / "{user}/datasets")};
  REQUIRE(resolve_mounts(one, k_alice, answering(tmp / "alice")).ok());
  for (const std::string& elsewhere : {std::string(), std::string("/"), tmp / "bob"})
    CHECK_THAT(resolve_mounts(one, k_alice, answering(elsewhere)).error(),
               IsErrorInfo(ErrorCode::PermissionDenied, {tmp / "alice", "changed while it was checked"}));
}
