// AgentHub, the operator's side: metrics retention, the listings, monitor
// definitions, enrolment tokens and enrolment (see agent_hub.h).

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/errors.h"
#include "manager/agent_hub.h"
#include "manager/agent_hub_internal.h"
#include "monitors/check.h"

namespace duet::manager {

using namespace agent_hub_internal;

std::size_t AgentHub::maintain_metrics() {
  store::Store* s = hooks_.store();
  if (s == nullptr || !acting_) return 0;
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  constexpr std::int64_t kHour = 3'600'000;
  // Whole hours before this are rolled up.
  const std::int64_t raw_cutoff = (now_ms - options_.raw_keep_ms) / kHour * kHour;
  const std::int64_t hourly_cutoff = now_ms - options_.hourly_keep_ms;
  // The series: every (monitor, node) with a status, in key order from the cursor.
  std::vector<std::string> series;
  for (auto it = status_.upper_bound(maintain_cursor_);
       it != status_.end() && series.size() < options_.maintain_series; ++it) {
    series.push_back(it->first);
  }
  if (series.size() < options_.maintain_series) {
    for (auto it = status_.begin();
         it != status_.end() && series.size() < options_.maintain_series &&
         it->first <= maintain_cursor_;
         ++it) {
      series.push_back(it->first);
    }
  }
  store::WriteBatch batch;
  std::size_t rolled = 0;
  for (const auto& key : series) {
    maintain_cursor_ = key;
    const auto sep = key.find(kSep);
    const std::string monitor = key.substr(0, sep), node = key.substr(sep + 1);
    const std::string prefix = node + kSep + monitor + kSep;
    // Raw rows of whole hours past the raw span, by hour.
    struct Agg {
      double sum = 0, min = 0, max = 0;
      std::uint32_t count = 0;
    };
    std::map<std::int64_t, std::map<std::pair<std::string, std::string>, Agg>> hours;
    std::map<std::int64_t, std::pair<std::uint32_t, std::uint32_t>> results;  // (all, failed)
    const std::string stop = metrics_key(node, monitor, raw_cutoff, 0);
    (void)s->scan_after("metrics", prefix, [&](const store::Row& row) {
      const std::string k = text_of(row, "key");
      if (k.compare(0, prefix.size(), prefix) != 0 || k >= stop) return false;
      if (rolled >= options_.maintain_rows) return false;
      duet::v1::MetricPoint p;
      const std::int64_t at = int_of(row, "at_ms");
      const std::int64_t hour = at / kHour * kHour;
      if (p.ParseFromString(text_of(row, "point"))) {
        auto& r = results[hour];
        ++r.first;
        if (!p.ok()) ++r.second;
        for (const auto& m : p.metrics()) {
          Agg& a = hours[hour][{m.name(), m.label()}];
          if (a.count == 0) {
            a.min = a.max = m.value();
          } else {
            a.min = std::min(a.min, m.value());
            a.max = std::max(a.max, m.value());
          }
          a.sum += m.value();
          ++a.count;
        }
      } else {
        results[hour];
      }
      batch.erase("metrics", k);
      ++rolled;
      return true;
    });
    for (const auto& [hour, counts] : results) {
      const std::string hkey = metrics_key(node, monitor, hour, 0).substr(0, prefix.size() + 15);
      // Merge into the hour's point when an earlier pass made one.
      std::map<std::pair<std::string, std::string>, Agg> merged = hours[hour];
      std::uint32_t all = counts.first, failed = counts.second;
      auto existing = s->get("metrics_hourly", hkey);
      if (existing.ok() && existing->has_value()) {
        duet::v1::MetricPoint old;
        if (old.ParseFromString(text_of(**existing, "point"))) {
          all += old.results();
          failed += old.failed();
          for (const auto& m : old.metrics()) {
            Agg& a = merged[{m.name(), m.label()}];
            if (a.count == 0) {
              a.min = m.min();
              a.max = m.max();
            } else {
              a.min = std::min(a.min, m.min());
              a.max = std::max(a.max, m.max());
            }
            a.sum += m.value() * m.count();
            a.count += m.count();
          }
        }
      }
      duet::v1::MetricPoint point;
      point.set_at_ms(hour);
      point.set_resolution("hour");
      point.set_results(all);
      point.set_failed(failed);
      point.set_ok(failed < all);
      for (const auto& [id, a] : merged) {
        auto* m = point.add_metrics();
        m->set_name(id.first);
        m->set_label(id.second);
        m->set_value(a.count == 0 ? 0 : a.sum / a.count);
        m->set_min(a.min);
        m->set_max(a.max);
        m->set_count(a.count);
      }
      std::string blob;
      point.SerializeToString(&blob);
      batch.put(
          "metrics_hourly",
          store::Row{{"key", hkey}, {"at_ms", hour}, {"point", store::Blob{std::move(blob)}}});
    }
    // Hourly points past their span.
    const std::string hstop =
        metrics_key(node, monitor, hourly_cutoff, 0).substr(0, prefix.size() + 15);
    (void)s->scan_after("metrics_hourly", prefix, [&](const store::Row& row) {
      const std::string k = text_of(row, "key");
      if (k.compare(0, prefix.size(), prefix) != 0 || k >= hstop) return false;
      batch.erase("metrics_hourly", k);
      return true;
    });
    if (rolled >= options_.maintain_rows) break;
  }
  if (batch.empty()) return 0;
  hooks_.commit(batch, [rolled](Result<ha::Runner::Committed> r) {
    if (!r.ok()) {
      spdlog::error("metrics: retention pass not committed: {}", r.error().to_string());
    }
  });
  if (rolled > 0) spdlog::debug("metrics: {} results rolled up into hourly points", rolled);
  return rolled;
}

Result<duet::v1::ListAgentsResponse> AgentHub::list_agents() const {
  duet::v1::ListAgentsResponse resp;
  resp.set_node(options_.node_name);
  store::Store* s = hooks_.store();
  if (s == nullptr) return make_error(CommonErrc::kIo, "store not open yet");
  // The store's rows (every agent ever seen), with this master's live view on top.
  std::map<std::string, duet::v1::AgentInfo> out;
  auto scanned = s->scan("agents", [&](const store::Row& row) {
    duet::v1::AgentInfo info;
    info.set_node(text_of(row, "node"));
    info.set_state("disconnected");
    info.set_last_seen_ms(int_of(row, "last_seen_ms"));
    info.set_acked_up_to(static_cast<std::uint64_t>(int_of(row, "acked_up_to")));
    info.set_version(text_of(row, "version"));
    info.set_address(text_of(row, "address"));
    info.set_reachable(int_of(row, "reachable") != 0);
    info.set_outbox_dropped(static_cast<std::uint64_t>(int_of(row, "outbox_dropped")));
    out[info.node()] = std::move(info);
    return true;
  });
  if (!scanned.ok()) return scanned.error();
  for (const auto& [node, a] : agents_) {
    auto& info = out[node];
    info.set_node(node);
    info.set_state(a.link ? "connected" : "disconnected");
    info.set_manager(a.link ? options_.node_name : std::string());
    info.set_last_seen_ms(a.last_seen_ms);
    info.set_acked_up_to(a.stored);
    info.set_version(a.version);
    info.set_address(a.address);
    info.set_reachable(a.reachable);
    info.set_outbox_pending(a.outbox_pending);
    info.set_outbox_dropped(a.outbox_dropped);
    info.set_monitors(static_cast<std::uint32_t>(a.monitors));
  }
  for (auto& [node, info] : out) *resp.add_agents() = std::move(info);
  return resp;
}

void AgentHub::change(const std::string& what,
                      std::function<Result<store::WriteBatch>(std::string&)> plan,
                      duet::v1::MonitorChangeResponse* resp, Done done) {
  resp->set_node(options_.node_name);
  if (hooks_.store() == nullptr) {
    return done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
  }
  if (!acting_ || !hooks_.may_act()) {
    return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, hooks_.not_master_text()));
  }
  std::string action;
  auto batch = plan(action);
  if (!batch.ok()) {
    const bool missing = batch.error().message.rfind("no monitor", 0) == 0;
    return done(from_error(
        batch.error(), missing ? grpc::StatusCode::NOT_FOUND : grpc::StatusCode::INVALID_ARGUMENT));
  }
  resp->set_action(action);
  if (batch->empty()) return done(grpc::Status::OK);
  hooks_.commit(
      *batch, [this, resp, done = std::move(done), what, action](Result<ha::Runner::Committed> r) {
        if (!r.ok()) {
          done(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "commit failed, nothing changed: " + r.error().to_string()));
          return;
        }
        spdlog::info("monitors: {}: {} (LSN {})", what, action, r->lsn);
        resp->set_lsn(r->lsn);
        resp->set_replicated(r->replicated);
        reload();
        done(grpc::Status::OK);
      });
}

