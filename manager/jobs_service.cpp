#include "manager/jobs_service.h"

#include <google/protobuf/util/message_differencer.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <map>
#include <set>

#include "common/caller_policy.h"
#include "common/errors.h"
#include "common/yaml_fields.h"
#include "jobs/definitions.h"
#include "manager/job_rows.h"
#include "manager/strand_call.h"
#include "store/row.h"

namespace duet::manager {
// What is stored now.
struct JobsStored {
  std::map<std::string, duet::v1::JobNetDef> nets;
  std::map<std::string, duet::v1::JobCalendarDef> calendars;
  std::map<std::string, std::uint32_t> queues, node_limits;
};

namespace {

using google::protobuf::util::MessageDifferencer;

std::string who(const grpc::CallbackServerContext* context, const std::string& fallback) {
  auto names = caller_names(*context);
  return names.empty() ? fallback : names.front();
}

grpc::Status status_of(const Error& e) {
  auto code = grpc::StatusCode::FAILED_PRECONDITION;
  if (e.code == make_error_code(CommonErrc::kInvalidArgument)) {
    code = grpc::StatusCode::INVALID_ARGUMENT;
  } else if (e.code == make_error_code(CommonErrc::kNotFound)) {
    code = grpc::StatusCode::NOT_FOUND;
  } else if (e.code == make_error_code(CommonErrc::kUnavailable)) {
    code = grpc::StatusCode::UNAVAILABLE;
  }
  return grpc::Status(code, e.message);
}

using Stored = JobsStored;

Stored load(store::Store& s) {
  Stored out;
  (void)s.scan("job_nets", [&](const store::Row& row) {
    duet::v1::JobNetDef d;
    if (d.ParseFromString(store::text_of(row, "definition"))) out.nets[d.root().name()] = d;
    return true;
  });
  (void)s.scan("job_calendars", [&](const store::Row& row) {
    duet::v1::JobCalendarDef d;
    if (d.ParseFromString(store::text_of(row, "definition"))) out.calendars[d.name()] = d;
    return true;
  });
  (void)s.scan("job_limits", [&](const store::Row& row) {
    const auto key = store::text_of(row, "key");
    const auto sep = key.find('\x1f');
    const auto n = static_cast<std::uint32_t>(store::int_of(row, "max_running"));
    if (sep == std::string::npos) return true;
    (key.substr(0, sep) == "queue" ? out.queues : out.node_limits)[key.substr(sep + 1)] = n;
    return true;
  });
  return out;
}

// The calendars and queues a file may name without defining them.
jobs::KnownNames known_names(const Stored& stored, bool prune) {
  jobs::KnownNames known;
  if (prune) return known;
  for (const auto& [name, d] : stored.calendars) known.calendars.insert(name);
  for (const auto& [name, d] : stored.queues) known.queues.insert(name);
  return known;
}

void change(duet::v1::ChangeResponse* resp, const std::string& kind, const std::string& name,
            const std::string& action, const std::vector<std::string>& fields = {}) {
  auto* c = resp->add_changes();
  c->set_kind(kind);
  c->set_name(name);
  c->set_action(action);
  for (const auto& f : fields) c->add_fields(f);
}

// Plans queues or node limits ("queue" / "node"): rows keyed "KIND\x1fNAME".
void plan_limits(const char* kind, const std::map<std::string, std::uint32_t>& want,
                 const std::map<std::string, std::uint32_t>& have, bool prune,
                 duet::v1::ChangeResponse* resp, store::WriteBatch& batch) {
  const std::string label = std::string(kind) == "queue" ? "queue" : "node_limit";
  for (const auto& [name, limit] : want) {
    auto it = have.find(name);
    if (it != have.end() && it->second == limit) {
      change(resp, label, name, "unchanged");
      continue;
    }
    change(resp, label, name, it == have.end() ? "created" : "updated",
           it == have.end() ? std::vector<std::string>{} : std::vector<std::string>{"limit"});
    batch.put("job_limits", store::Row{{"key", std::string(kind) + "\x1f" + name},
                                       {"max_running", static_cast<std::int64_t>(limit)}});
  }
  if (!prune) return;
  for (const auto& [name, limit] : have) {
    if (want.count(name) != 0) continue;
    change(resp, label, name, "removed");
    batch.erase("job_limits", std::string(kind) + "\x1f" + name);
  }
}

}  // namespace

JobsService::JobsService(boost::asio::any_io_executor strand, std::string node_name,
                         const Clock& clock, Hooks hooks)
    : strand_(std::move(strand)),
      node_name_(std::move(node_name)),
      clock_(clock),
      hooks_(std::move(hooks)),
      call_{strand_, hooks_.store, hooks_.may_act, hooks_.not_master} {}

grpc::ServerUnaryReactor* JobsService::on_strand(
    grpc::CallbackServerContext* context, bool write,
    std::function<void(store::Store&, std::function<void(grpc::Status)>)> fn) {
  return manager::on_strand(call_, context, write, std::move(fn));
}

grpc::ServerUnaryReactor* JobsService::on_runner(
    grpc::CallbackServerContext* context,
    std::function<void(JobRunner&, std::function<void(grpc::Status)>)> fn) {
  return on_strand(context, true, [this, fn = std::move(fn)](store::Store&, auto finish) {
    JobRunner* j = hooks_.jobs ? hooks_.jobs() : nullptr;
    if (j == nullptr) {
      finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "jobs not ready"));
      return;
    }
    fn(*j, std::move(finish));
  });
}

