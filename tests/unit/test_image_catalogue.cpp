// Tests for daemon/policy/image_catalogue.hpp: parsing `image inspect`, catalogue rules,
// version order and resolution of what users type after `-i`.

#include "daemon/policy/image_catalogue.hpp"

#include "matchers.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using namespace jobman::daemon::policy;
using Catch::Matchers::Contains;
using jobman::test::IsError;
using jobman::test::IsErrorInfo;

namespace {

// Abridged from `podman image inspect localhost/app:1.0` (podman 4.x): the Id has no
// "sha256:" prefix and labels appear both in Config and at the top level.
constexpr const char* k_podman_inspect = R"([
  {
    "Id": "4e9f2cdf438714c2c4533e28c6c41a89cc6c1b46cf77e54c488db30ca4f5b6f3",
    "Digest": "sha256:5f2a3b7e0d1c4e9f2cdf438714c2c4533e28c6c41a89cc6c1b46cf77e54c488d",
    "RepoTags": ["localhost/app:1.0", "localhost/app:latest"],
    "RepoDigests": ["localhost/app@sha256:5f2a3b7e0d1c4e9f2cdf438714c2c4533e28c6c41a89cc6c1b46cf77e54c488d"],
    "Parent": "",
    "Comment": "",
    "Created": "2024-03-01T10:15:30.123456789Z",
    "Config": {
      "User": "1000",
      "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      "Entrypoint": ["/usr/bin/app"],
      "Cmd": ["--help"],
      "WorkingDir": "/",
      "Labels": {"io.buildah.version": "1.29.0", "name": "app", "version": "1.0"}
    },
    "Version": "",
    "Author": "",
    "Architecture": "amd64",
    "Os": "linux",
    "Size": 4870144,
    "VirtualSize": 4870144,
    "GraphDriver": {"Name": "overlay", "Data": {"UpperDir": "/var/lib/containers/storage/overlay/x/diff"}},
    "RootFS": {"Type": "layers", "Layers": ["sha256:3ce819cc49704da6e0e4d6d5a8e0c4ef0ca1d5b0e7dbc0ee8c5b9a6ee7e5f9d3"]},
    "Labels": {"io.buildah.version": "1.29.0", "name": "app", "version": "1.0"},
    "Annotations": {},
    "ManifestType": "application/vnd.oci.image.manifest.v1+json",
    "User": "1000",
    "History": [{"created": "2024-03-01T10:15:30Z", "created_by": "/bin/sh -c #(nop) LABEL name=app version=1.0"}],
    "NamesHistory": ["localhost/app:1.0"]
  }
])";

// Abridged from `docker image inspect`: the Id carries "sha256:", labels only in Config,
// and an image without labels has "Labels": null.
constexpr const char* k_docker_inspect = R"([
  {
    "Id": "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d",
    "RepoTags": ["localhost/tool:2.3.1"],
    "RepoDigests": [],
    "Parent": "",
    "Comment": "buildkit.dockerfile.v0",
    "Created": "2023-11-20T08:00:00.000000000Z",
    "Container": "",
    "ContainerConfig": {"Hostname": "", "Labels": null},
    "DockerVersion": "",
    "Author": "",
    "Config": {
      "Hostname": "",
      "User": "",
      "Env": ["PATH=/usr/bin:/bin"],
      "Cmd": ["sh"],
      "Image": "",
      "WorkingDir": "",
      "Entrypoint": null,
      "OnBuild": null,
      "Labels": {"name": "tool", "version": "2.3.1", "maintainer": "lab@example.org"}
    },
    "Architecture": "amd64",
    "Os": "linux",
    "Size": 4261574,
    "GraphDriver": {"Data": null, "Name": "overlay2"},
    "RootFS": {"Type": "layers", "Layers": ["sha256:01d4e4b4f381ac5a9964a14a650d7c074a2aa6e0d0c1e8f47b5e5a0a6ac3b1c7"]},
    "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}
  },
  {
    "Id": "sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a",
    "RepoTags": ["busybox:latest"],
    "RepoDigests": ["busybox@sha256:3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79"],
    "Created": "2023-07-18T23:19:33.655005962Z",
    "Config": {"Cmd": ["sh"], "Labels": null, "Entrypoint": null, "User": ""},
    "Size": 4261550
  }
])";