void AgentHub::put_monitor(const duet::v1::PutMonitorRequest& req,
                           duet::v1::MonitorChangeResponse* resp, Done done) {
  duet::v1::MonitorDef def = req.monitor();
  if (def.interval_s() == 0) def.set_interval_s(60);
  if (def.timeout_s() == 0) def.set_timeout_s(std::min<std::uint32_t>(10, def.interval_s()));
  if (def.runs_on().empty()) def.set_runs_on("agent");
  change(
      "put " + def.name(),
      [this, def,
       create_only = req.create_only()](std::string& action) mutable -> Result<store::WriteBatch> {
        DUET_TRY(monitors::validate_monitor(def));
        if (!def.node().empty() && repo_.nodes.count(def.node()) == 0) {
          return make_error(CommonErrc::kInvalidArgument,
                            "node: no node '" + def.node() + "' in the repository");
        }
        if (!def.scope().empty() && repo_.scopes.count(def.scope()) == 0) {
          return make_error(CommonErrc::kInvalidArgument,
                            "scope: no scope '" + def.scope() + "' in the repository");
        }
        store::WriteBatch batch;
        auto it = monitors_.find(def.name());
        if (it != monitors_.end()) {
          if (create_only) {
            return make_error(CommonErrc::kInvalidArgument,
                              "monitor '" + def.name() + "' exists (change it with apply)");
          }
          duet::v1::MonitorDef old = it->second.def;
          old.clear_updated_at_ms();
          old.clear_updated_by();
          if (monitors::canonical_bytes(old) == monitors::canonical_bytes(def)) {
            action = "unchanged";
            return batch;
          }
          action = "updated";
        } else {
          action = "created";
        }
        const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
        def.set_updated_at_ms(now_ms);
        def.set_updated_by(options_.node_name);
        std::string blob;
        def.SerializeToString(&blob);
        batch.put("monitors", store::Row{{"name", def.name()},
                                         {"definition", store::Blob{std::move(blob)}},
                                         {"updated_at_ms", now_ms}});
        return batch;
      },
      resp, std::move(done));
}

