// Tests for daemon/mounts/source_opener.hpp: the real opener, a forked child that takes the
// submitter's identity ([root]: another user, nobody), and its asynchronous side: a check
// stuck in a FUSE mount that never answers holds neither the event loop nor more than
// k_max_checks_per_user processes of one user.

#include "daemon/mounts/source_opener.hpp"

#include "mount_fixtures.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <sys/mount.h>
#include <unistd.h>

using namespace jobman;
using jobman::daemon::policy::Submitter;
namespace mounts = jobman::daemon::mounts;
using jobman::test::k_nobody;
using jobman::test::opener_of;
using jobman::test::OpenTempDir;
namespace fs = std::filesystem;

namespace {
mounts::OpenedSource open_one(const std::string& path, const Submitter& who, bool write = false) {
  auto opened = mounts::open_sources({{fs::path(path).parent_path().string(), path, write}}, opener_of(who));
  REQUIRE(opened.ok());
  REQUIRE(opened->size() == 1);
  return std::move((*opened)[0]);
}
} // namespace

TEST_CASE("open_sources opens with the submitter's own uid", "[source_opener][root]") {
  SKIP_UNLESS_ROOT();
  OpenTempDir tmp;
  fs::create_directories(tmp / "private/inner");
  fs::create_directories(tmp / "public");
  fs::permissions(tmp / "private", fs::perms(0700));
  fs::permissions(tmp / "private/inner", fs::perms(0755));
  fs::permissions(tmp / "public", fs::perms(0755));
  auto private_dir = open_one(tmp / "private", k_nobody);
  CHECK(private_dir.step == mounts::OpenStep::Access);
  CHECK(private_dir.error == EACCES);
  CHECK(private_dir.fd.get() < 0);
  auto inner = open_one(tmp / "private/inner", k_nobody); // not even reachable
  CHECK(inner.step == mounts::OpenStep::Path);
  CHECK(inner.error == EACCES);
  auto public_dir = open_one(tmp / "public", k_nobody);
  CHECK(public_dir.step == mounts::OpenStep::Done);
  CHECK(public_dir.fd.get() >= 0);
  CHECK(public_dir.is_directory);
  CHECK(open_one(tmp / "public", k_nobody, true).error == EACCES); // root owns it
  CHECK(open_one(tmp / "missing", k_nobody).error == ENOENT);
  // Root itself may open the private one: the answer is the submitter's, not the daemon's.
  Submitter root{0, 0, "root", "/root", {0}};
  CHECK(open_one(tmp / "private", root).step == mounts::OpenStep::Done);
}

TEST_CASE("open_sources applies the submitter's supplementary and primary groups", "[source_opener][root]") {
  SKIP_UNLESS_ROOT();
  OpenTempDir tmp;
  const std::string shared = tmp / "group-shared";
  fs::create_directories(shared);
  REQUIRE(::chown(shared.c_str(), 0, 54321) == 0);
  fs::permissions(shared, fs::perms(0070));
  Submitter member = k_nobody;
  member.groups = {65534, 54321};
  CHECK(open_one(shared, member, true).step == mounts::OpenStep::Done);
  CHECK(open_one(shared, k_nobody).error == EACCES);
  Submitter primary = k_nobody;
  primary.gid = 54321;
  primary.groups = {54321};
  CHECK(open_one(shared, primary).step == mounts::OpenStep::Done);
}

namespace {
// A FUSE file system on `path` that never answers the kernel's INIT (a hung network file
// system, or a user's own FUSE server): whoever looks inside waits, killably, until the
// connection goes (this object). Root only; nothing mounted when /dev/fuse is missing.
struct HangingFuse {
  explicit HangingFuse(const std::string& where) : path(where) {
    fd.reset(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
    if (fd.get() < 0) return;
    const std::string options = "fd=" + std::to_string(fd.get()) + ",rootmode=40000,user_id=0,group_id=0,allow_other";
    mounted = ::mount("jobman-test-hang", path.c_str(), "fuse", MS_NOSUID | MS_NODEV, options.c_str()) == 0;
  }
  ~HangingFuse() {
    fd.reset(); // the connection ends: every waiting request fails
    if (mounted) ::umount2(path.c_str(), MNT_DETACH);
  }
  std::string path;
  FileDescriptor fd;
  bool mounted = false;
};

// <tmp>/nobody/hung with a HangingFuse on it (nobody may enter <tmp>/nobody); null, and the
// test reported skipped, when FUSE cannot be mounted here.
std::unique_ptr<HangingFuse> hung_dir(const OpenTempDir& tmp) {
  fs::create_directories(tmp / "nobody/hung");
  fs::permissions(tmp / "nobody", fs::perms(0755));
  auto fuse = std::make_unique<HangingFuse>(tmp / "nobody/hung");
  if (fuse->mounted) return fuse;
  WARN("SKIPPED: cannot mount a FUSE file system here");
  return nullptr;
}

void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}
} // namespace

