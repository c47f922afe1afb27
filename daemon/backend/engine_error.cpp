#include "daemon/backend/engine_error.hpp"

#include "common/file_descriptor.hpp"
#include "common/printable.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace jobman::daemon::backend {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// The message of one line if it is an engine error line.
std::optional<std::string_view> error_message(std::string_view line) {
  line = trim(line);
  for (std::string_view prefix : {"Error: ", "Error response from daemon: ", "docker: Error response from daemon: ", "docker: "}) {
    if (line.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = trim(line.substr(prefix.size()));
    // docker: `docker: Error response from daemon: X.` then `See 'docker run --help'.`
    if (rest.empty() || rest.substr(0, 4) == "See ") return std::nullopt;
    return rest;
  }
  return std::nullopt;
}

} // namespace

std::string printable_message(std::string_view text, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && out.size() <= max;) {
    const std::size_t n = utf8_sequence_length(text, i);
    const auto c = static_cast<unsigned char>(text[i]);
    if (n == 0) out += '?';
    else if (n == 1 && (c < 0x20 || c == 0x7f)) out += ' ';
    else if (n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) out += ' '; // C1 controls
    else out.append(text.substr(i, n));
    i += n == 0 ? 1 : n;
  }
  if (out.size() <= max) return out;
  std::size_t cut = max >= 3 ? max - 3 : 0;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) >> 6) == 0x2) --cut; // not inside a character
  return out.substr(0, cut) + "...";
}

std::optional<std::string> engine_error_line(std::string_view output) {
  std::optional<std::string_view> found;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    if (auto message = error_message(output.substr(start, end - start))) found = message;
    start = end + 1;
  }
  if (!found) return std::nullopt;
  return printable_message(*found, k_max_engine_message);
}

std::optional<std::string> read_tail(const std::string& path, std::size_t max) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const off_t from = st.st_size > static_cast<off_t>(max) ? st.st_size - static_cast<off_t>(max) : 0;
  std::string out(static_cast<std::size_t>(st.st_size - from), '\0');
  ssize_t n = ::pread(fd.get(), out.data(), out.size(), from);
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n));
  return out;
}

} // namespace jobman::daemon::backend
