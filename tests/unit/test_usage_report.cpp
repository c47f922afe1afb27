// Tests for daemon/policy/usage_report.hpp: what details shows of a job's usage against its
// flavor, and the hints that name a better flavor.

#include "daemon/policy/usage_report.hpp"

#include <catch2/catch.hpp>

using namespace jobman;
using jobman::daemon::policy::usage_report;
using nlohmann::json;

namespace {
constexpr std::int64_t k_mb = 1 << 20;

const Config& flavors() {
  static const Config config = parse_config(R"({"flavors": [
    {"name": "four", "cpus": 4, "memory": "4G"},
    {"name": "one-small", "cpus": 1, "memory": "1G"},
    {"name": "one", "cpus": 1, "memory": "4G"},
    {"name": "big", "cpus": 4, "memory": "16G"},
    {"name": "gpu", "cpus": 4, "memory": "32G", "gpus": 1}
  ], "gpus": {"devices": ["0"]}})", "test");
  return config;
}

Job ended_job(double cpus, std::int64_t memory, std::int64_t wall_ms, Usage usage) {
  Job job;
  job.state = JobState::Succeeded;
  job.spec.flavor = "four";
  job.spec.resources.cpus = cpus;
  job.spec.resources.memory = memory;
  job.started_at = 1'000'000;
  job.ended_at = 1'000'000 + wall_ms;
  job.usage = std::move(usage);
  return job;
}

// A resident peak of `peak` (and all it was charged, page cache included, 1G above it).
Usage used(std::int64_t peak, std::int64_t cpu_ms) { return Usage{peak + (1LL << 30), peak, cpu_ms, cpu_ms, 0, "cgroup v1"}; }
} // namespace

TEST_CASE("usage_report puts peak memory and CPU time against the flavor's", "[usage_report]") {
  json r = usage_report(ended_job(4, 4096 * k_mb, 120'000, used(312 * k_mb, 80'000)), flavors());
  CHECK(r["memory"] == json{{"peak", 312 * k_mb}, {"limit", 4096 * k_mb}, {"percent", 8}, {"peak_with_cache", 1336 * k_mb}});
  CHECK(r["cpu"]["used_ms"] == 80'000);
  CHECK(r["cpu"]["wall_ms"] == 120'000);
  CHECK(r["cpu"]["cpus"] == 4.0);
  CHECK(r["cpu"]["percent"] == 17);
  CHECK(r["hints"] == json::array());
  CHECK(r["source"] == "cgroup v1");
}

TEST_CASE("usage_report is null for a job not measured, and leaves out figures not measured", "[usage_report]") {
  Job job = ended_job(4, 4096 * k_mb, 1000, used(1, 1));
  job.usage.reset();
  CHECK(usage_report(job, flavors()).is_null());
  Usage partial;
  partial.peak_memory = 5;
  partial.source = "cgroup v2";
  json r = usage_report(ended_job(4, 4096 * k_mb, 1000, partial), flavors());
  CHECK(r["memory"] == json{{"peak", 5}, {"limit", 4096 * k_mb}, {"percent", 0}}); // all it was charged, without the resident peak
  CHECK_FALSE(r.contains("cpu"));
  // A flavor without a memory limit or CPUs: no percent.
  json unlimited = usage_report(ended_job(0, 0, 1000, used(5, 1)), flavors());
  CHECK_FALSE(unlimited["memory"].contains("percent"));
  CHECK_FALSE(unlimited["cpu"].contains("percent"));
  // A 1 ms job does not wrap the percent.
  CHECK(usage_report(ended_job(1, 4096 * k_mb, 1, used(5, 100'000'000)), flavors())["cpu"]["percent"] == 1'000'000);
  // A job still running has no wall time to put its CPU time against.
  Job running = ended_job(4, 4096 * k_mb, 1000, used(1, 1));
  running.ended_at.reset();
  CHECK_FALSE(usage_report(running, flavors()).contains("cpu"));
}

TEST_CASE("a job at 95% of its memory is pointed at the smallest flavor with more", "[usage_report]") {
  json r = usage_report(ended_job(4, 4096 * k_mb, 60'000, used(3900 * k_mb, 200'000)), flavors());
  CHECK(r["memory"]["percent"] == 95);
  CHECK(r["hints"] == json{"it peaked at 95% of its 4G memory: flavor 'big' has 16G"});
  // Just under: no hint.
  CHECK(usage_report(ended_job(4, 4096 * k_mb, 60'000, used(3850 * k_mb, 200'000)), flavors())["hints"] == json::array());
  // An OOM kill, whatever was sampled; with nothing bigger, the admin.
  Job oom = ended_job(4, 32768 * k_mb, 60'000, used(100 * k_mb, 200'000));
  oom.state = JobState::OomKilled;
  CHECK(usage_report(oom, flavors())["hints"] == json{"it ran out of its 32G memory, and no flavor has more; ask the platform admin"});
  oom.spec.resources.memory = 4096 * k_mb;
  CHECK(usage_report(oom, flavors())["hints"] == json{"it ran out of its 4G memory: flavor 'big' has 16G"});
}

TEST_CASE("a job that kept 5% of its CPUs busy is pointed at a flavor with fewer that fits", "[usage_report]") {
  // 4 CPUs for 100 s, 10 s of CPU: 2.5%. 'one' (1 CPU) keeps its 4G.
  json r = usage_report(ended_job(4, 4096 * k_mb, 100'000, used(100 * k_mb, 10'000)), flavors());
  CHECK(r["cpu"]["percent"] == 3);
  CHECK(r["hints"] == json{"it kept 3% of its 4 CPUs busy: flavor 'one' (1 CPUs) would do"});
  // A peak 'one' could not hold (4G * 0.8 < peak): no flavor of fewer CPUs fits.
  json roomy = usage_report(ended_job(4, 16384 * k_mb, 100'000, used(3500 * k_mb, 10'000)), flavors());
  CHECK(roomy["hints"] == json{"it kept 3% of its 4 CPUs busy: a flavor with fewer CPUs would do"});
  // Short jobs, one-CPU jobs and busy jobs get no CPU hint.
  CHECK(usage_report(ended_job(4, 4096 * k_mb, 9'000, used(1, 0)), flavors())["hints"] == json::array());
  CHECK(usage_report(ended_job(1, 4096 * k_mb, 100'000, used(1, 0)), flavors())["hints"] == json::array());
  CHECK(usage_report(ended_job(4, 4096 * k_mb, 100'000, used(1, 30'000)), flavors())["hints"] == json::array());
}

TEST_CASE("usage_report hints keep a GPU job's GPUs", "[usage_report]") {
  Job job = ended_job(4, 32768 * k_mb, 100'000, used(32000 * k_mb, 1'000));
  job.spec.resources.gpus = 1;
  job.gpu_devices = {"0"};
  json r = usage_report(job, flavors());
  CHECK(r["gpus"] == json{"0"});
  CHECK(r["hints"] == json{"it peaked at 98% of its 32G memory, and no flavor has more; ask the platform admin",
                           "it kept 0% of its 4 CPUs busy: a flavor with fewer CPUs would do"});
}