TEST_CASE("a mount check stuck in a path that never answers leaves the event loop free", "[source_opener][root]") {
  SKIP_UNLESS_ROOT();
  OpenTempDir tmp;
  fs::create_directories(tmp / "nobody/fine");
  auto fuse = hung_dir(tmp);
  if (!fuse) return;
  namespace asio = boost::asio;
  asio::io_context io;
  int ticks = 0;
  std::optional<Result<std::vector<mounts::OpenedSource>>> hung, fine;
  int ticks_when_fine = -1;
  bool stop_ticking = false;
  const std::vector<mounts::SourceRequest> hung_source{{tmp / "nobody", tmp / "nobody/hung/x"}};
  const std::vector<mounts::SourceRequest> fine_source{{tmp / "nobody", tmp / "nobody/fine"}};
  auto hang = [&]() -> asio::awaitable<void> {
    const mounts::Opener who = opener_of(k_nobody); // no temporary in co_await (GCC 12)
    auto result = co_await mounts::open_sources_async(hung_source, who);
    hung.emplace(std::move(result));
    stop_ticking = true;
  };
  auto other = [&]() -> asio::awaitable<void> {
    const mounts::Opener who = opener_of(k_nobody);
    auto result = co_await mounts::open_sources_async(fine_source, who);
    fine.emplace(std::move(result));
    ticks_when_fine = ticks;
  };
  auto tick = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io);
    while (!stop_ticking) {
      timer.expires_after(std::chrono::milliseconds(50));
      co_await timer.async_wait(asio::use_awaitable);
      ++ticks;
    }
  };
  asio::co_spawn(io, hang(), rethrow);
  asio::co_spawn(io, tick(), rethrow);
  asio::co_spawn(io, other(), rethrow); // asked after the hung one, answered long before it
  io.run_for(std::chrono::seconds(20));
  REQUIRE(hung);
  REQUIRE(hung->ok());
  CHECK((**hung)[0].error == ETIMEDOUT);
  REQUIRE(fine);
  REQUIRE(fine->ok());
  CHECK((**fine)[0].step == mounts::OpenStep::Done);
  CHECK(ticks_when_fine < 10);
  // k_open_timeout is 5 s: the loop went on turning all along (100 ticks if never held up).
  CHECK(ticks >= 50);
  CHECK(mounts::stuck_checks(k_nobody.uid) == 0); // a killable wait: the child died
}

TEST_CASE("at most k_max_checks_per_user checking children of one user live at once", "[source_opener][root]") {
  SKIP_UNLESS_ROOT();
  OpenTempDir tmp;
  auto fuse = hung_dir(tmp);
  if (!fuse) return;
  namespace asio = boost::asio;
  asio::io_context io;
  const std::vector<mounts::SourceRequest> hung_source{{tmp / "nobody", tmp / "nobody/hung/x"}};
  const mounts::Opener who = opener_of(k_nobody);
  const int n = mounts::k_max_checks_per_user + 1;
  std::vector<std::optional<Result<std::vector<mounts::OpenedSource>>>> results(n);
  int most_live = 0;
  int done = 0;
  auto check = [&](int i) -> asio::awaitable<void> {
    auto result = co_await mounts::open_sources_async(hung_source, who);
    results[static_cast<std::size_t>(i)].emplace(std::move(result));
    ++done;
  };
  auto watch = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(io);
    while (done < n) {
      most_live = std::max(most_live, mounts::live_checks(k_nobody.uid));
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(asio::use_awaitable);
    }
  };
  for (int i = 0; i < n; ++i) asio::co_spawn(io, check(i), rethrow);
  asio::co_spawn(io, watch(), rethrow);
  io.run_for(std::chrono::seconds(30));
  REQUIRE(done == n);
  CHECK(most_live == mounts::k_max_checks_per_user);
  // The one past the cap waited for a child to be reaped, then was checked (and timed out) itself.
  for (auto& result : results) {
    REQUIRE(result);
    REQUIRE(result->ok());
    CHECK((**result)[0].error == ETIMEDOUT);
  }
}