grpc::ServerUnaryReactor* JobsService::Apply(grpc::CallbackServerContext* context,
                                             const duet::v1::ApplyJobsRequest* request,
                                             duet::v1::ChangeResponse* response) {
  const std::string by = who(context, node_name_);
  const bool write = !request->dry_run();
  return on_strand(
      context, write, [this, request, response, by, write](store::Store& s, auto finish) {
        // The YAML is parsed off the strand: a large file takes a fifth of a
        // second, which the strand's other work (heartbeats, results) must not wait.
        auto known = known_names(load(s), request->prune());
        boost::asio::post(parser_, [this, request, response, by, write, known = std::move(known),
                                    finish = std::move(finish)]() mutable {
          auto file = jobs::parse_jobs_file(request->yaml(), known);
          continue_on_strand(
              call_, write, std::move(finish),
              [this, request, response, by, known = std::move(known), file = std::move(file)](
                  store::Store& s, auto finish) mutable {
                const Stored stored = load(s);
                if (auto now = known_names(stored, request->prune()); now != known) {
                  file = jobs::parse_jobs_file(request->yaml(), now);  // changed meanwhile
                }
                apply_file(stored, *request, response, by, std::move(file), std::move(finish));
              });
        });
      });
}

void JobsService::apply_file(const JobsStored& stored, const duet::v1::ApplyJobsRequest& req,
                             duet::v1::ChangeResponse* response, const std::string& by,
                             jobs::JobsFile file, std::function<void(grpc::Status)> finish) {
  const auto* request = &req;
  response->set_node(node_name_);
  response->set_dry_run(request->dry_run());
  if (!file.problems.empty()) {
    finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        format_file_problems(request->file(), file.problems)));
    return;
  }
  const std::int64_t now_ms = to_unix_ms(clock_.wall_now());
  store::WriteBatch batch;
  // Calendars.
  std::set<std::string> in_file;
  for (const auto& c : file.calendars) {
    in_file.insert(c.name());
    auto it = stored.calendars.find(c.name());
    if (it != stored.calendars.end() && MessageDifferencer::Equals(it->second, c)) {
      change(response, "calendar", c.name(), "unchanged");
      continue;
    }
    change(response, "calendar", c.name(), it == stored.calendars.end() ? "created" : "updated");
    batch.put("job_calendars", store::Row{{"name", c.name()}, {"definition", job_blob(c)}});
  }
  if (request->prune()) {
    for (const auto& [name, c] : stored.calendars) {
      if (in_file.count(name) != 0) continue;
      change(response, "calendar", name, "removed");
      batch.erase("job_calendars", name);
    }
  }
  // Queues and node limits.
  std::map<std::string, std::uint32_t> queues, node_limits;
  for (const auto& q : file.queues) queues[q.name()] = q.limit();
  for (const auto& n : file.node_limits) node_limits[n.node()] = n.limit();
  if (!request->prune()) {
    // Without prune, what the file does not name stays as it is.
    for (const auto& [k, v] : stored.queues) queues.emplace(k, v);
    for (const auto& [k, v] : stored.node_limits) node_limits.emplace(k, v);
  }
  plan_limits("queue", queues, stored.queues, request->prune(), response, batch);
  plan_limits("node", node_limits, stored.node_limits, request->prune(), response, batch);
  // Nets: a change is a new version; the versions sessions run stay.
  in_file.clear();
  for (auto net : file.nets) {
    const std::string name = net.root().name();
    in_file.insert(name);
    auto it = stored.nets.find(name);
    std::vector<std::string> fields;
    if (it != stored.nets.end()) {
      auto have = jobs::with_defaults(it->second);
      have.set_enabled(it->second.enabled());
      fields = jobs::changed_fields(net, have);
      if (fields.empty()) {
        change(response, "jobnet", name, "unchanged");
        continue;
      }
    }
    change(response, "jobnet", name, it == stored.nets.end() ? "created" : "updated", fields);
    net.set_version(it == stored.nets.end() ? 1 : it->second.version() + 1);
    net.set_updated_at_ms(now_ms);
    net.set_updated_by(by);
    batch.put("job_nets", store::Row{{"name", name},
                                     {"version", static_cast<std::int64_t>(net.version())},
                                     {"definition", job_blob(net)},
                                     {"updated_at_ms", now_ms}});
    batch.put("job_net_versions", store::Row{{"key", job_version_key(name, net.version())},
                                             {"definition", job_blob(net)}});
  }
  if (request->prune()) {
    for (const auto& [name, n] : stored.nets) {
      if (in_file.count(name) != 0) continue;
      change(response, "jobnet", name, "removed");
      batch.erase("job_nets", name);
    }
  }
  commit_definitions(
      hooks_.commit, batch, request->dry_run(), response, "jobs",
      [this] {
        if (JobRunner* j = hooks_.jobs ? hooks_.jobs() : nullptr) j->reload();
      },
      std::move(finish));
}

