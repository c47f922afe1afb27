// Tests for daemon/scheduler/gpu_allocator.hpp: exclusive GPU allocation and reading
// `nvidia-smi -L`.

#include "daemon/scheduler/gpu_allocator.hpp"

#include <catch2/catch.hpp>
#include <optional>

using namespace jobman::daemon::scheduler;
using Devices = std::vector<std::string>;
using Picked = std::optional<Devices>;

TEST_CASE("a new allocator has every device free", "[gpu_allocator]") {
  GpuAllocator gpus({"0", "1", "2", "3"});
  CHECK(gpus.total() == 4);
  CHECK(gpus.free_count() == 4);
  GpuAllocator none;
  CHECK(none.total() == 0);
  CHECK(none.free_count() == 0);
}

TEST_CASE("allocate hands out free devices in configured order, each to one holder", "[gpu_allocator]") {
  GpuAllocator gpus({"0", "1", "2", "3"});
  CHECK(gpus.allocate(2) == Picked(Devices{"0", "1"}));
  CHECK(gpus.free_count() == 2);
  CHECK(gpus.allocate(1) == Picked(Devices{"2"}));
  CHECK(gpus.allocate(1) == Picked(Devices{"3"}));
  CHECK(gpus.free_count() == 0);
  CHECK(gpus.allocate(1) == std::nullopt);
}

TEST_CASE("configured order, not sorted order, decides which devices go first", "[gpu_allocator]") {
  GpuAllocator gpus({"3", "1", "GPU-b", "GPU-a"});
  CHECK(gpus.allocate(3) == Picked(Devices{"3", "1", "GPU-b"}));
  CHECK(gpus.allocate(1) == Picked(Devices{"GPU-a"}));
}

TEST_CASE("when not enough devices are free allocate gives nothing and takes nothing", "[gpu_allocator]") {
  GpuAllocator gpus({"0", "1", "2"});
  REQUIRE(gpus.allocate(2) == Picked(Devices{"0", "1"}));
  CHECK(gpus.allocate(2) == std::nullopt);
  CHECK(gpus.free_count() == 1);
  CHECK(gpus.allocate(5) == std::nullopt);
  CHECK(gpus.free_count() == 1);
  // The one left is still there to take.
  CHECK(gpus.allocate(1) == Picked(Devices{"2"}));
  CHECK(GpuAllocator({"0"}).allocate(2) == std::nullopt);
  CHECK(GpuAllocator().allocate(1) == std::nullopt);
}

TEST_CASE("allocating zero GPUs always succeeds with none", "[gpu_allocator]") {
  GpuAllocator gpus({"0"});
  CHECK(gpus.allocate(0) == Picked(Devices{}));
  CHECK(gpus.free_count() == 1);
  REQUIRE(gpus.allocate(1) == Picked(Devices{"0"}));
  CHECK(gpus.allocate(0) == Picked(Devices{}));
  CHECK(GpuAllocator().allocate(0) == Picked(Devices{}));
}

TEST_CASE("release makes devices free again and they are reused in configured order", "[gpu_allocator]") {
  GpuAllocator gpus({"0", "1", "2", "3"});
  auto first = gpus.allocate(2);  // 0, 1
  auto second = gpus.allocate(2); // 2, 3
  REQUIRE(first == Picked(Devices{"0", "1"}));
  REQUIRE(second == Picked(Devices{"2", "3"}));
  gpus.release(*second);
  CHECK(gpus.free_count() == 2);
  gpus.release({"0"});
  CHECK(gpus.free_count() == 3);
  CHECK(gpus.allocate(3) == Picked(Devices{"0", "2", "3"}));
  CHECK(gpus.free_count() == 0);
}

TEST_CASE("releasing what is not held changes nothing", "[gpu_allocator]") {
  GpuAllocator gpus({"0", "1"});
  REQUIRE(gpus.allocate(1) == Picked(Devices{"0"}));
  gpus.release({"7"});
  gpus.release({"1"}); // free already
  CHECK(gpus.free_count() == 1);
  gpus.release({"0"});
  gpus.release({"0"}); // twice
  CHECK(gpus.free_count() == 2);
  gpus.release({});
  CHECK(gpus.free_count() == 2);
}

