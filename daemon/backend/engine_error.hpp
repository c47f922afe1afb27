#pragma once
// The engine's own words for why a container never ran, taken from what its run client
// printed (the job's log holds nothing else then).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace jobman::daemon::backend {

// The longest engine message a job's reason carries, in bytes.
constexpr std::size_t k_max_engine_message = 400;

// The last error line in `output`, without its prefix: podman's `Error: ...`, docker's
// `docker: Error response from daemon: ...` (or `docker: ...`). Control characters become
// spaces and the text is cut at `k_max_engine_message` bytes (on a UTF-8 boundary), so it
// is safe in a log line and on a terminal. Nothing when no line looks like an error.
std::optional<std::string> engine_error_line(std::string_view output);

// `text` with control characters and invalid UTF-8 replaced, cut to `max` bytes ("..." at the end when cut).
std::string printable_message(std::string_view text, std::size_t max);

// The last `max` bytes of the file at `path` (not following a symlink), or nothing.
std::optional<std::string> read_tail(const std::string& path, std::size_t max);

} // namespace jobman::daemon::backend
