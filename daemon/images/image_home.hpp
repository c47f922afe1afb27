#pragma once
// The writable home of a job (issue 10): images such as CHAIMELEON's run as a user of their
// own (USER chaimeleon, uid 1000) and write into its home or WORKDIR (`.runcmd`, pip and
// matplotlib caches). jobman runs every job as the submitter's uid with a read-only root,
// so it gives each job a throwaway copy of those directories, owned by the submitter:
//
//  - once per image (cached by image id): a created, never-started container of the image
//    ("jobman-probe-..."); the image user's home from the image's HOME, else its
//    /etc/passwd, else its WORKDIR; `ENGINE cp` streams each directory as a tar into
//    STATE_DIR/image-homes (root only), at most limits.home_size each;
//  - per job, at start: a tmpfs of limits.home_size plus room for the copy (what the job
//    writes counts against its memory) under the job's staging directory, filled by `tar -x` run as the submitter
//    (so every file is theirs, and the image's content cannot make root write anywhere),
//    bind-mounted read-write over the directory. Unstaging the job unmounts it.
//
// No process of the job runs as any uid but the submitter's, no file is owned by the
// image's uid 1000 (which may be a real user's on the host), no user namespace is needed:
// docker and podman get the same.

#include "common/config.hpp"
#include "common/errors.hpp"
#include "daemon/engine/command_runner.hpp"
#include "daemon/policy/image_catalogue.hpp"

#include <boost/asio/awaitable.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::daemon::images {

namespace asio = boost::asio;

// One directory of the image that each job gets a writable copy of.
struct HomeCopy {
  std::string dir; // in the container, e.g. /home/chaimeleon
  std::string tar; // its content (STATE_DIR/image-homes/...), DIR's own entry first; "" when the image has no such directory
  std::int64_t tar_bytes = 0;
};

struct ImageHome {
  std::string home;             // the image user's home ("" when the image names none but /)
  std::vector<HomeCopy> copies; // home first, then WORKDIR when it is outside the home
  std::vector<std::string> notes; // for the submitter: what stays read-only and why
};

// The home directory of `user` ("name", "uid", "name:group", "uid:gid"; "" = root) in the
// text of an /etc/passwd; nothing when it has no such entry.
std::optional<std::string> passwd_home(std::string_view passwd, std::string_view user);
// The content of the first regular file in tar stream `tar` (what `ENGINE cp C:/FILE -` prints).
std::optional<std::string> first_file_in_tar(std::string_view tar);
// The type flag of the first member of tar stream `tar` past PAX and GNU long-name headers
// ('5' a directory, '2' a symlink, ...); nothing when there is none.
std::optional<char> first_member_type(std::string_view tar);
// Whether `dir` may be copied and mounted: absolute, plain (no '.', '..', '//', ','), printable,
// not / and not under /proc, /sys or /dev.
bool is_copyable_dir(std::string_view dir);
// The image's home and the directories to copy, from its config and passwd text (pure).
ImageHome plan_home(const policy::ImageInfo& image, const std::optional<std::string>& passwd);

// Extracts the copy in `tar` into `dir` (a fresh tmpfs) as `uid`:`gid`, in at most `timeout`
// (ImageHomes::extract; a Slurm node's `jobmand --node-stage`, node_helper.hpp).
asio::awaitable<Result<Unit>> extract_copy(engine::CommandRunner& runner, std::chrono::seconds timeout, std::string tar, std::string dir,
                                           std::uint32_t uid, std::uint32_t gid);

class ImageHomes {
public:
  // `instance`: the database's, labelled on probe containers so that only this jobmand's are swept.
  ImageHomes(const Config& config, engine::CommandRunner& runner, std::string instance);

  // The image's home and copies, probing the image once (a few engine calls) per image id.
  asio::awaitable<Result<ImageHome>> get(policy::ImageInfo image);
  // Fills directory `dir` (the job's fresh tmpfs, owned by uid:gid) from `tar`, as uid:gid.
  asio::awaitable<Result<Unit>> extract(std::string tar, std::string dir, std::uint32_t uid, std::uint32_t gid);
  // What get() found for `image_id`, if it is cached.
  const ImageHome* cached(const std::string& image_id) const;
  // Forgets `image_id` (its tars went missing): the next get() probes again.
  void forget(const std::string& image_id);
  // Forgets, and deletes the copies of, every image not in `image_ids` (the catalogue now).
  void prune(const std::set<std::string>& image_ids);
  // At start: removes the copies an earlier jobmand left (the cache lives in memory) and
  // its probe containers, if any were left (it died mid-probe).
  void clear_cache_dir();
  asio::awaitable<void> remove_leftover_probes();

private:
  std::string cache_dir() const;
  asio::awaitable<Result<ImageHome>> probe(const policy::ImageInfo& image);

  const Config& m_config;
  engine::CommandRunner& m_runner;
  std::string m_instance;
  std::map<std::string, ImageHome> m_cache; // by image id
  std::set<std::string> m_probing;          // image ids being probed: later callers wait for that probe
  std::uint64_t m_sequence = 0;
};

} // namespace jobman::daemon::images
