#pragma once
// The image catalogue, cached: building it costs two engine calls, submitting must not.
// Refreshed when older than images.refresh, or on demand when a reference is not found.
// Loads are coalesced: whoever needs one while another runs waits for it and shares its
// result (ten clients naming an unknown image at once cost one engine listing, not ten).

#include "common/config.hpp"
#include "daemon/backend/backend.hpp"
#include "daemon/policy/image_catalogue.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace jobman::daemon::images {

namespace asio = boost::asio;

class CatalogueCache {
public:
  CatalogueCache(const ImagesConfig& config, backend::Backend& backend);
  // The catalogue, refreshed first if stale or if `force_refresh`.
  // Throws Error(EngineError/Unavailable) when the engine cannot list images.
  asio::awaitable<std::shared_ptr<const policy::Catalogue>> get(bool force_refresh = false);
  // The next get() asks the engine again (the config's image rules changed).
  void invalidate() { m_catalogue.reset(); }

private:
  // Loads the catalogue into m_catalogue / m_error, then wakes the waiters.
  asio::awaitable<void> load();
  // Waits for the load in flight; its outcome is in m_catalogue / m_error.
  asio::awaitable<void> join_load();

  const ImagesConfig& m_config;
  backend::Backend& m_backend;
  std::shared_ptr<const policy::Catalogue> m_catalogue;
  std::chrono::steady_clock::time_point m_loaded_at;
  bool m_loading = false;
  std::uint64_t m_loads_done = 0; // loads that have ended
  std::optional<ErrorInfo> m_error;                       // of the last load, if it failed
  std::vector<std::shared_ptr<asio::steady_timer>> m_waiting; // woken (cancelled) when a load ends
};

} // namespace jobman::daemon::images