TEST_CASE("peek shows what allocate would give without taking it", "[gpu_allocator]") {
  GpuAllocator gpus({"0", "1", "2"});
  REQUIRE(gpus.allocate(1) == Picked(Devices{"0"}));
  CHECK(gpus.peek(2) == Picked(Devices{"1", "2"}));
  CHECK(gpus.peek(2) == Picked(Devices{"1", "2"}));
  CHECK(gpus.free_count() == 2);
  CHECK(gpus.peek(3) == std::nullopt);
  CHECK(gpus.peek(0) == Picked(Devices{}));
  CHECK(gpus.allocate(2) == Picked(Devices{"1", "2"}));
}

TEST_CASE("reserve marks known devices taken and ignores unknown ones", "[gpu_allocator]") {
  GpuAllocator gpus({"0", "1", "2", "3"});
  gpus.reserve({"1", "9", "GPU-gone"});
  CHECK(gpus.free_count() == 3);
  CHECK(gpus.allocate(3) == Picked(Devices{"0", "2", "3"}));
  CHECK(gpus.free_count() == 0);
  // Reserving again, or reserving what is already held, does not count twice.
  gpus.release({"1"});
  gpus.reserve({"1"});
  gpus.reserve({"1"});
  CHECK(gpus.free_count() == 0);
  gpus.release({"1"});
  CHECK(gpus.free_count() == 1);
}

// --- parse_nvidia_smi_list --------------------------------------------------------------

TEST_CASE("parse_nvidia_smi_list reads the device indices", "[gpu_allocator]") {
  const char* output =
    "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5a3c9b1e-7d2f-4c8a-9e61-0b4f2d7c8a11)\n"
    "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-8b1d2e3f-1a2b-4c3d-8e9f-0a1b2c3d4e5f)\n"
    "GPU 2: Tesla V100-PCIE-16GB (UUID: GPU-0f9e8d7c-6b5a-4938-a716-253443526170)\n";
  CHECK(parse_nvidia_smi_list(output) == Devices{"0", "1", "2"});
}

TEST_CASE("parse_nvidia_smi_list does not count MIG instances", "[gpu_allocator]") {
  const char* output =
    "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5a3c9b1e-7d2f-4c8a-9e61-0b4f2d7c8a11)\n"
    "  MIG 1g.5gb      Device  0: (UUID: MIG-4f8a1c2e-9b3d-5e6f-a7b8-c9d0e1f2a3b4)\n"
    "  MIG 1g.5gb      Device  1: (UUID: MIG-7c6b5a49-3827-5160-8f9e-8d7c6b5a4938)\n"
    "  MIG 2g.10gb     Device  2: (UUID: MIG-0a1b2c3d-4e5f-5a6b-8c9d-0e1f2a3b4c5d)\n"
    "GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-8b1d2e3f-1a2b-4c3d-8e9f-0a1b2c3d4e5f)\n"
    "  MIG 1g.5gb Device 0: (UUID: MIG-11111111-2222-5333-8444-555555555555)\n";
  CHECK(parse_nvidia_smi_list(output) == Devices{"0", "1"});
}

TEST_CASE("parse_nvidia_smi_list reads two-digit indices and a last line without newline", "[gpu_allocator]") {
  std::string output;
  for (int i = 0; i < 12; ++i) output += "GPU " + std::to_string(i) + ": NVIDIA H100 80GB HBM3 (UUID: GPU-" + std::to_string(i) + ")\n";
  output.pop_back();
  Devices expected;
  for (int i = 0; i < 12; ++i) expected.push_back(std::to_string(i));
  CHECK(parse_nvidia_smi_list(output) == expected);
}

TEST_CASE("parse_nvidia_smi_list finds no devices in errors and other text", "[gpu_allocator]") {
  CHECK(parse_nvidia_smi_list("").empty());
  CHECK(parse_nvidia_smi_list("\n\n").empty());
  CHECK(parse_nvidia_smi_list("No devices were found\n").empty());
  CHECK(parse_nvidia_smi_list("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                              "Make sure that the latest NVIDIA driver is installed and running.\n")
          .empty());
  CHECK(parse_nvidia_smi_list("GPU x: weird\nGPU : none\nGPU 1a: odd\n gpu 0: lower\nGPU -1: negative\n").empty());
  CHECK(parse_nvidia_smi_list("garbage\nGPU 3: NVIDIA T4 (UUID: GPU-abc)\n").size() == 1);
}
