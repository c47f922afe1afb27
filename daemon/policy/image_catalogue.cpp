#include "daemon/policy/image_catalogue.hpp"

#include "common/json_depth.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace jobman::daemon::policy {

using nlohmann::json;

namespace {

std::vector<std::string> string_list(const json& value) {
  std::vector<std::string> out;
  if (value.is_array())
    for (const auto& item : value)
      if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

// A string field of `object`, or "" when it is missing or not a string: one odd entry must
// not throw a type_error that fails the whole listing (and so every submit).
std::string string_field(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool is_label_value_ok(std::string_view value) {
  if (value.empty() || value.size() > 128) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == '+';
  });
}

// "localhost/app:1.0" -> "localhost/app"; "host:5000/app" keeps its port.
std::string_view repository_of(std::string_view tag) {
  auto colon = tag.rfind(':');
  auto slash = tag.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) return tag.substr(0, colon);
  return tag;
}

std::string_view last_component(std::string_view repository) {
  auto slash = repository.rfind('/');
  return slash == std::string_view::npos ? repository : repository.substr(slash + 1);
}

} // namespace

std::vector<ImageInfo> parse_image_inspect(std::string_view json_text) {
  // Labels come from whoever built the image: their nesting is bounded like a frame's.
  if (auto problem = json_depth_problem(json_text, 2 * k_max_json_depth))
    throw Error(ErrorCode::EngineError, "the engine's 'image inspect' output: " + *problem);
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (root.is_discarded() || !root.is_array())
    throw Error(ErrorCode::EngineError, "the engine's 'image inspect' output is not a JSON array");
  std::vector<ImageInfo> images;
  for (const auto& item : root) {
    if (!item.is_object()) continue;
    ImageInfo info;
    info.id = string_field(item, "Id");
    if (info.id.empty()) continue;
    if (info.id.rfind("sha256:", 0) != 0) info.id = "sha256:" + info.id;
    info.repo_tags = string_list(item.value("RepoTags", json::array()));
    info.repo_digests = string_list(item.value("RepoDigests", json::array()));
    info.created = string_field(item, "Created");
    if (auto size = item.find("Size"); size != item.end() && size->is_number_integer()) info.size = size->get<std::int64_t>();
    const json config = item.value("Config", json::object());
    json labels = config.is_object() ? config.value("Labels", json(nullptr)) : json(nullptr);
    if (!labels.is_object()) labels = item.value("Labels", json::object());
    if (labels.is_object())
      for (const auto& [k, v] : labels.items())
        if (v.is_string()) info.labels[k] = v.get<std::string>();
    if (config.is_object()) {
      info.entrypoint = string_list(config.value("Entrypoint", json::array()));
      info.cmd = string_list(config.value("Cmd", json::array()));
      info.user = string_field(config, "User");
      info.env = string_list(config.value("Env", json::array()));
      info.workdir = string_field(config, "WorkingDir");
    }
    images.push_back(std::move(info));
  }
  return images;
}

std::optional<std::string> catalogue_problem(const ImagesConfig& config, const ImageInfo& image) {
  const std::string shown = image.repo_tags.empty() ? image.id.substr(0, 19) : image.repo_tags.front();
  bool prefix_ok = std::any_of(image.repo_tags.begin(), image.repo_tags.end(), [&](const std::string& tag) {
    return std::any_of(config.repositories.begin(), config.repositories.end(),
                       [&](const std::string& prefix) { return tag.rfind(prefix, 0) == 0; });
  });
  if (!prefix_ok)
    return fmt::format("image '{}' is not from an allowed repository (allowed prefixes: {}); ask the catalogue admin",
                       shown, fmt::join(config.repositories, ", "));
  for (const auto& label : config.required_labels) {
    auto it = image.labels.find(label);
    if (it == image.labels.end() || it->second.empty())
      return fmt::format("image '{}' has no '{}' label; ask the catalogue admin to add LABEL {}=... to its Dockerfile", shown, label, label);
  }
  for (const char* label : {"name", "version"}) {
    auto it = image.labels.find(label);
    if (it == image.labels.end()) return fmt::format("image '{}' has no '{}' label; jobman needs it to list the image", shown, label);
    if (!is_label_value_ok(it->second))
      return fmt::format("image '{}' has an invalid '{}' label '{}' (use letters, digits, '.', '-', '_', '+')", shown, label, it->second);
  }
  return std::nullopt;
}

int compare_versions(std::string_view a, std::string_view b) {
  // A lexicographic comparison of tokens, so a strict weak order (std::sort needs one): a
  // run of digits is one token, compared by value (leading zeros aside) and ranking above
  // every character; '.' ranks above the end of the string; any other character below it.
  // So "3.4.1" > "3.4" > "3.4cuda11" ("3.4-rc1"), "1.10" > "1.9", "3.5cuda11" > "3.4".
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto rank = [](std::string_view s, std::size_t at) {
    if (at == s.size()) return 0;                              // the end
    if (s[at] == '.') return 1;                                // more components
    return static_cast<int>(static_cast<unsigned char>(s[at])) - 512; // a suffix, ordered by character
  };
  std::size_t i = 0, j = 0;
  for (;;) {
    const bool da = i < a.size() && digit(a[i]), db = j < b.size() && digit(b[j]);
    if (da && db) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && digit(a[i2])) ++i2;
      while (j2 < b.size() && digit(b[j2])) ++j2;
      auto na = a.substr(i, i2 - i), nb = b.substr(j, j2 - j);
      while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size() ? -1 : 1;
      if (int c = na.compare(nb)) return c < 0 ? -1 : 1;
      i = i2;
      j = j2;
      continue;
    }
    if (da != db) return da ? 1 : -1; // a number outranks a character and the end
    const int ra = rank(a, i), rb = rank(b, j);
    if (ra != rb) return ra < rb ? -1 : 1;
    if (ra == 0) return 0; // both ended
    ++i;
    ++j;
  }
}

