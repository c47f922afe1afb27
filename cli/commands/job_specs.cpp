#include "cli/commands/commands.hpp"

#include "common/file_descriptor.hpp"
#include "common/json_depth.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fstream>
#include <set>
#include <sstream>

namespace jobman::cli::commands {

namespace {

// One job object from the file, in the wire's submit args. `where` names it in errors.
json to_submit_args(const json& spec, const std::string& where) {
  auto fail = [&](const std::string& problem) { return ClientError(ErrorCode::InvalidArgument, fmt::format("{}: {}", where, problem)); };
  if (!spec.is_object()) throw fail("each job must be a JSON object");
  static const std::set<std::string> k_keys{"image", "name", "args", "env", "flavor", "time", "gpus", "after", "command", "priority", "retries", "hold", "notify"};
  json args = json::object();
  for (const auto& [key, value] : spec.items()) {
    if (!k_keys.contains(key))
      throw fail(fmt::format("unknown key '{}' (use image, name, args, env, flavor, time, gpus, after, command, priority, retries, hold, notify)", key));
    if (key == "env" && value.is_object()) { // {"KEY": "VALUE"} is accepted as well as ["KEY=VALUE"]
      json list = json::array();
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) throw fail(fmt::format("env '{}' must be a string", k));
        list.push_back(k + "=" + v.get<std::string>());
      }
      args["env"] = list;
    } else if ((key == "after" || key == "notify") && value.is_string()) { // "END,FAIL" as well as ["END", "FAIL"]
      args[key] = json::array({value});
    } else if (key == "command") {
      args["replace_entrypoint"] = value;
    } else {
      args[key] = value;
    }
  }
  // No "image": jobmand runs images.default, or says there is none.
  return args;
}

} // namespace

namespace {
// --from FILE: a regular file of at most this many bytes (the request it becomes must fit
// in one frame, protocol::k_max_frame_bytes, anyway). A FIFO or /dev/zero would read forever.
constexpr std::size_t k_max_spec_file_bytes = 16 << 20;

std::string read_spec_file(const std::string& path) {
  auto fail = [&](const std::string& problem) { return ClientError(ErrorCode::InvalidArgument, fmt::format("--from {}: {}", path, problem)); };
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) throw fail(fmt::format("cannot open it: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw fail(S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file (a FIFO, socket or device); give a file of job specs");
  if (static_cast<std::uint64_t>(st.st_size) > k_max_spec_file_bytes)
    throw fail(fmt::format("is {} bytes; at most {} (split it into several files)", st.st_size, k_max_spec_file_bytes));
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail(std::strerror(errno));
    if (n == 0) break; // shrank meanwhile
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  return text;
}
} // namespace

json read_job_specs(const std::string& path) {
  const std::string text = read_spec_file(path);
  if (auto problem = json_depth_problem(text)) throw ClientError(ErrorCode::InvalidArgument, fmt::format("{}: {}", path, *problem));
  json jobs = json::array();
  auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    json array = json::parse(text, nullptr, false);
    if (array.is_discarded() || !array.is_array()) throw ClientError(ErrorCode::InvalidArgument, fmt::format("{}: not a valid JSON array", path));
    for (std::size_t i = 0; i < array.size(); ++i) jobs.push_back(to_submit_args(array[i], fmt::format("{}: item {}", path, i + 1)));
  } else {
    std::istringstream lines(text);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
      auto start = line.find_first_not_of(" \t\r");
      if (start == std::string::npos || line[start] == '#') continue;
      json spec = json::parse(line, nullptr, false);
      if (spec.is_discarded()) throw ClientError(ErrorCode::InvalidArgument, fmt::format("{}: line {}: not valid JSON", path, number));
      jobs.push_back(to_submit_args(spec, fmt::format("{}: line {}", path, number)));
    }
  }
  if (jobs.empty()) throw ClientError(ErrorCode::InvalidArgument, fmt::format("{}: no jobs in it", path));
  return jobs;
}

} // namespace jobman::cli::commands
