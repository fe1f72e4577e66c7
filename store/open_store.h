#pragma once

// Opens the store a manager's configuration names, with the manager schema.

#include <memory>

#include "common/clock.h"
#include "common/config.h"
#include "store/store.h"

namespace duet::store {

Result<std::unique_ptr<Store>> open_store(const StoreConfig& config, const Clock& clock);

// True for errors worth retrying (a database that may come back); false for
// those that need an operator (corrupt file, schema too new, bad config).
bool is_transient(const Error& error);

}  // namespace duet::store