grpc::ServerUnaryReactor* JobsService::Definitions(grpc::CallbackServerContext* context,
                                                   const duet::v1::JobDefsRequest*,
                                                   duet::v1::JobDefsResponse* response) {
  return on_strand(context, false, [this, response](store::Store& s, auto finish) {
    response->set_node(node_name_);
    const Stored stored = load(s);
    std::vector<duet::v1::JobNetDef> nets;
    std::vector<duet::v1::JobCalendarDef> calendars;
    std::vector<duet::v1::JobQueueDef> queues;
    std::vector<duet::v1::JobNodeLimit> limits;
    for (const auto& [n, d] : stored.nets) {
      nets.push_back(d);
      *response->add_nets() = d;
    }
    for (const auto& [n, d] : stored.calendars) {
      calendars.push_back(d);
      *response->add_calendars() = d;
    }
    for (const auto& [n, l] : stored.queues) {
      duet::v1::JobQueueDef q;
      q.set_name(n);
      q.set_limit(l);
      queues.push_back(q);
      *response->add_queues() = q;
    }
    for (const auto& [n, l] : stored.node_limits) {
      duet::v1::JobNodeLimit q;
      q.set_node(n);
      q.set_limit(l);
      limits.push_back(q);
      *response->add_node_limits() = q;
    }
    response->set_yaml(jobs::jobs_section(nets, calendars, queues, limits));
    finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* JobsService::Start(grpc::CallbackServerContext* context,
                                             const duet::v1::StartJobRequest* request,
                                             duet::v1::StartJobResponse* response) {
  const std::string by = who(context, "an operator");
  return on_runner(context, [request, response, by](JobRunner& j, auto finish) {
    std::map<std::string, std::string> params(request->params().begin(), request->params().end());
    j.start_session(request->net(), std::move(params), request->business_day(), "manual by " + by,
                    [response, finish](Result<std::pair<std::uint64_t, std::uint64_t>> r) {
                      if (!r.ok()) {
                        finish(status_of(r.error()));
                        return;
                      }
                      response->set_session(r->first);
                      response->set_lsn(r->second);
                      finish(grpc::Status::OK);
                    });
  });
}

grpc::ServerUnaryReactor* JobsService::Sessions(grpc::CallbackServerContext* context,
                                                const duet::v1::ListSessionsRequest* request,
                                                duet::v1::ListSessionsResponse* response) {
  return on_strand(context, false, [this, request, response](store::Store& s, auto finish) {
    response->set_node(node_name_);
    const std::uint32_t limit = request->limit() == 0 ? 100 : request->limit();
    auto scanned = s.scan_newest_first("job_sessions", [&](const store::Row& row) {
      if (!request->net().empty() && store::text_of(row, "net") != request->net()) return true;
      if (!request->state().empty() && store::text_of(row, "state") != request->state()) {
        return true;
      }
      duet::v1::JobSessionInfo info;
      if (info.ParseFromString(store::text_of(row, "info"))) *response->add_sessions() = info;
      return static_cast<std::uint32_t>(response->sessions_size()) < limit;
    });
    if (!scanned.ok()) {
      finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, scanned.error().to_string()));
      return;
    }
    finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* JobsService::Show(grpc::CallbackServerContext* context,
                                            const duet::v1::ShowSessionRequest* request,
                                            duet::v1::ShowSessionResponse* response) {
  return on_strand(context, false, [this, request, response](store::Store& s, auto finish) {
    auto row = s.get("job_sessions", static_cast<std::int64_t>(request->session()));
    if (!row.ok() || !row->has_value()) {
      finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "no session " + std::to_string(request->session())));
      return;
    }
    auto* info = response->mutable_session();
    info->ParseFromString(store::text_of(**row, "info"));
    JobRunner* j = hooks_.jobs ? hooks_.jobs() : nullptr;
    auto plan = j != nullptr ? j->plan(info->net(), info->version()) : nullptr;
    std::map<std::uint32_t, duet::v1::JobUnitState> states;
    const std::string prefix = job_units_prefix(request->session());
    (void)s.scan_after("job_units", prefix, [&](const store::Row& r) {
      if (store::text_of(r, "key").rfind(prefix, 0) != 0) return false;
      duet::v1::JobUnitState st;
      if (st.ParseFromString(store::text_of(r, "unit"))) states[st.index()] = std::move(st);
      return true;
    });
    for (auto& [index, st] : states) {
      auto* v = response->add_units();
      if (plan != nullptr && index < plan->units().size()) {
        v->set_path(plan->unit(index).path);
        v->set_kind(plan->unit(index).kind);
      }
      *v->mutable_state() = std::move(st);
    }
    // The session's operations, newest first among the latest 10,000.
    std::size_t looked = 0;
    (void)s.scan_newest_first("job_operations", [&](const store::Row& r) {
      if (static_cast<std::uint64_t>(store::int_of(r, "session")) == request->session()) {
        duet::v1::JobOperation op;
        if (op.ParseFromString(store::text_of(r, "operation"))) *response->add_operations() = op;
      }
      return ++looked < 10'000;
    });
    finish(grpc::Status::OK);
  });
}

grpc::ServerUnaryReactor* JobsService::Operate(grpc::CallbackServerContext* context,
                                               const duet::v1::JobOperationRequest* request,
                                               duet::v1::JobOperationResponse* response) {
  const std::string by = who(context, "an operator");
  return on_runner(context, [request, response, by](JobRunner& j, auto finish) {
    jobs::Operation op;
    op.session = request->session();
    op.unit = request->unit();
    op.op = request->op();
    op.status = request->status();
    op.value = request->value();
    op.rerun = request->rerun().empty() ? "from" : request->rerun();
    op.by = by;
    j.operate(std::move(op), [response, finish](Result<std::uint64_t> r) {
      if (!r.ok()) {
        finish(status_of(r.error()));
        return;
      }
      response->set_lsn(*r);
      finish(grpc::Status::OK);
    });
  });
}

}  // namespace duet::manager