Catalogue build_catalogue(const ImagesConfig& config, std::vector<ImageInfo> images) {
  Catalogue catalogue;
  for (const auto& image : images) {
    if (auto problem = catalogue_problem(config, image)) {
      catalogue.rejected.emplace(image.id, *problem);
      continue;
    }
    CatalogueEntry entry{image.labels.at("name"), image.labels.at("version"), {}, image, {}};
    for (const auto& tag : image.repo_tags)
      for (const auto& prefix : config.repositories)
        if (tag.rfind(prefix, 0) == 0) {
          if (entry.reference.empty()) entry.reference = tag;
          const std::string_view repository = repository_of(tag);
          if (repository.size() < tag.size()) {
            std::string name(tag.substr(repository.size() + 1));
            if (std::find(entry.tags.begin(), entry.tags.end(), name) == entry.tags.end()) entry.tags.push_back(std::move(name));
          }
          break;
        }
    catalogue.entries.push_back(std::move(entry));
  }
  std::sort(catalogue.entries.begin(), catalogue.entries.end(), [](const CatalogueEntry& x, const CatalogueEntry& y) {
    if (x.name != y.name) return x.name < y.name;
    if (int c = compare_versions(x.version, y.version)) return c > 0;
    return x.image.created > y.image.created; // same name:version twice: newest build first
  });
  catalogue.all = std::move(images);
  return catalogue;
}

Result<CatalogueEntry> resolve_image(const Catalogue& catalogue, std::string_view reference) {
  if (reference.empty()) return ErrorInfo{ErrorCode::InvalidArgument, "image reference is empty; `jobman images` lists the catalogue"};
  if (reference.size() > 256 || reference.find_first_of(" \t\r\n\\\"'") != std::string_view::npos)
    return ErrorInfo{ErrorCode::InvalidArgument, fmt::format("'{}' is not a valid image reference", reference)};

  if (reference.find('/') != std::string_view::npos || reference.rfind("sha256:", 0) == 0) {
    // A full repository reference or image id: exact match, and it must still be in the catalogue.
    std::string wanted(reference);
    if (wanted.rfind("sha256:", 0) != 0 && repository_of(wanted) == wanted) wanted += ":latest";
    for (const auto& image : catalogue.all) {
      bool match = image.id == wanted || std::find(image.repo_tags.begin(), image.repo_tags.end(), wanted) != image.repo_tags.end();
      if (!match) continue;
      for (const auto& entry : catalogue.entries)
        if (entry.image.id == image.id) return entry;
      auto why = catalogue.rejected.find(image.id);
      return ErrorInfo{ErrorCode::ImageRejected, why != catalogue.rejected.end() ? why->second : "image is not in the catalogue"};
    }
    return ErrorInfo{ErrorCode::ImageNotFound, fmt::format("no local image '{}'; `jobman images` lists the catalogue", reference)};
  }

  // NAME: the image tagged `latest`, else the highest version. NAME:X: version X, else tag X.
  std::string_view name = reference, wanted = "latest";
  if (auto colon = reference.rfind(':'); colon != std::string_view::npos) {
    name = reference.substr(0, colon);
    wanted = reference.substr(colon + 1);
  }
  auto has_tag = [](const CatalogueEntry& entry, std::string_view tag) {
    return std::find(entry.tags.begin(), entry.tags.end(), tag) != entry.tags.end();
  };
  const CatalogueEntry* highest = nullptr;
  const CatalogueEntry* tagged = nullptr;
  std::vector<std::string> choices;
  for (const auto& entry : catalogue.entries) { // highest version first, then newest build
    if (entry.name != name) continue;
    if (entry.version == wanted) return entry;
    if (!highest) highest = &entry;
    if (!tagged && has_tag(entry, wanted)) tagged = &entry;
    choices.push_back(entry.version);
    for (const auto& tag : entry.tags)
      if (tag != entry.version) choices.push_back(fmt::format("{} (tag of {})", tag, entry.version));
  }
  if (tagged) return *tagged;
  if (highest && wanted == "latest") return *highest;
  if (highest)
    return ErrorInfo{ErrorCode::ImageNotFound,
                     fmt::format("image '{}' has no version or tag '{}'; available: {}", name, wanted, fmt::join(choices, ", "))};
  // Not in the catalogue: if a local image looks like what was meant, say why it is refused.
  for (const auto& image : catalogue.all) {
    auto why = catalogue.rejected.find(image.id);
    if (why == catalogue.rejected.end()) continue;
    auto label = image.labels.find("name");
    bool named = label != image.labels.end() && label->second == name;
    for (const auto& tag : image.repo_tags) named = named || last_component(repository_of(tag)) == name;
    if (named) return ErrorInfo{ErrorCode::ImageRejected, why->second};
  }
  return ErrorInfo{ErrorCode::ImageNotFound, fmt::format("no image named '{}' in the catalogue; `jobman images` lists them", name)};
}

} // namespace jobman::daemon::policy
