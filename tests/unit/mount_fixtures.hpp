#pragma once
// What the mount tests share (test_mount_policy.cpp, test_source_opener.cpp): an
// unprivileged account to open as, a temp dir anyone may traverse, and the [root] guard.

#include "daemon/policy/mount_policy.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace jobman::test {

// nobody/nogroup: a real unprivileged account for the opener to become.
inline const daemon::policy::Submitter k_nobody{65534, 65534, "nobody", "/nonexistent", {65534}};

// The temp dir made traversable by anyone (mkdtemp creates it 0700).
struct OpenTempDir {
  OpenTempDir() { std::filesystem::permissions(dir.path(), std::filesystem::perms(0755)); }
  std::string operator/(const std::string& rest) const { return (root() / rest).string(); }
  std::filesystem::path root() const { return std::filesystem::canonical(dir.path()); }
  TempDir dir;
};

inline daemon::mounts::Opener opener_of(const daemon::policy::Submitter& s) { return {s.uid, s.gid, s.groups}; }

} // namespace jobman::test

// The [root] tests change uid in a child: as another user they are reported skipped.
#define SKIP_UNLESS_ROOT()                                   \
  do {                                                       \
    if (::geteuid() != 0) {                                  \
      WARN("SKIPPED: the mount opener needs root to change uid"); \
      return;                                                \
    }                                                        \
  } while (false)
