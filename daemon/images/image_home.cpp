#include "daemon/images/image_home.hpp"

#include "common/file_descriptor.hpp"
#include "common/size.hpp"
#include "daemon/backend/container_args.hpp"
#include "daemon/backend/engine_error.hpp"
#include "daemon/log.hpp"
#include "daemon/policy/mount_policy.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace jobman::daemon::images {

using backend::printable_message;
using policy::is_within;

namespace {

constexpr std::size_t k_max_passwd = 4 << 20;
constexpr std::size_t k_max_dir_length = 255;

bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }); }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto nl = text.rfind('\n');
  return printable_message(nl == std::string::npos ? text : text.substr(nl + 1), 300);
}

// A tar header's numeric field: octal digits (spaces and NULs around them), or base-256.
std::optional<std::uint64_t> tar_number(std::string_view field) {
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80)) {
    std::uint64_t value = 0;
    for (std::size_t i = 1; i < field.size(); ++i) {
      if (value >> 55) return std::nullopt;
      value = (value << 8) | static_cast<unsigned char>(field[i]);
    }
    return value;
  }
  std::uint64_t value = 0;
  bool any = false;
  for (char c : field) {
    if (c == ' ' || c == '\0') {
      if (any) break;
      continue;
    }
    if (c < '0' || c > '7' || (value >> 60)) return std::nullopt;
    value = value * 8 + static_cast<std::uint64_t>(c - '0');
    any = true;
  }
  return value;
}

} // namespace

namespace {

// One member's header in a tar stream: its type flag, and where and how long its data is.
struct TarHeader {
  char type;
  std::uint64_t size;
  std::size_t data_at;
  std::size_t next() const { return data_at + (size + 511) / 512 * 512; }
  bool is_meta() const { return type == 'x' || type == 'g' || type == 'L' || type == 'K'; } // PAX, GNU long names
};

// The header at `at`; nothing at the end of the archive, past the bytes there are, or when broken.
std::optional<TarHeader> header_at(std::string_view tar, std::size_t at) {
  if (at + 512 > tar.size()) return std::nullopt;
  std::string_view header = tar.substr(at, 512);
  if (std::all_of(header.begin(), header.end(), [](char c) { return c == '\0'; })) return std::nullopt; // end of archive
  auto size = tar_number(header.substr(124, 12));
  if (!size) return std::nullopt;
  return TarHeader{header[156], *size, at + 512};
}

} // namespace

std::optional<std::string> first_file_in_tar(std::string_view tar) {
  for (std::size_t at = 0;;) {
    auto h = header_at(tar, at);
    if (!h || h->size > tar.size()) return std::nullopt;
    if (h->type == '0' || h->type == '\0') {
      if (h->data_at + h->size > tar.size()) return std::nullopt;
      return std::string(tar.substr(h->data_at, h->size));
    }
    at = h->next(); // PAX and GNU long-name headers, directories, links
  }
}

std::optional<char> first_member_type(std::string_view tar) {
  for (std::size_t at = 0;;) {
    auto h = header_at(tar, at);
    if (!h) return std::nullopt;
    if (!h->is_meta()) return h->type; // its data may lie past `tar`: only the type is wanted
    if (h->size > tar.size()) return std::nullopt;
    at = h->next();
  }
}

std::optional<std::string> passwd_home(std::string_view passwd, std::string_view user) {
  std::string_view name = user.substr(0, user.find(':'));
  if (name.empty()) name = "0";
  const bool by_uid = all_digits(name);
  while (!passwd.empty()) {
    std::string_view line = passwd.substr(0, passwd.find('\n'));
    passwd.remove_prefix(std::min(passwd.size(), line.size() + 1));
    std::vector<std::string_view> fields;
    for (std::size_t start = 0;;) {
      auto colon = line.find(':', start);
      fields.push_back(line.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
      if (colon == std::string_view::npos || fields.size() > 7) break;
      start = colon + 1;
    }
    if (fields.size() < 6) continue;
    if ((by_uid ? fields[2] : fields[0]) == name) return std::string(fields[5]);
  }
  return std::nullopt;
}

bool is_copyable_dir(std::string_view dir) {
  if (dir.size() < 2 || dir.size() > k_max_dir_length || dir.front() != '/' || dir.back() == '/') return false;
  if (dir.find("//") != std::string_view::npos || dir.find("/./") != std::string_view::npos || dir.find("/../") != std::string_view::npos ||
      dir.ends_with("/.") || dir.ends_with("/.."))
    return false;
  if (!std::all_of(dir.begin(), dir.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f && c != ',' && c != '\\' && c != '"' && c != '\''; }))
    return false;
  for (std::string_view system : {"/proc", "/sys", "/dev"})
    if (is_within(dir, system)) return false;
  return true;
}

