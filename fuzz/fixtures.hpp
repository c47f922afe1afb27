#pragma once
// Fixed inputs the fuzz targets share: a config and an image catalogue like a small site's,
// parsed once from literals with the daemon's own parsers.

#include "common/config.hpp"
#include "daemon/policy/image_catalogue.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace jobman::fuzz {

// A property the code should hold, broken: print it and abort, so libFuzzer keeps the input.
inline void expect(bool holds, std::string_view what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz: property broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// Two flavors (one with 2 GPUs, both GPUs listed), a mount template, the default repositories.
inline constexpr const char* k_config = R"({
  "state_dir": "/var/lib/jobman",
  "limits": {"default_time": "1h"},
  "flavors": [
    {"name": "default", "cpus": 1, "memory": "2G", "shm": "64M", "gpus": 0, "max_time": "24h"},
    {"name": "gpu", "cpus": 8, "memory": "32G", "shm": "1G", "gpus": 2, "max_time": "7d"}
  ],
  "gpus": {"devices": ["0", "1"]},
  "mounts": [{"source": "/home/{user}/datasets", "target": "/data", "read_only": true, "optional": true}]
})";

// `podman image inspect` of five images: three versions of python in the catalogue, one
// without a version label and one from a repository that is not allowed.
inline constexpr const char* k_image_inspect = R"([
  {"Id": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
   "RepoTags": ["localhost/python:3.11"], "Created": "2024-05-01T10:00:00Z", "Size": 1000,
   "Config": {"Labels": {"name": "python", "version": "3.11"}, "Entrypoint": ["python3"], "Cmd": [], "User": "1000"}},
  {"Id": "2222222222222222222222222222222222222222222222222222222222222222",
   "RepoTags": ["localhost/python:3.9", "localhost/python:old"], "Created": "2023-01-01T10:00:00Z",
   "Config": {"Labels": {"name": "python", "version": "3.9"}}},
  {"Id": "sha256:3333333333333333333333333333333333333333333333333333333333333333",
   "RepoTags": ["localhost/python:3.10"], "Labels": {"name": "python", "version": "3.10"}},
  {"Id": "sha256:4444444444444444444444444444444444444444444444444444444444444444",
   "RepoTags": ["localhost/tools:latest"], "Config": {"Labels": {"name": "tools"}}},
  {"Id": "sha256:5555555555555555555555555555555555555555555555555555555555555555",
   "RepoTags": ["docker.io/library/alpine:3.19"], "Config": {"Labels": {"name": "alpine", "version": "3.19"}}}
])";

inline const Config& fixed_config() {
  static const Config config = parse_config(k_config, "fuzz");
  return config;
}

inline const daemon::policy::Catalogue& fixed_catalogue() {
  static const daemon::policy::Catalogue catalogue =
    daemon::policy::build_catalogue(fixed_config().images, daemon::policy::parse_image_inspect(k_image_inspect));
  return catalogue;
}

} // namespace jobman::fuzz
