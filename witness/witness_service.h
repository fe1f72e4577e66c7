#pragma once

// The Witness gRPC service. Handlers run on gRPC threads and only post the
// request to the witness's strand, where the LeaseTable decides (and, when a
// grant raises an epoch, persists first); the reply is sent from there.
// Nothing blocks a gRPC thread.
//
// Logging: a grant (new holder, new epoch, or after the lease had ended), a
// release, and a refusal whose kind differs from the last one logged for
// that node are logged at info; renewals and probes only at debug, so a
// healthy pair renewing every interval logs nothing.
//
// The table and clock must outlive the service. Thread-compatible apart from
// the handlers, which may be called from any gRPC thread.

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "common/caller_policy.h"
#include "common/clock.h"
#include "duet/v1/witness.grpc.pb.h"
#include "ha/lease_table.h"

namespace duet::witness {

class WitnessService final : public duet::v1::Witness::CallbackService {
 public:
  // Only managers whose certificate `policy` accepts may ask for leases.
  WitnessService(boost::asio::any_io_executor strand, const Clock& clock, ha::LeaseTable& table,
                 CallerPolicy policy);

  grpc::ServerUnaryReactor* Acquire(grpc::CallbackServerContext* context,
                                    const duet::v1::LeaseRequest* request,
                                    duet::v1::LeaseReply* reply) override;
  grpc::ServerUnaryReactor* Release(grpc::CallbackServerContext* context,
                                    const duet::v1::LeaseRequest* request,
                                    duet::v1::LeaseReply* reply) override;

 private:
  grpc::ServerUnaryReactor* handle(grpc::CallbackServerContext* context,
                                   const duet::v1::LeaseRequest* request,
                                   duet::v1::LeaseReply* reply, bool acquire);
  // On the strand.
  void log_answer(const ha::LeaseAsk& ask, const ha::LeaseAnswer& answer, bool acquire);

  boost::asio::any_io_executor strand_;
  CallerPolicy policy_;
  const Clock& clock_;
  ha::LeaseTable& table_;
  // Last refusal logged per (pair, node); strand only.
  std::map<std::pair<std::string, std::string>, ha::Refusal> last_refusal_;
  std::optional<TimePoint> last_invalid_log_;  // malformed requests: rate-limited log
  std::uint64_t invalid_since_log_ = 0;
};

}  // namespace duet::witness