ImageHome plan_home(const policy::ImageInfo& image, const std::optional<std::string>& passwd) {
  ImageHome plan;
  std::optional<std::string> home;
  for (const auto& variable : image.env)
    if (variable.rfind("HOME=", 0) == 0) home = variable.substr(5);
  if (!home && passwd) home = passwd_home(*passwd, image.user);
  if (!home && !image.workdir.empty()) home = image.workdir;
  if (home && *home != "/" && !home->empty()) {
    if (is_copyable_dir(*home)) {
      plan.home = *home;
      plan.copies.push_back({*home, ""});
    } else {
      plan.notes.push_back(fmt::format("the image's home '{}' is not a plain directory jobman can copy; it stays read-only",
                                       printable_message(*home, 300)));
    }
  }
  const std::string& workdir = image.workdir;
  if (!workdir.empty() && workdir != "/" && !(plan.home.size() && is_within(workdir, plan.home))) {
    if (is_copyable_dir(workdir)) plan.copies.push_back({workdir, ""});
    else plan.notes.push_back(fmt::format("the image's WORKDIR '{}' is not a plain directory jobman can copy; it stays read-only",
                                          printable_message(workdir, 300)));
  }
  return plan;
}

ImageHomes::ImageHomes(const Config& config, engine::CommandRunner& runner, std::string instance)
  : m_config(config), m_runner(runner), m_instance(std::move(instance)) {}

const ImageHome* ImageHomes::cached(const std::string& image_id) const {
  auto it = m_cache.find(image_id);
  return it == m_cache.end() ? nullptr : &it->second;
}

void ImageHomes::forget(const std::string& image_id) { m_cache.erase(image_id); }

void ImageHomes::prune(const std::set<std::string>& image_ids) {
  for (auto it = m_cache.begin(); it != m_cache.end();) {
    if (image_ids.contains(it->first)) {
      ++it;
      continue;
    }
    for (const auto& copy : it->second.copies)
      if (!copy.tar.empty()) ::unlink(copy.tar.c_str());
    it = m_cache.erase(it);
  }
}

asio::awaitable<void> ImageHomes::remove_leftover_probes() {
  const EngineConfig& engine = m_config.engine;
  auto list = backend::engine_command(engine, {"ps", "--all", "--quiet", "--filter", "label=jobman.probe=1", "--filter",
                                               "label=jobman.instance=" + m_instance});
  auto listed = co_await m_runner.capture(std::move(list), engine.command_timeout);
  if (!listed || !listed->status.success()) co_return;
  std::vector<std::string> argv = backend::engine_command(engine, {"rm", "--force", "--volumes"});
  const std::size_t before = argv.size();
  std::string out = listed->out;
  for (std::size_t start = 0; start < out.size();) {
    auto end = out.find('\n', start);
    std::string id = out.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!id.empty()) argv.push_back(id);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (argv.size() == before) co_return;
  log_info("removing {} probe container(s) an earlier jobmand left", argv.size() - before);
  auto removed = co_await m_runner.capture(std::move(argv), engine.command_timeout);
  if (!removed || !removed->status.success()) log_warn("cannot remove the probe containers an earlier jobmand left; `jobman cleanup` will not either");
}

std::string ImageHomes::cache_dir() const { return m_config.state_dir + "/image-homes"; }