void AgentHub::remove_monitor(const std::string& name, duet::v1::MonitorChangeResponse* resp,
                              Done done) {
  change(
      "remove " + name,
      [this, name](std::string& action) -> Result<store::WriteBatch> {
        if (monitors_.count(name) == 0) {
          return make_error(CommonErrc::kInvalidArgument, "no monitor '" + name + "'");
        }
        store::WriteBatch batch;
        batch.erase("monitors", name);
        // Its status goes with it; its metrics stay until retention removes them.
        for (const auto& [key, st] : status_) {
          if (key.compare(0, name.size() + 1, name + kSep) == 0) batch.erase("monitor_status", key);
        }
        action = "removed";
        return batch;
      },
      resp, std::move(done));
}

void AgentHub::set_enabled(const std::string& name, bool enabled,
                           duet::v1::MonitorChangeResponse* resp, Done done) {
  change((enabled ? "enable " : "disable ") + name,
         [this, name, enabled](std::string& action) -> Result<store::WriteBatch> {
           auto it = monitors_.find(name);
           if (it == monitors_.end()) {
             return make_error(CommonErrc::kInvalidArgument, "no monitor '" + name + "'");
           }
           store::WriteBatch batch;
           if (it->second.def.enabled() == enabled) {
             action = "unchanged";
             return batch;
           }
           duet::v1::MonitorDef def = it->second.def;
           const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
           def.set_enabled(enabled);
           def.set_updated_at_ms(now_ms);
           def.set_updated_by(options_.node_name);
           std::string blob;
           def.SerializeToString(&blob);
           batch.put("monitors", store::Row{{"name", name},
                                            {"definition", store::Blob{std::move(blob)}},
                                            {"updated_at_ms", now_ms}});
           action = enabled ? "enabled" : "disabled";
           return batch;
         },
         resp, std::move(done));
}

