#pragma once
// A file replaced whole: a reader sees the old content or the new, never part of either.

#include "common/errors.hpp"

#include <string>
#include <string_view>
#include <sys/types.h>

namespace jobman {

// Writes `data` to `path` atomically (a temporary `path`.tmp next to it, fsync'ed, then
// renamed over it), mode `mode`; neither is followed if it is a link.
Result<Unit> write_file(const std::string& path, std::string_view data, mode_t mode);

} // namespace jobman
