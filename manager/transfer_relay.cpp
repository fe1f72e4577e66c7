#include "manager/transfer_relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace duet::manager {

void TransferRelay::answer(const std::string& node, const std::string& run_id, std::uint64_t offset,
                           std::string error, bool retry) {
  duet::v1::ManagerMessage m;
  auto* c = m.mutable_file_chunk();
  c->set_run_id(run_id);
  c->set_offset(offset);
  c->set_error(std::move(error));
  c->set_retry(retry);
  (void)hooks_.send(node, std::move(m));
}

void TransferRelay::on_fetch(const std::string& node, const duet::v1::FetchRequest& request) {
  const auto now = hooks_.now();
  std::erase_if(reads_, [&](const auto& r) {
    return now - r.second.asked > kForgetAfter ||
           (r.second.to_node == node && r.second.run_id == request.run_id());
  });
  auto source = hooks_.source(request.run_id(), node);
  if (!source.ok()) {
    spdlog::warn("transfers: {} asked for run {}: refused: {}", node, request.run_id(),
                 source.error().message);
    answer(node, request.run_id(), request.offset(), source.error().message, false);
    return;
  }
  const std::uint64_t id = next_request_++;
  duet::v1::ManagerMessage m;
  auto* r = m.mutable_file_read();
  r->set_request(id);
  r->set_path(source->path);
  r->set_offset(request.offset());
  r->set_length(std::clamp<std::uint32_t>(request.length(), 1, kMaxPiece));
  if (!hooks_.send(source->node, std::move(m))) {
    answer(node, request.run_id(), request.offset(),
           "the agent of " + source->node + " is not connected", true);
    return;
  }
  reads_[id] = Read{node, request.run_id(), source->node, request.offset(), now};
}

void TransferRelay::on_chunk(const std::string& node, duet::v1::FileChunk chunk) {
  auto it = reads_.find(chunk.request());
  if (it == reads_.end() || it->second.from_node != node) return;  // forgotten, or not asked of it
  const Read read = std::move(it->second);
  reads_.erase(it);
  relayed_bytes_ += chunk.data().size();
  duet::v1::ManagerMessage m;
  auto* c = m.mutable_file_chunk();
  *c = std::move(chunk);
  c->set_request(0);
  c->set_run_id(read.run_id);
  c->set_offset(read.offset);
  (void)hooks_.send(read.to_node, std::move(m));
}

void TransferRelay::on_closed(const std::string& node) {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.from_node == node) {
      answer(it->second.to_node, it->second.run_id, it->second.offset,
             "the agent of " + node + " went away", true);
      it = reads_.erase(it);
    } else if (it->second.to_node == node) {
      it = reads_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace duet::manager