Result<duet::v1::ListMonitorsResponse> AgentHub::list_monitors() const {
  store::Store* s = hooks_.store();
  if (s == nullptr) return make_error(CommonErrc::kIo, "store not open yet");
  duet::v1::ListMonitorsResponse resp;
  resp.set_node(options_.node_name);
  std::map<std::string, duet::v1::MonitorView> views;
  auto scanned = s->scan("monitors", [&](const store::Row& row) {
    duet::v1::MonitorView v;
    if (v.mutable_monitor()->ParseFromString(text_of(row, "definition"))) {
      views[v.monitor().name()] = std::move(v);
    }
    return true;
  });
  if (!scanned.ok()) return scanned.error();
  scanned = s->scan("monitor_status", [&](const store::Row& row) {
    auto it = views.find(text_of(row, "monitor"));
    if (it == views.end()) return true;
    auto* st = it->second.add_status();
    st->set_node(text_of(row, "node"));
    st->set_priority(text_of(row, "priority"));
    st->set_since_ms(int_of(row, "since_ms"));
    st->set_last_at_ms(int_of(row, "last_at_ms"));
    st->set_message(text_of(row, "message"));
    return true;
  });
  if (!scanned.ok()) return scanned.error();
  for (auto& [name, v] : views) *resp.add_monitors() = std::move(v);
  return resp;
}

Result<duet::v1::QueryMetricsResponse> AgentHub::query_metrics(
    const duet::v1::QueryMetricsRequest& req) const {
  store::Store* s = hooks_.store();
  if (s == nullptr) return make_error(CommonErrc::kIo, "store not open yet");
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  const std::int64_t since = req.since_ms() != 0 ? req.since_ms() : now_ms - 3'600'000;
  const std::int64_t until = req.until_ms() != 0 ? req.until_ms() : INT64_MAX;
  const std::uint32_t limit = req.limit() != 0 ? req.limit() : 10'000;
  const std::string prefix = req.node() + kSep + req.monitor() + kSep;
  duet::v1::QueryMetricsResponse resp;
  resp.set_node(options_.node_name);
  // Hourly points first (older than the raw span), then the raw results.
  {
    const std::string after =
        metrics_key(req.node(), req.monitor(), since / 3'600'000 * 3'600'000 - 1, 0)
            .substr(0, prefix.size() + 15);
    auto scanned = s->scan_after("metrics_hourly", after, [&](const store::Row& row) {
      const std::string key = text_of(row, "key");
      if (key.compare(0, prefix.size(), prefix) != 0) return false;
      if (int_of(row, "at_ms") > until) return false;
      duet::v1::MetricPoint p;
      if (p.ParseFromString(text_of(row, "point"))) *resp.add_points() = std::move(p);
      return static_cast<std::uint32_t>(resp.points_size()) < limit;
    });
    if (!scanned.ok()) return scanned.error();
  }
  // Keys above the one just before `since` in this series.
  const std::string after = metrics_key(req.node(), req.monitor(), since - 1, UINT64_MAX);
  auto scanned = s->scan_after("metrics", after, [&](const store::Row& row) {
    const std::string key = text_of(row, "key");
    if (key.compare(0, prefix.size(), prefix) != 0) return false;
    if (int_of(row, "at_ms") > until) return false;
    duet::v1::MetricPoint p;
    if (p.ParseFromString(text_of(row, "point"))) {
      p.set_resolution("raw");
      *resp.add_points() = std::move(p);
    }
    return static_cast<std::uint32_t>(resp.points_size()) < limit;
  });
  if (!scanned.ok()) return scanned.error();
  return resp;
}