void ImageHomes::clear_cache_dir() {
  const std::string dir = cache_dir();
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") ::unlinkat(dirfd(d), name.c_str(), 0);
    }
    ::closedir(d);
  }
}

asio::awaitable<Result<ImageHome>> ImageHomes::get(policy::ImageInfo image) {
  // One probe per image at a time: a burst of submits of a new image (after every restart,
  // every image is new) would each write its copies to the state disk. Later callers wait
  // for the first (bounded: a probe is a few engine calls, each under command_timeout).
  const auto give_up = std::chrono::steady_clock::now() + 5 * m_config.engine.command_timeout;
  while (m_probing.contains(image.id) && std::chrono::steady_clock::now() < give_up) {
    asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::use_awaitable);
  }
  const auto found = m_cache.find(image.id);
  if (found != m_cache.end()) co_return found->second;
  m_probing.insert(image.id);
  Result<ImageHome> probed = ErrorInfo{ErrorCode::Internal, "not probed"};
  try {
    auto result = co_await probe(image);
    probed = std::move(result);
  } catch (...) {
    m_probing.erase(image.id);
    throw;
  }
  m_probing.erase(image.id);
  if (!probed) co_return probed;
  // A probe that outlived the wait above may have raced another: the first one's copies stay.
  auto [it, inserted] = m_cache.emplace(image.id, *probed);
  if (!inserted)
    for (const auto& copy : probed->copies)
      if (!copy.tar.empty()) ::unlink(copy.tar.c_str());
  co_return it->second;
}

asio::awaitable<Result<ImageHome>> ImageHomes::probe(const policy::ImageInfo& image) {
  const EngineConfig& engine = m_config.engine;
  const std::string hex = image.id.substr(image.id.rfind(':') + 1).substr(0, 12);
  const std::uint64_t sequence = ++m_sequence;
  const std::string name = fmt::format("jobman-probe-{}-{}-{}", hex, ::getpid(), sequence);
  // Created, never started: nothing of the image runs. The entrypoint is a dummy, so an
  // image with neither ENTRYPOINT nor CMD can be created too.
  auto create = backend::engine_command(engine, {"create", "--name", name, "--network", "none", "--pull", "never", "--label", "jobman.probe=1",
                                                 "--label", "jobman.instance=" + m_instance, "--entrypoint", "/jobman-probe", image.id});
  auto created = co_await m_runner.capture(std::move(create), engine.command_timeout);
  // Removed whatever happens next, with the anonymous volumes of an image's VOLUMEs.
  std::vector<std::string> remove = backend::engine_command(engine, {"rm", "--force", "--volumes", name});
  if (!created || !created->status.success()) {
    auto removed = co_await m_runner.capture(std::move(remove), engine.command_timeout); // a create that timed out may have made it
    (void)removed;
    if (!created) co_return created.error();
    co_return ErrorInfo{ErrorCode::EngineError, fmt::format("cannot look into image {} for its home: {}", hex, last_line(created->err))};
  }

  std::optional<std::string> passwd;
  auto read_passwd = backend::engine_command(engine, {"cp", name + ":/etc/passwd", "-"});
  auto passwd_tar = co_await m_runner.capture(std::move(read_passwd), engine.command_timeout, k_max_passwd);
  if (passwd_tar && passwd_tar->status.success()) passwd = first_file_in_tar(passwd_tar->out);
  ImageHome plan = plan_home(image, passwd);

  const std::string dir = cache_dir();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) plan.copies.clear();
  const std::int64_t limit = m_config.limits.home_size;
  std::vector<HomeCopy> kept;
  for (std::size_t i = 0; i < plan.copies.size(); ++i) {
    HomeCopy copy = plan.copies[i];
    const std::string path = fmt::format("{}/{}-{}-{}.tar", dir, hex, sequence, i);
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) == 0 &&
        static_cast<std::int64_t>(fs.f_bavail) * static_cast<std::int64_t>(fs.f_frsize) < m_config.limits.min_free_disk + limit) {
      plan.notes.push_back(fmt::format("jobmand's state disk is too full to copy the image's {}; it stays read-only", copy.dir));
      continue;
    }
    FileDescriptor fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) {
      plan.notes.push_back(fmt::format("jobman cannot copy the image's {} ({}); it stays read-only", copy.dir, std::strerror(errno)));
      continue;
    }
    engine::ChildOptions options;
    options.stdout_fd = fd.get();
    options.max_file_size = static_cast<std::uint64_t>(limit);
    // The directory itself first ("chaimeleon/", then "chaimeleon/..."): its entry must be
    // a directory, not a symlink the image points elsewhere (/proc, /sys) for the engine to
    // follow when it mounts the copy.
    auto argv = backend::engine_command(engine, {"cp", name + ":" + copy.dir, "-"});
    auto copied = co_await m_runner.capture_with(std::move(argv), std::move(options), engine.command_timeout, 64 << 10);
    struct stat st {};
    const bool too_big = ::fstat(fd.get(), &st) == 0 && st.st_size >= limit;
    if (copied && copied->status.success() && !too_big) {
      std::string head(8192, '\0');
      const ssize_t n = ::pread(fd.get(), head.data(), head.size(), 0);
      head.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      if (first_member_type(head) != '5') {
        ::unlink(path.c_str());
        plan.notes.push_back(fmt::format("the image's {} is not a directory (a symlink?); it stays as the image has it", copy.dir));
        continue;
      }
      copy.tar = path;
      copy.tar_bytes = st.st_size;
      kept.push_back(std::move(copy));
      continue;
    }
    ::unlink(path.c_str());
    if (too_big || (copied && copied->status.signal == SIGXFSZ)) {
      plan.notes.push_back(fmt::format("the image's {} holds more than limits.home_size ({}); it stays read-only", copy.dir, format_size(limit)));
    } else if (copied && (lower(copied->err).find("no such file") != std::string::npos ||   // podman
                          lower(copied->err).find("could not find the file") != std::string::npos)) { // docker
      kept.push_back(std::move(copy)); // named by the image but absent: an empty writable one
    } else {
      plan.notes.push_back(fmt::format("jobman cannot copy the image's {} ({}); it stays read-only", copy.dir,
                                       copied ? last_line(copied->err) : copied.error().message));
    }
  }
  plan.copies = std::move(kept);
  auto removed = co_await m_runner.capture(std::move(remove), engine.command_timeout);
  if (!removed || !removed->status.success()) log_warn("cannot remove probe container {}; the next jobmand start removes it", name);
  co_return plan;
}

