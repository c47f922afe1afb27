#pragma once
// Jobs for the store tests (test_job_store.cpp, test_migrations.cpp): what they insert and
// the checks that read it back.

#include "common/job.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace jobman::test {

// A command line, as Job::argv holds it.
using Argv = std::vector<std::string>;

// A queued job of user `uid` (gid `uid` + 100) running `image`; an empty `name` asks for a default one.
inline Job new_job(std::uint32_t uid, std::string name = {}, std::string image = "app:1.0") {
  Job job;
  job.uid = uid;
  job.gid = uid + 100;
  job.user = "user" + std::to_string(uid);
  job.spec.name = std::move(name);
  job.spec.image = std::move(image);
  job.spec.image_id = "sha256:abc";
  job.spec.args = {"python", "-c", "print(1)"};
  job.spec.env = {{"B", "2"}, {"A", "1"}};
  return job;
}

// An argv_for for JobStore::insert that shows the container, name and id it was given.
inline Argv fake_argv(const Job& job) { return {"podman", "run", "--name", job.container, job.spec.name, std::to_string(job.id)}; }

// new_job with the schema 2 fields set: a flavor, resources, two mounts and groups; check_resources checks them.
inline Job resourced_job(std::uint32_t uid, std::string name = {}) {
  Job job = new_job(uid, std::move(name));
  job.spec.flavor = "gpu";
  job.spec.resources = Resources{8.5, 32LL << 30, 2LL << 30, 2, 7200};
  job.spec.mounts = {{"/data/alice/datasets", "/data/alice/datasets", true}, {"/data/alice/persistent", "/persistent", false}};
  job.spec.groups = {27, 44, 2001};
  return job;
}

// Checks that `job` carries the flavor, resources, mounts and groups resourced_job gave it.
inline void check_resources(const Job& job) {
  CHECK(job.spec.flavor == "gpu");
  CHECK(job.spec.resources.cpus == 8.5);
  CHECK(job.spec.resources.memory == 32LL << 30);
  CHECK(job.spec.resources.shm == 2LL << 30);
  CHECK(job.spec.resources.gpus == 2);
  CHECK(job.spec.resources.time_limit == 7200);
  REQUIRE(job.spec.mounts.size() == 2);
  CHECK(job.spec.mounts[0].source == "/data/alice/datasets");
  CHECK(job.spec.mounts[0].target == "/data/alice/datasets");
  CHECK(job.spec.mounts[0].read_only);
  CHECK(job.spec.mounts[1].source == "/data/alice/persistent");
  CHECK(job.spec.mounts[1].target == "/persistent");
  CHECK_FALSE(job.spec.mounts[1].read_only);
  CHECK(job.spec.groups == std::vector<std::uint32_t>{27, 44, 2001});
}

} // namespace jobman::test
