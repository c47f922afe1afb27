#pragma once
// Opening mount sources as the submitter, never as root: a forked child closes every
// descriptor of the daemon's, takes the submitter's uid, gid and groups, opens each source
// and its template's root with openat2(O_PATH, RESOLVE_NO_MAGICLINKS), checks permission on
// what it opened (faccessat2 on the descriptor), and hands the descriptors back over a
// socket. The daemon then checks where they really are (the source inside the root) and
// mounts that descriptor, not a path string that may have changed since (issue 9, V2); what
// it says about a path is what the user could have found out themselves (V8).

#include "common/errors.hpp"
#include "common/file_descriptor.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace jobman::daemon::mounts {

// Who opens: uid, gid and all groups. The same uid and gid as the daemon's own: no switch.
struct Opener {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::vector<std::uint32_t> groups;
};

// One source to open; whether it lies inside `root` is for the caller to check on the
// descriptors (path_of), not on these strings.
struct SourceRequest {
  std::string root;
  std::string path;
  bool write = false; // also needs write permission
};

// Where opening stopped, when it did.
enum class OpenStep { Root, Path, Access, Done };

struct OpenedSource {
  OpenStep step = OpenStep::Done;
  int error = 0;      // errno of `step`; 0 when opened
  FileDescriptor fd;   // the source, O_PATH, when opened
  FileDescriptor root; // its root, O_PATH, when the source was opened
  bool is_directory = false;
};

// The longest the child may take for all of them (a hung NFS or FUSE path): then it is
// killed and every source not yet answered fails with ETIMEDOUT.
constexpr std::chrono::milliseconds k_open_timeout{5000};

// Opens each of `sources` as `who`, in one child. Fails as a whole only if the child could
// not be run.
Result<std::vector<OpenedSource>> open_sources(const std::vector<SourceRequest>& sources, const Opener& who);

// The path the kernel gives for `fd` (readlink of /proc/self/fd/N), or "".
std::string path_of(int fd);

} // namespace jobman::daemon::mounts
