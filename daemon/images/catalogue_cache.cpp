#include "daemon/images/catalogue_cache.hpp"

namespace jobman::daemon::images {

CatalogueCache::CatalogueCache(const ImagesConfig& config, backend::Backend& backend) : m_config(config), m_backend(backend) {}

asio::awaitable<std::shared_ptr<const policy::Catalogue>> CatalogueCache::get(bool force_refresh) {
  auto now = std::chrono::steady_clock::now();
  if (m_catalogue && !force_refresh && now - m_loaded_at < m_config.refresh) co_return m_catalogue;
  auto images = co_await m_backend.list_images();
  if (!images) throw Error(images.error().code, images.error().message);
  m_catalogue = std::make_shared<const policy::Catalogue>(policy::build_catalogue(m_config, std::move(*images)));
  m_loaded_at = now;
  co_return m_catalogue;
}

} // namespace jobman::daemon::images
