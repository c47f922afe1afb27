// The image catalogue, from both sides: what users type after -i, and what image authors
// put in labels. The first byte picks the mode, the rest is the input:
//   'r' REF         resolve_image against a fixed catalogue (fixtures.hpp);
//   'v' A\nB[\nC]   compare_versions: antisymmetric, reflexive, transitive (std::sort needs it);
//   other           the whole input as `image inspect` JSON: parse_image_inspect, build_catalogue (sorted), and every
//                   entry resolves by name:version and by its reference.
// Error (EngineError for bad inspect output) is expected; anything else escaping is a bug
// (the catalogue cache would fail every listing while that image exists).

#include "common/errors.hpp"
#include "daemon/policy/image_catalogue.hpp"
#include "fuzz/fixtures.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace jobman;
using jobman::fuzz::expect;
namespace policy = daemon::policy;

int sign(int c) { return (c > 0) - (c < 0); }

void check_resolved(const policy::Catalogue& catalogue, std::string_view reference) {
  auto found = policy::resolve_image(catalogue, reference);
  if (!found) {
    const ErrorCode code = found.error().code;
    expect(code == ErrorCode::InvalidArgument || code == ErrorCode::ImageNotFound || code == ErrorCode::ImageRejected,
           "resolve_image fails with one of its codes");
    return;
  }
  const bool listed = std::any_of(catalogue.entries.begin(), catalogue.entries.end(),
                                  [&](const policy::CatalogueEntry& e) { return e.image.id == found->image.id && e.name == found->name; });
  expect(listed, "resolve_image returns a catalogue entry");
}

void check_versions(std::string_view input) {
  const auto first = input.find('\n');
  if (first == std::string_view::npos) return;
  const std::string_view a = input.substr(0, first);
  std::string_view b = input.substr(first + 1), c;
  if (auto second = b.find('\n'); second != std::string_view::npos) {
    c = b.substr(second + 1);
    b = b.substr(0, second);
  }
  const int ab = policy::compare_versions(a, b);
  expect(ab == sign(ab), "compare_versions returns -1, 0 or 1");
  expect(policy::compare_versions(a, a) == 0, "compare_versions is reflexive");
  expect(ab == -policy::compare_versions(b, a), "compare_versions is antisymmetric");
  const int bc = policy::compare_versions(b, c), ac = policy::compare_versions(a, c);
  if (ab <= 0 && bc <= 0) expect(ac <= 0, "compare_versions is transitive (<=)");
  if (ab == 0 && bc == 0) expect(ac == 0, "compare_versions' equality is transitive");
}

void check_inspect(std::string_view text) {
  const auto images = policy::parse_image_inspect(text);
  for (const auto& image : images) expect(image.id.rfind("sha256:", 0) == 0, "parsed image ids start with sha256:");
  const policy::Catalogue catalogue = policy::build_catalogue(fuzz::fixed_config().images, images);
  expect(std::is_sorted(catalogue.entries.begin(), catalogue.entries.end(),
                        [](const policy::CatalogueEntry& x, const policy::CatalogueEntry& y) {
                          if (x.name != y.name) return x.name < y.name;
                          return policy::compare_versions(x.version, y.version) > 0;
                        }),
         "the catalogue is sorted by name, then newest version first");
  for (const auto& entry : catalogue.entries) {
    expect(!policy::catalogue_problem(fuzz::fixed_config().images, entry.image), "catalogue entries pass catalogue_problem");
    auto by_name = policy::resolve_image(catalogue, entry.display());
    // "sha256:..." is read as an image id, so an image labelled name=sha256 is found by id only.
    if (entry.name != "sha256") {
      expect(by_name.ok(), "every catalogue entry resolves by name:version");
      expect(by_name->name == entry.name, "name:version resolves to that name");
      if (entry.version != "latest") expect(by_name->version == entry.version, "name:version resolves to that version");
    }
    check_resolved(catalogue, entry.reference);
    check_resolved(catalogue, entry.image.id);
    for (const auto& tag : entry.image.repo_tags) check_resolved(catalogue, tag);
  }
  for (const auto& image : images)
    for (const auto& tag : image.repo_tags) check_resolved(catalogue, tag);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0]) {
    case 'r': check_resolved(fuzz::fixed_catalogue(), input); break;
    case 'v': check_versions(input); break;
    default: check_inspect(std::string_view(reinterpret_cast<const char*>(data), size)); break;
    }
  } catch (const Error&) {
    // parse_image_inspect refusing what the engine printed: the listing fails with it.
  }
  return 0;
}