asio::awaitable<Result<Unit>> ImageHomes::extract(std::string tar, std::string dir, std::uint32_t uid, std::uint32_t gid) {
  auto extracted = co_await extract_copy(m_runner, m_config.engine.command_timeout, std::move(tar), std::move(dir), uid, gid);
  co_return extracted;
}

asio::awaitable<Result<Unit>> extract_copy(engine::CommandRunner& runner, std::chrono::seconds timeout, std::string tar, std::string dir,
                                           std::uint32_t uid, std::uint32_t gid) {
  FileDescriptor in(::open(tar.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (in.get() < 0) co_return ErrorInfo{ErrorCode::Unavailable, fmt::format("cannot open {}: {}", tar, std::strerror(errno))};
  engine::ChildOptions options;
  options.stdin_fd = in.get();
  options.working_dir = dir;
  options.uid = uid;
  options.gid = gid;
  // As the submitter, in their own fresh tmpfs: owners are not kept (cannot be), modes are.
  // The directory's own entry is the first: its content goes straight into `dir`.
  std::vector<std::string> argv{"tar",  "-x", "-f", "-", "--strip-components=1", "--preserve-permissions", "--no-same-owner",
                                "--delay-directory-restore"};
  auto result = co_await runner.capture_with(std::move(argv), std::move(options), timeout, 64 << 10);
  if (!result) co_return result.error();
  if (!result->status.success())
    co_return ErrorInfo{ErrorCode::Internal, fmt::format("tar ({}): {}", result->status.describe(), last_line(result->err))};
  co_return Unit{};
}

} // namespace jobman::daemon::images