ImageInfo image(std::string id, std::vector<std::string> tags, std::map<std::string, std::string> labels, std::string created = "2024-01-01T00:00:00Z") {
  ImageInfo info;
  info.id = std::move(id);
  info.repo_tags = std::move(tags);
  info.labels = std::move(labels);
  info.created = std::move(created);
  return info;
}

ImagesConfig default_images() { return ImagesConfig{}; }

// A catalogue with app 1.2, 1.9, 1.10, tool 0.1, an image missing its version label, and
// one from a repository that is not allowed.
Catalogue sample_catalogue() {
  return build_catalogue(default_images(), {
    image("sha256:a19", {"localhost/app:1.9"}, {{"name", "app"}, {"version", "1.9"}}),
    image("sha256:a110", {"localhost/app:1.10"}, {{"name", "app"}, {"version", "1.10"}}),
    image("sha256:t01", {"localhost/tool:0.1"}, {{"name", "tool"}, {"version", "0.1"}}),
    image("sha256:a12", {"localhost/app:1.2"}, {{"name", "app"}, {"version", "1.2"}}),
    image("sha256:bare", {"localhost/unlabeled:1.0"}, {{"name", "unlabeled"}}),
    image("sha256:hub", {"docker.io/library/busybox:latest"}, {{"name", "busybox"}, {"version", "1.36"}}),
  });
}

CatalogueEntry resolved(const Catalogue& catalogue, std::string_view reference) {
  auto result = resolve_image(catalogue, reference);
  if (!result) FAIL("resolve_image(" << reference << ") failed: " << result.error().message);
  return *result;
}

} // namespace

TEST_CASE("parse_image_inspect reads podman output and adds the sha256: prefix", "[image_catalogue]") {
  auto images = parse_image_inspect(k_podman_inspect);
  REQUIRE(images.size() == 1);
  const ImageInfo& info = images[0];
  CHECK(info.id == "sha256:4e9f2cdf438714c2c4533e28c6c41a89cc6c1b46cf77e54c488db30ca4f5b6f3");
  CHECK(info.repo_tags == std::vector<std::string>{"localhost/app:1.0", "localhost/app:latest"});
  CHECK(info.repo_digests.size() == 1);
  CHECK(info.labels == std::map<std::string, std::string>{{"io.buildah.version", "1.29.0"}, {"name", "app"}, {"version", "1.0"}});
  CHECK(info.created == "2024-03-01T10:15:30.123456789Z");
  CHECK(info.size == 4870144);
  CHECK(info.entrypoint == std::vector<std::string>{"/usr/bin/app"});
  CHECK(info.cmd == std::vector<std::string>{"--help"});
  CHECK(info.user == "1000");
}

TEST_CASE("parse_image_inspect reads docker output and keeps its sha256: id", "[image_catalogue]") {
  auto images = parse_image_inspect(k_docker_inspect);
  REQUIRE(images.size() == 2);
  CHECK(images[0].id == "sha256:9c7a54a9a43cca047013b82af109fe963fde787f63f9e016fdc3384500c2823d");
  CHECK(images[0].labels == std::map<std::string, std::string>{{"maintainer", "lab@example.org"}, {"name", "tool"}, {"version", "2.3.1"}});
  CHECK(images[0].entrypoint.empty()); // null
  CHECK(images[0].cmd == std::vector<std::string>{"sh"});
  CHECK(images[0].size == 4261574);
  // "Labels": null gives no labels rather than an error.
  CHECK(images[1].id == "sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a");
  CHECK(images[1].labels.empty());
  CHECK(images[1].repo_tags == std::vector<std::string>{"busybox:latest"});
}

TEST_CASE("parse_image_inspect skips entries without an id", "[image_catalogue]") {
  auto images = parse_image_inspect(R"([{"RepoTags":["x:1"]}, 5, {"Id":"abc"}])");
  REQUIRE(images.size() == 1);
  CHECK(images[0].id == "sha256:abc");
  CHECK(parse_image_inspect("[]").empty());
}

