#pragma once
// The image catalogue: the engine's local images filtered by config (allowed repository
// prefixes, required labels), and resolution of what users type after `-i`.
// Pure functions over parsed `image inspect` output.

#include "common/config.hpp"
#include "common/errors.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobman::daemon::policy {

// One local image, as `docker|podman image inspect` describes it.
struct ImageInfo {
  std::string id; // "sha256:<hex>"
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;
  std::map<std::string, std::string> labels;
  std::string created;
  std::int64_t size = 0;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string user;
  std::vector<std::string> env; // "KEY=VALUE", as the image sets them
  std::string workdir;
};

// An image users can submit: catalogue name and version come from its labels.
struct CatalogueEntry {
  std::string name;
  std::string version;
  std::string reference; // first repository tag that passed the prefix check
  ImageInfo image;
  std::vector<std::string> tags; // of its repository tags that passed the prefix check: "3.4", "latest"
  std::string display() const { return name + ":" + version; }
};

struct Catalogue {
  std::vector<CatalogueEntry> entries;    // sorted by name, then newest version first
  std::vector<ImageInfo> all;             // everything the engine has, for error messages
  std::map<std::string, std::string> rejected; // image id -> why it is not in the catalogue
};

// Parses the JSON array `image inspect` prints. Throws Error(EngineError) when it is not one.
std::vector<ImageInfo> parse_image_inspect(std::string_view json_text);

// Why `image` is not in the catalogue ("has no 'version' label", ...), or nothing.
std::optional<std::string> catalogue_problem(const ImagesConfig& config, const ImageInfo& image);

Catalogue build_catalogue(const ImagesConfig& config, std::vector<ImageInfo> images);

// Resolves `reference` as typed after `-i`: NAME (the image tagged `latest`, else the
// highest version), NAME:X (version label X, else tag X), or a full repository reference
// ("localhost/app:1.0"). Errors say why and what to do.
Result<CatalogueEntry> resolve_image(const Catalogue& catalogue, std::string_view reference);

// Orders version strings naturally ("1.10" > "1.9"), where a suffix does not outrank the
// version it extends ("3.4cuda11" and "3.4-rc1" < "3.4" < "3.4.1"); negative, zero or positive.
int compare_versions(std::string_view a, std::string_view b);

} // namespace jobman::daemon::policy
