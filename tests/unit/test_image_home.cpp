// Tests for daemon/images/image_home.hpp (the pure parts: where an image's home is, what is
// copied, reading /etc/passwd out of a tar) and for policy::job_mounts, which puts the
// copies into a job. The copies themselves are made by real engines in
// tests/integration/test_chaimeleon.py.

#include "daemon/images/image_home.hpp"
#include "daemon/policy/mount_policy.hpp"
#include "daemon/policy/submit_policy.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <fmt/format.h>

using namespace jobman;
using namespace jobman::daemon;
using images::ImageHome;

namespace {

// A one-member ustar archive, as `ENGINE cp C:/etc/passwd -` prints it (after a PAX header
// when `pax` is set, as docker writes one).
std::string tar_of(const std::string& name, const std::string& content, bool pax = false) {
  auto header = [](const std::string& member, std::size_t size, char type) {
    std::string h(512, '\0');
    std::memcpy(h.data(), member.data(), std::min<std::size_t>(member.size(), 99));
    const std::string octal = fmt::format("{:011o}", size);
    std::memcpy(h.data() + 124, octal.data(), octal.size());
    h[156] = type;
    std::memcpy(h.data() + 257, "ustar", 5);
    return h;
  };
  auto padded = [](std::string data) {
    data.resize((data.size() + 511) / 512 * 512, '\0');
    return data;
  };
  std::string out;
  if (pax) {
    const std::string record = "30 mtime=1700000000.000000000\n";
    out += header("PaxHeaders/" + name, record.size(), 'x') + padded(record);
  }
  out += header(name, content.size(), '0') + padded(content);
  return out + std::string(1024, '\0');
}

policy::ImageInfo image_of(std::string user, std::string workdir, std::vector<std::string> env = {}) {
  policy::ImageInfo info;
  info.id = "sha256:abc";
  info.user = std::move(user);
  info.workdir = std::move(workdir);
  info.env = std::move(env);
  return info;
}

const std::string k_passwd = "root:x:0:0:root:/root:/bin/bash\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                             "chaimeleon:x:1000:1000::/home/chaimeleon:/bin/bash\n";

} // namespace

TEST_CASE("first_file_in_tar reads the member engines' cp prints", "[image_home]") {
  CHECK(images::first_file_in_tar(tar_of("passwd", k_passwd)) == k_passwd);
  CHECK(images::first_file_in_tar(tar_of("passwd", k_passwd, true)) == k_passwd);
  CHECK(images::first_file_in_tar(tar_of("passwd", "")) == std::string{});
  // Hostile or broken streams: nothing, never a read past the end.
  CHECK_FALSE(images::first_file_in_tar(""));
  CHECK_FALSE(images::first_file_in_tar(std::string(1024, '\0')));
  std::string truncated = tar_of("passwd", k_passwd).substr(0, 600);
  CHECK_FALSE(images::first_file_in_tar(truncated));
  std::string huge = tar_of("passwd", k_passwd);
  std::memcpy(huge.data() + 124, "77777777777", 11); // 8 GiB claimed
  CHECK_FALSE(images::first_file_in_tar(huge));
  std::string garbage = tar_of("passwd", k_passwd);
  std::memcpy(garbage.data() + 124, "12x45678901", 11);
  CHECK_FALSE(images::first_file_in_tar(garbage));
}

TEST_CASE("first_member_type says what the copied directory itself is", "[image_home]") {
  auto member = [](const std::string& name, char type, bool pax) {
    std::string t = tar_of(name, "", pax);
    t[(pax ? 1024 : 0) + 156] = type;
    return t;
  };
  CHECK(images::first_member_type(member("chaimeleon/", '5', false)) == '5');
  CHECK(images::first_member_type(member("chaimeleon/", '5', true)) == '5'); // past docker's PAX header
  CHECK(images::first_member_type(member("chaimeleon", '2', false)) == '2'); // a symlink: refused by the probe
  CHECK_FALSE(images::first_member_type(""));
  CHECK_FALSE(images::first_member_type(std::string(512, '\0')));
  std::string bad = member("x", '5', true);
  std::memcpy(bad.data() + 124, "zzzzzzzzzzz", 11);
  CHECK_FALSE(images::first_member_type(bad));
}

TEST_CASE("passwd_home finds the image user's home by name or uid", "[image_home]") {
  CHECK(images::passwd_home(k_passwd, "chaimeleon") == "/home/chaimeleon");
  CHECK(images::passwd_home(k_passwd, "chaimeleon:chaimeleon") == "/home/chaimeleon");
  CHECK(images::passwd_home(k_passwd, "1000") == "/home/chaimeleon");
  CHECK(images::passwd_home(k_passwd, "1000:1000") == "/home/chaimeleon");
  CHECK(images::passwd_home(k_passwd, "") == "/root");
  CHECK(images::passwd_home(k_passwd, "root") == "/root");
  CHECK_FALSE(images::passwd_home(k_passwd, "nobody"));
  CHECK_FALSE(images::passwd_home(k_passwd, "4242"));
  CHECK_FALSE(images::passwd_home("chaimeleon:x:1000\n::::::\n", "chaimeleon")); // short lines are skipped
  CHECK(images::passwd_home("a:b:c:d:e:/h", "a") == "/h"); // no newline at the end
}