TEST_CASE("parse_image_inspect reads a field of the wrong type as missing, not as a failed listing", "[image_catalogue]") {
  // Found by fuzz_image_ref: a type_error escaped, and the catalogue cache failed every
  // listing (so every submit) while such an image existed.
  auto images = parse_image_inspect(R"([{"Id":{}}, {"Id":"abc","Created":5,"Config":{"User":7,"Labels":{"name":"app","version":"1"}}}])");
  REQUIRE(images.size() == 1);
  CHECK(images[0].id == "sha256:abc");
  CHECK(images[0].created.empty());
  CHECK(images[0].user.empty());
  CHECK(images[0].labels.at("name") == "app");
}

TEST_CASE("parse_image_inspect throws EngineError for anything but an array", "[image_catalogue]") {
  for (const char* text : {"{}", R"({"Id":"abc"})", "null", "", "Error: no such image", "[1,"}) {
    CAPTURE(text);
    CHECK_THROWS_MATCHES(parse_image_inspect(text), Error, IsError(ErrorCode::EngineError, {"image inspect", "JSON array"}));
  }
}

TEST_CASE("catalogue_problem accepts a labeled image from an allowed repository", "[image_catalogue]") {
  CHECK_FALSE(catalogue_problem(default_images(), image("sha256:1", {"localhost/app:1.0"}, {{"name", "app"}, {"version", "1.0"}})));
  // Any one allowed tag is enough.
  CHECK_FALSE(catalogue_problem(default_images(),
                                image("sha256:1", {"docker.io/app:1.0", "localhost/app:1.0"}, {{"name", "app"}, {"version", "1.0"}})));
}

