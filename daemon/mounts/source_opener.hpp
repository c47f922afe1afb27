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

#include <boost/asio/awaitable.hpp>
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

// Where opening stopped, when it did (Identity: the child could not become the submitter).
enum class OpenStep { Root, Path, Access, Done, Identity };

struct OpenedSource {
  OpenStep step = OpenStep::Done;
  int error = 0;      // errno of `step`; 0 when opened
  FileDescriptor fd;   // the source, O_PATH, when opened
  FileDescriptor root; // its root, O_PATH, when the source was opened
  bool is_directory = false;
  std::string root_path; // where the root's path led then (realpath, as the submitter), when opened
};

// The longest the child may take for all of them (a hung NFS or FUSE path): then it is
// killed and every source not yet answered fails with ETIMEDOUT.
constexpr std::chrono::milliseconds k_open_timeout{5000};

// Children of one user at once (checks and the killed ones not yet reaped): one more
// waits, up to k_open_timeout, for one of them to be reaped, then is refused.
constexpr int k_max_checks_per_user = 8;
// A child that has not died a second after it was killed is stuck in a path that does not
// answer (a hard NFS mount, the user's own FUSE server). It is reaped whenever it dies; a
// user with this many such children gets no new check until one of them has died.
constexpr int k_max_stuck_checks_per_user = 4;

// Opens each of `sources` as `who`, in one child, without blocking the caller's thread
// (issue 9: no work on the daemon's only thread longer than a few milliseconds): the fork
// is the only synchronous step; answers, the timeout and the child's end are awaited on the
// event loop. Sources not answered in time fail with ETIMEDOUT, those the child died before
// answering with ECANCELED. Fails as a whole only if the child could not be run or become
// `who`, or `who` has too many checks (k_max_checks_per_user, k_max_stuck_checks_per_user).
// Cancelling the awaiting coroutine (a client gone) still kills and reaps the child.
boost::asio::awaitable<Result<std::vector<OpenedSource>>> open_sources_async(std::vector<SourceRequest> sources, Opener who);

// open_sources_async for a caller without an event loop (tests): on an io_context of its own.
Result<std::vector<OpenedSource>> open_sources(const std::vector<SourceRequest>& sources, const Opener& who);

// How many of `uid`'s checking children are stuck now (killed, not dead after a second),
// and how many live (forked, not yet reaped).
int stuck_checks(std::uint32_t uid);
int live_checks(std::uint32_t uid);

// The path the kernel gives for `fd` (readlink of /proc/self/fd/N), or "".
std::string path_of(int fd);

} // namespace jobman::daemon::mounts