namespace {
std::string token_hash(const std::string& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return hex(digest, sizeof digest);
}
}  // namespace

void AgentHub::enrol(const duet::v1::EnrolRequest& req, duet::v1::EnrolResponse* resp, Done done) {
  store::Store* s = hooks_.store();
  if (s == nullptr) return done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
  if (!acting_ || !hooks_.may_act()) {
    return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, hooks_.not_master_text()));
  }
  if (!options_.issuer) {
    return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                             "enrolment is not configured on this manager (agents.enrol)"));
  }
  // One answer for every kind of bad token, so a guess learns nothing.
  const grpc::Status refused(grpc::StatusCode::PERMISSION_DENIED,
                             "the enrolment token is not valid for this node (wrong, used or "
                             "expired): ask for a new one with 'duetctl agents token NODE'");
  const std::string hash = token_hash(req.token());
  auto row = s->get("agent_tokens", hash);
  if (!row.ok()) return done(grpc::Status(grpc::StatusCode::UNAVAILABLE, row.error().to_string()));
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  if (!row->has_value() || text_of(**row, "node") != req.node() ||
      int_of(**row, "expires_at_ms") < now_ms) {
    spdlog::warn("agents: enrolment refused for node '{}': the token is not valid for it",
                 req.node());
    return done(refused);
  }
  auto cert = sign_agent_csr(req.csr_pem(), req.node(), *options_.issuer);
  if (!cert.ok()) {
    return done(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, cert.error().message));
  }
  // The token is gone (replicated) before the certificate is handed out.
  store::WriteBatch batch;
  batch.erase("agent_tokens", hash);
  hooks_.commit(batch, [resp, cert = std::move(*cert), ca = options_.issuer->ca_cert_pem,
                        node = req.node(),
                        done = std::move(done)](Result<ha::Runner::Committed> r) {
    if (!r.ok()) {
      done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "commit failed: " + r.error().to_string()));
      return;
    }
    spdlog::info("agents: {} enrolled: certificate issued", node);
    resp->set_cert_pem(cert);
    resp->set_ca_pem(ca);
    done(grpc::Status::OK);
  });
}

void AgentHub::issue_token(const duet::v1::IssueTokenRequest& req,
                           duet::v1::IssueTokenResponse* resp, Done done) {
  if (hooks_.store() == nullptr) {
    return done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
  }
  if (!acting_ || !hooks_.may_act()) {
    return done(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, hooks_.not_master_text()));
  }
  if (auto why = repository::name_problem(req.node())) {
    return done(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node: " + *why));
  }
  unsigned char raw[24];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    return done(grpc::Status(grpc::StatusCode::INTERNAL, "no randomness for a token"));
  }
  const std::string token = hex(raw, sizeof raw);
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  const std::int64_t expires =
      now_ms + std::int64_t{req.valid_s() != 0 ? req.valid_s() : kDefaultTokenValidS} * 1000;
  store::WriteBatch batch;
  batch.put("agent_tokens", store::Row{{"hash", token_hash(token)},
                                       {"node", req.node()},
                                       {"expires_at_ms", expires},
                                       {"issued_at_ms", now_ms}});
  hooks_.commit(batch, [resp, token, expires, node = req.node(),
                        done = std::move(done)](Result<ha::Runner::Committed> r) {
    if (!r.ok()) {
      done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "commit failed: " + r.error().to_string()));
      return;
    }
    spdlog::info("agents: an enrolment token for {} was issued", node);  // never the token
    resp->set_token(token);
    resp->set_expires_at_ms(expires);
    done(grpc::Status::OK);
  });
}

}  // namespace duet::manager