TEST_CASE("catalogue_problem names the missing label", "[image_catalogue]") {
  auto problem = catalogue_problem(default_images(), image("sha256:1", {"localhost/app:1.0"}, {{"name", "app"}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("'localhost/app:1.0'") && Contains("'version' label"));

  problem = catalogue_problem(default_images(), image("sha256:1", {"localhost/app:1.0"}, {{"name", "app"}, {"version", ""}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("'version'"));

  ImagesConfig strict;
  strict.required_labels = {"name", "version", "maintainer"};
  problem = catalogue_problem(strict, image("sha256:1", {"localhost/app:1.0"}, {{"name", "app"}, {"version", "1.0"}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("'maintainer' label"));
}

TEST_CASE("catalogue_problem still needs name and version when not configured", "[image_catalogue]") {
  ImagesConfig lax;
  lax.required_labels = {};
  auto problem = catalogue_problem(lax, image("sha256:1", {"localhost/app:1.0"}, {{"version", "1.0"}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("'name' label"));
}

TEST_CASE("catalogue_problem rejects label values that are not simple words", "[image_catalogue]") {
  auto problem = catalogue_problem(default_images(), image("sha256:1", {"localhost/app:1.0"}, {{"name", "app"}, {"version", "1.0 beta"}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("invalid 'version' label '1.0 beta'"));
  problem = catalogue_problem(default_images(), image("sha256:1", {"localhost/app:1.0"}, {{"name", "a/b"}, {"version", "1.0"}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("invalid 'name' label 'a/b'"));
  CHECK_FALSE(catalogue_problem(default_images(), image("sha256:1", {"localhost/app:1.0"}, {{"name", "my_app-2"}, {"version", "1.0.0-rc.1+build_5"}})));
}

TEST_CASE("catalogue_problem names the allowed repository prefixes", "[image_catalogue]") {
  ImagesConfig config;
  config.repositories = {"localhost/", "registry.example.org/science/"};
  auto problem = catalogue_problem(config, image("sha256:1", {"docker.io/library/busybox:latest"}, {{"name", "busybox"}, {"version", "1"}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("'docker.io/library/busybox:latest'") && Contains("localhost/, registry.example.org/science/"));

  // An untagged image is shown by its short id.
  problem = catalogue_problem(config, image("sha256:0123456789abcdef0123", {}, {{"name", "x"}, {"version", "1"}}));
  REQUIRE(problem.has_value());
  CHECK_THAT(*problem, Contains("'sha256:0123456789ab'"));
}

TEST_CASE("compare_versions orders versions naturally", "[image_catalogue]") {
  CHECK(compare_versions("1.10", "1.9") > 0);
  CHECK(compare_versions("1.9", "1.10") < 0);
  CHECK(compare_versions("1.0", "1.0") == 0);
  CHECK(compare_versions("2", "10") < 0);
  CHECK(compare_versions("1.0", "1.0.1") < 0);
  CHECK(compare_versions("1.0.1", "1.0") > 0);
  CHECK(compare_versions("01.2", "1.2") == 0);
  CHECK(compare_versions("1.0a", "1.0b") < 0);
  CHECK(compare_versions("v2", "v10") < 0);
  CHECK(compare_versions("2024.01.15", "2023.12.31") > 0);
  CHECK(compare_versions("", "") == 0);
  CHECK(compare_versions("", "1") < 0);
  CHECK(compare_versions("99999999999999999999999", "100000000000000000000000") < 0); // no integer overflow
}

TEST_CASE("compare_versions is antisymmetric", "[image_catalogue]") {
  const char* versions[] = {"", "0", "1", "1.0", "1.0.1", "1.2", "1.9", "1.10", "2", "10", "1.0a", "1.0b", "v1", "01"};
  for (const char* a : versions) {
    for (const char* b : versions) {
      CAPTURE(a, b);
      CHECK(compare_versions(a, b) == -compare_versions(b, a));
    }
  }
}

TEST_CASE("build_catalogue sorts by name, newest version first, and records rejections", "[image_catalogue]") {
  Catalogue c = sample_catalogue();
  REQUIRE(c.entries.size() == 4);
  CHECK(c.entries[0].display() == "app:1.10");
  CHECK(c.entries[1].display() == "app:1.9");
  CHECK(c.entries[2].display() == "app:1.2");
  CHECK(c.entries[3].display() == "tool:0.1");
  CHECK(c.entries[0].reference == "localhost/app:1.10");
  CHECK(c.entries[0].image.id == "sha256:a110");
  CHECK(c.all.size() == 6);
  REQUIRE(c.rejected.size() == 2);
  CHECK_THAT(c.rejected.at("sha256:bare"), Contains("'version'"));
  CHECK_THAT(c.rejected.at("sha256:hub"), Contains("allowed prefixes"));
}

TEST_CASE("build_catalogue picks the first allowed tag as reference", "[image_catalogue]") {
  Catalogue c = build_catalogue(default_images(), {image("sha256:1", {"docker.io/app:1.0", "localhost/app:1.0", "localhost/app:v1"},
                                                         {{"name", "app"}, {"version", "1.0"}})});
  REQUIRE(c.entries.size() == 1);
  CHECK(c.entries[0].reference == "localhost/app:1.0");
}

TEST_CASE("build_catalogue puts the newest build first for a repeated name:version", "[image_catalogue]") {
  Catalogue c = build_catalogue(default_images(), {
    image("sha256:old", {"localhost/app:1.0-old"}, {{"name", "app"}, {"version", "1.0"}}, "2024-01-01T00:00:00Z"),
    image("sha256:new", {"localhost/app:1.0"}, {{"name", "app"}, {"version", "1.0"}}, "2024-06-01T00:00:00Z"),
  });
  REQUIRE(c.entries.size() == 2);
  CHECK(c.entries[0].image.id == "sha256:new");
  CHECK(resolved(c, "app:1.0").image.id == "sha256:new");
}

TEST_CASE("resolve_image resolves NAME, NAME:VERSION and NAME:latest", "[image_catalogue]") {
  Catalogue c = sample_catalogue();
  CHECK(resolved(c, "app").display() == "app:1.10");
  CHECK(resolved(c, "app:latest").display() == "app:1.10");
  CHECK(resolved(c, "app:1.9").display() == "app:1.9");
  CHECK(resolved(c, "app:1.9").image.id == "sha256:a19");
  CHECK(resolved(c, "app:1.2").image.id == "sha256:a12");
  CHECK(resolved(c, "tool").display() == "tool:0.1");
}

TEST_CASE("resolve_image lists the available versions of a known name", "[image_catalogue]") {
  auto result = resolve_image(sample_catalogue(), "app:2.0");
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(result.error(), IsErrorInfo(ErrorCode::ImageNotFound, {"'app'", "'2.0'", "1.10, 1.9, 1.2"}));
}

TEST_CASE("resolve_image resolves a full repository reference", "[image_catalogue]") {
  Catalogue c = sample_catalogue();
  CHECK(resolved(c, "localhost/app:1.9").image.id == "sha256:a19");
  CHECK(resolved(c, "localhost/tool:0.1").display() == "tool:0.1");
  CHECK(resolved(c, "sha256:a12").display() == "app:1.2");

  auto missing = resolve_image(c, "localhost/app:3.0");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error(), IsErrorInfo(ErrorCode::ImageNotFound, {"'localhost/app:3.0'"}));

  // Without a tag a full reference means :latest, which no image has here.
  auto untagged = resolve_image(c, "localhost/app");
  REQUIRE_FALSE(untagged.ok());
  CHECK(untagged.error().code == ErrorCode::ImageNotFound);
}

TEST_CASE("resolve_image explains why a full reference is not in the catalogue", "[image_catalogue]") {
  Catalogue c = sample_catalogue();
  auto unlabeled = resolve_image(c, "localhost/unlabeled:1.0");
  REQUIRE_FALSE(unlabeled.ok());
  CHECK_THAT(unlabeled.error(), IsErrorInfo(ErrorCode::ImageRejected, {"'version' label"}));

  auto hub = resolve_image(c, "docker.io/library/busybox:latest");
  REQUIRE_FALSE(hub.ok());
  CHECK_THAT(hub.error(), IsErrorInfo(ErrorCode::ImageRejected, {"allowed prefixes", "localhost/"}));
}

TEST_CASE("resolve_image explains why a bare name of a rejected image is refused", "[image_catalogue]") {
  Catalogue c = sample_catalogue();
  auto by_repo = resolve_image(c, "unlabeled");
  REQUIRE_FALSE(by_repo.ok());
  CHECK_THAT(by_repo.error(), IsErrorInfo(ErrorCode::ImageRejected, {"'version' label"}));

  auto by_label = resolve_image(c, "busybox");
  REQUIRE_FALSE(by_label.ok());
  CHECK_THAT(by_label.error(), IsErrorInfo(ErrorCode::ImageRejected, {"allowed prefixes"}));
}

TEST_CASE("resolve_image reports unknown names as ImageNotFound", "[image_catalogue]") {
  auto result = resolve_image(sample_catalogue(), "nosuch");
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(result.error(), IsErrorInfo(ErrorCode::ImageNotFound, {"'nosuch'", "jobman images"}));

  auto versioned = resolve_image(sample_catalogue(), "nosuch:1.0");
  REQUIRE_FALSE(versioned.ok());
  CHECK_THAT(versioned.error(), IsErrorInfo(ErrorCode::ImageNotFound, {"'nosuch'"}));

  auto empty = resolve_image(Catalogue{}, "app");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == ErrorCode::ImageNotFound);
}

TEST_CASE("resolve_image rejects invalid references as InvalidArgument", "[image_catalogue]") {
  Catalogue c = sample_catalogue();
  for (const char* reference : {"app 1.0", "app\t", "app\n", "a\"b", "it's", "back\\slash"}) {
    CAPTURE(reference);
    auto result = resolve_image(c, reference);
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"not a valid image reference"}));
  }
  auto empty = resolve_image(c, "");
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error(), IsErrorInfo(ErrorCode::InvalidArgument, {"empty"}));

  auto long_ref = resolve_image(c, std::string(257, 'a'));
  REQUIRE_FALSE(long_ref.ok());
  CHECK(long_ref.error().code == ErrorCode::InvalidArgument);
}

TEST_CASE("podman and docker inspect output feed the same catalogue", "[image_catalogue]") {
  auto images = parse_image_inspect(k_podman_inspect);
  auto docker = parse_image_inspect(k_docker_inspect);
  images.insert(images.end(), docker.begin(), docker.end());
  Catalogue c = build_catalogue(default_images(), images);
  REQUIRE(c.entries.size() == 2);
  CHECK(c.entries[0].display() == "app:1.0");
  CHECK(c.entries[0].reference == "localhost/app:1.0");
  CHECK(c.entries[1].display() == "tool:2.3.1");
  CHECK(resolved(c, "app").image.id == "sha256:4e9f2cdf438714c2c4533e28c6c41a89cc6c1b46cf77e54c488db30ca4f5b6f3");
  auto busybox = resolve_image(c, "busybox");
  REQUIRE_FALSE(busybox.ok());
  CHECK(busybox.error().code == ErrorCode::ImageRejected);
}

TEST_CASE("compare_versions: a suffix does not outrank the version it extends (issue 10)", "[image_catalogue]") {
  CHECK(compare_versions("3.4cuda11", "3.4") < 0);
  CHECK(compare_versions("3.4", "3.4cuda11") > 0);
  CHECK(compare_versions("3.4-rc1", "3.4") < 0);
  CHECK(compare_versions("3.4.1", "3.4") > 0);
  CHECK(compare_versions("3.5cuda11", "3.4") > 0); // the number still comes first
  CHECK(compare_versions("v", "v2") < 0);
  CHECK(compare_versions("3.4.1", "3.4cuda11") > 0); // and so a strict weak order: no cycle through 3.4
  CHECK(compare_versions("1.a", "1.2") < 0);
}

TEST_CASE("compare_versions is a strict weak order over odd versions (std::sort needs one)", "[image_catalogue]") {
  const std::vector<std::string> versions{"", "0", "1", "01", "1.0", "1.0.1", "1.0a", "1.0b", "1.0-rc1", "1.0+b", "1.0_x", "1.a", "1.",
                                          "3.4", "3.4cuda11", "3.4.1", "3.5cuda11", "v", "v2", "v10", "a", "A", "..", "9999999999999999"};
  for (const auto& x : versions) {
    CAPTURE(x);
    CHECK(compare_versions(x, x) == 0);
    for (const auto& y : versions) {
      CAPTURE(y);
      CHECK(compare_versions(x, y) == -compare_versions(y, x));
      for (const auto& z : versions)
        if (compare_versions(x, y) < 0 && compare_versions(y, z) < 0) CHECK(compare_versions(x, z) < 0);
    }
  }
}

TEST_CASE("resolve_image: NAME is the image tagged latest, NAME:X a version or a tag (issue 10)", "[image_catalogue]") {
  // CHAIMELEON's ubuntu-python: 3.4 (tags 3.4, latest) and 3.4cuda11 (tags 3.4cuda11, latest-cuda).
  Catalogue c = build_catalogue(default_images(), {
    image("sha256:cuda", {"localhost/ubuntu-python:3.4cuda11", "localhost/ubuntu-python:latest-cuda"},
          {{"name", "ubuntu-python"}, {"version", "3.4cuda11"}}),
    image("sha256:plain", {"localhost/ubuntu-python:3.4", "localhost/ubuntu-python:latest"}, {{"name", "ubuntu-python"}, {"version", "3.4"}}),
    image("sha256:old", {"localhost/ubuntu-python:3.3"}, {{"name", "ubuntu-python"}, {"version", "3.3"}}),
  });
  CHECK(resolved(c, "ubuntu-python").image.id == "sha256:plain");
  CHECK(resolved(c, "ubuntu-python:latest").image.id == "sha256:plain");
  CHECK(resolved(c, "ubuntu-python:latest-cuda").image.id == "sha256:cuda");
  CHECK(resolved(c, "ubuntu-python:3.4cuda11").image.id == "sha256:cuda");
  CHECK(resolved(c, "ubuntu-python:3.3").image.id == "sha256:old");
  CHECK(c.entries[0].tags == std::vector<std::string>{"3.4", "latest"});

  // No `latest` tag anywhere: the highest version, and a suffixed one does not outrank it.
  Catalogue untagged = build_catalogue(default_images(), {
    image("sha256:cuda", {"localhost/ubuntu-python:3.4cuda11"}, {{"name", "ubuntu-python"}, {"version", "3.4cuda11"}}),
    image("sha256:plain", {"localhost/ubuntu-python:3.4"}, {{"name", "ubuntu-python"}, {"version", "3.4"}}),
  });
  CHECK(resolved(untagged, "ubuntu-python").image.id == "sha256:plain");

  auto missing = resolve_image(c, "ubuntu-python:latest-rocm");
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error(), IsErrorInfo(ErrorCode::ImageNotFound, {"'latest-rocm'", "3.4", "latest-cuda (tag of 3.4cuda11)"}));
}