TEST_CASE("is_copyable_dir takes plain absolute directories only", "[image_home]") {
  CHECK(images::is_copyable_dir("/home/chaimeleon"));
  CHECK(images::is_copyable_dir("/root"));
  CHECK(images::is_copyable_dir("/opt/app"));
  for (const char* bad : {"", "/", "home", "/home/", "//home", "/home/../etc", "/home/./x", "/home/..", "/a,b", "/a b", "/a\nb", "/proc",
                          "/proc/1", "/sys/fs", "/dev", "/dev/shm", "/a\"b", "/a\\b"})
    CHECK_FALSE(images::is_copyable_dir(bad));
  CHECK_FALSE(images::is_copyable_dir("/" + std::string(300, 'a')));
}

TEST_CASE("plan_home: HOME, else the passwd entry, else WORKDIR; WORKDIR outside the home too", "[image_home]") {
  // CHAIMELEON's: USER chaimeleon, WORKDIR its home.
  ImageHome chaimeleon = images::plan_home(image_of("chaimeleon", "/home/chaimeleon"), k_passwd);
  CHECK(chaimeleon.home == "/home/chaimeleon");
  REQUIRE(chaimeleon.copies.size() == 1);
  CHECK(chaimeleon.copies[0].dir == "/home/chaimeleon");
  CHECK(chaimeleon.notes.empty());

  // A root image with WORKDIR /app: /root and /app.
  ImageHome app = images::plan_home(image_of("", "/app"), k_passwd);
  CHECK(app.home == "/root");
  REQUIRE(app.copies.size() == 2);
  CHECK(app.copies[1].dir == "/app");

  // The image's own HOME wins; a WORKDIR inside the home is not copied twice.
  ImageHome env = images::plan_home(image_of("chaimeleon", "/srv/me/work", {"PATH=/bin", "HOME=/srv/me"}), k_passwd);
  CHECK(env.home == "/srv/me");
  CHECK(env.copies.size() == 1);

  // No passwd (or no entry): WORKDIR is the home.
  ImageHome bare = images::plan_home(image_of("4242", "/work"), std::nullopt);
  CHECK(bare.home == "/work");
  CHECK(bare.copies.size() == 1);

  // Nothing at all: no home, no copies.
  ImageHome none = images::plan_home(image_of("4242", ""), std::nullopt);
  CHECK(none.home.empty());
  CHECK(none.copies.empty());

  // Hostile paths from the image are never copied or mounted: a note says so.
  ImageHome hostile = images::plan_home(image_of("", "/proc/self", {"HOME=/x,dst=/etc"}), k_passwd);
  CHECK(hostile.home.empty());
  CHECK(hostile.copies.empty());
  REQUIRE(hostile.notes.size() == 2);
  CHECK_THAT(hostile.notes[0], Catch::Contains("stays read-only"));
}

TEST_CASE("job_mounts: the copies first, {image_home} targets resolved, the admin's own mount wins", "[image_home]") {
  ImageHome home{"/home/chaimeleon", {{"/home/chaimeleon", "/var/lib/jobman/image-homes/a.tar"}}, {}};
  std::vector<Mount> admin{{"/home/alice/persistent-home", "/home/alice/persistent-home", false, {}, false},
                           {"/home/alice/persistent-home", "{image_home}/persistent-home", false, {}, false}};
  auto mounts = policy::job_mounts(&home, admin);
  REQUIRE(mounts.size() == 3);
  CHECK(mounts[0].image_copy);
  CHECK(mounts[0].target == "/home/chaimeleon");
  CHECK_FALSE(mounts[0].read_only);
  CHECK(mounts[2].target == "/home/chaimeleon/persistent-home");
  CHECK_FALSE(mounts[2].image_copy);

  // An admin mount at the copy's own path replaces the copy.
  std::vector<Mount> over{{"/srv/homes/alice", "/home/chaimeleon", false, {}, false}};
  auto replaced = policy::job_mounts(&home, over);
  REQUIRE(replaced.size() == 1);
  CHECK_FALSE(replaced[0].image_copy);

  // No home known: {image_home} stands for /.
  auto rootless = policy::job_mounts(nullptr, admin);
  CHECK(rootless.size() == 2);
  CHECK(rootless[1].target == "/persistent-home");
  CHECK(policy::with_image_home("/data/{image_home}", "/h") == "/data/{image_home}"); // only a leading one
}
