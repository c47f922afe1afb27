#pragma once
// The image catalogue, cached: building it costs two engine calls, submitting must not.
// Refreshed when older than images.refresh, or on demand when a reference is not found.

#include "common/config.hpp"
#include "daemon/backend/backend.hpp"
#include "daemon/policy/image_catalogue.hpp"

#include <boost/asio/awaitable.hpp>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>

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
  const ImagesConfig& m_config;
  backend::Backend& m_backend;
  std::shared_ptr<const policy::Catalogue> m_catalogue;
  std::chrono::steady_clock::time_point m_loaded_at;
};

} // namespace jobman::daemon::images
