#include "daemon/images/catalogue_cache.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

namespace jobman::daemon::images {

CatalogueCache::CatalogueCache(const ImagesConfig& config, backend::Backend& backend) : m_config(config), m_backend(backend) {}

asio::awaitable<void> CatalogueCache::join_load() {
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  m_waiting.push_back(timer);
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec)); // cancelled when the load ends
}

asio::awaitable<void> CatalogueCache::load() {
  try {
    auto images = co_await m_backend.list_images();
    if (images) {
      m_catalogue = std::make_shared<const policy::Catalogue>(policy::build_catalogue(m_config, std::move(*images)));
      m_loaded_at = std::chrono::steady_clock::now();
      m_error.reset();
    } else {
      m_error = images.error();
    }
  } catch (const std::exception& e) {
    m_error = ErrorInfo{ErrorCode::EngineError, fmt::format("listing the images failed: {}", e.what())};
  }
  // Whatever happened, the waiters go on: left set, every later request would wait forever.
  m_loading = false;
  ++m_loads_done;
  for (auto& timer : m_waiting) timer->cancel();
  m_waiting.clear();
}

asio::awaitable<std::shared_ptr<const policy::Catalogue>> CatalogueCache::get(bool force_refresh) {
  auto now = std::chrono::steady_clock::now();
  if (m_catalogue && !force_refresh && now - m_loaded_at < m_config.refresh) co_return m_catalogue;
  if (!m_loading) {
    // The load runs on its own, not in this request: a client that leaves (and so cancels
    // its request) must not fail everyone else waiting for the same load.
    m_loading = true;
    asio::co_spawn(co_await asio::this_coro::executor, load(), asio::detached);
  }
  // A load that started before this request may just miss an image added in between; the
  // next refresh (or images.refresh) sees it. co_spawn runs the load at once, up to its
  // first wait: one that failed without waiting (the engine binary missing) is over
  // already, and waiting for it to end would be waiting forever.
  if (m_loading) {
    // Woken either because the load ended or because this request was cancelled. The
    // count tells which: an earlier waiter may already have started the next load.
    const std::uint64_t before = m_loads_done;
    co_await join_load();
    if (m_loads_done == before) throw Error(ErrorCode::Unavailable, "the request was cancelled");
  }
  if (m_error) throw Error(m_error->code, m_error->message);
  if (!m_catalogue) throw Error(ErrorCode::EngineError, "the image catalogue could not be loaded");
  co_return m_catalogue;
}

} // namespace jobman::daemon::images
