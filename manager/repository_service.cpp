#include "manager/repository_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <memory>

#include "manager/repository_proto.h"
#include "manager/strand_call.h"
#include "repository/export.h"
#include "repository/store_rows.h"

namespace duet::manager {
namespace {

// "2 created, 1 updated, 3 unchanged" (the actions that occur).
std::string summary(const repository::Plan& plan) {
  std::string out;
  for (auto action : {repository::Action::kCreate, repository::Action::kUpdate,
                      repository::Action::kRemove, repository::Action::kUnchanged}) {
    if (const auto n = plan.count(action); n != 0) {
      out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + action_name(action);
    }
  }
  return out.empty() ? "nothing" : out;
}

}  // namespace

RepositoryService::RepositoryService(boost::asio::any_io_executor strand, std::string node_name,
                                     const Clock& clock, Hooks hooks)
    : strand_(std::move(strand)),
      node_name_(std::move(node_name)),
      clock_(clock),
      hooks_(std::move(hooks)) {}

grpc::ServerUnaryReactor* RepositoryService::read(grpc::CallbackServerContext* context, Read fn) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, fn = std::move(fn)] {
    store::Store* store = hooks_.store();
    if (store == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    auto state = repository::load_state(*store);
    if (!state.ok()) {
      reactor->Finish(to_grpc(state.error()));
      return;
    }
    // A listing or an export without some rows would mislead (an export
    // applied elsewhere would lose them): refuse, naming them.
    if (auto damage = repository::check_damage(*state); !damage.ok()) {
      spdlog::error("repository: {}", damage.error().message);
      reactor->Finish(to_grpc(damage.error()));
      return;
    }
    reactor->Finish(fn(*state, *store));
  });
  return reactor;
}

grpc::ServerUnaryReactor* RepositoryService::change(grpc::CallbackServerContext* context,
                                                    duet::v1::ChangeResponse* response,
                                                    bool dry_run, std::string what,
                                                    Planner planner) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  boost::asio::post(strand_, [this, reactor, response, dry_run, what = std::move(what),
                              planner = std::move(planner)] {
    response->set_node(node_name_);
    response->set_dry_run(dry_run);
    store::Store* store = hooks_.store();
    if (store == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "store not open yet"));
      return;
    }
    // A dry run writes nothing, so any node may plan against its own copy.
    if (!dry_run && !hooks_.may_act()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, hooks_.not_master()));
      return;
    }
    auto state = repository::load_state(*store);
    if (!state.ok()) {
      reactor->Finish(to_grpc(state.error()));
      return;
    }
    auto plan = planner(*state);
    if (!plan.ok()) {
      reactor->Finish(to_grpc(plan.error()));
      return;
    }
    add_changes(*plan, response);
    if (dry_run || !plan->writes()) {
      reactor->Finish(grpc::Status::OK);
      return;
    }
    const repository::Stamp stamp{to_unix_ms(clock_.wall_now()), node_name_};
    commit_change(
        hooks_.commit, repository::to_batch(*plan, stamp), response,
        [what, done = summary(*plan)](const ha::Runner::Committed& c) {
          spdlog::info("repository: {}: {} (LSN {}, {})", what, done, c.lsn,
                       c.replicated ? "replicated" : "not replicated");
        },
        [reactor](grpc::Status st) { reactor->Finish(std::move(st)); });
  });
  return reactor;
}

grpc::ServerUnaryReactor* RepositoryService::ListNodes(grpc::CallbackServerContext* context,
                                                       const duet::v1::ListNodesRequest* request,
                                                       duet::v1::ListNodesResponse* response) {
  return read(
      context, [this, request, response](const repository::State& state, store::Store& store) {
        response->set_node(node_name_);
        response->set_applied_lsn(store.last_lsn());
        std::vector<std::string> names;
        if (request->scope().empty()) {
          for (const auto& [name, n] : state.nodes) names.push_back(name);
        } else if (state.scopes.count(request->scope()) == 0) {
          return grpc::Status(grpc::StatusCode::NOT_FOUND, "no scope '" + request->scope() + "'");
        } else {
          names = state.nodes_within(request->scope());
        }
        auto scopes = state.scopes_by_node();
        for (const auto& name : names) {
          auto it = state.nodes.find(name);
          if (it == state.nodes.end()) continue;  // a membership whose node row is damaged
          *response->add_nodes() = node_to_proto(it->second, scopes[name]);
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* RepositoryService::ListScopes(grpc::CallbackServerContext* context,
                                                        const duet::v1::ListScopesRequest*,
                                                        duet::v1::ListScopesResponse* response) {
  return read(context, [this, response](const repository::State& state, store::Store& store) {
    response->set_node(node_name_);
    response->set_applied_lsn(store.last_lsn());
    std::map<std::string, int> counts;
    for (const auto& m : state.members) ++counts[m.scope];
    for (const auto& entry : repository::tree_order(state)) {
      *response->add_scopes() =
          scope_to_proto(*entry.scope, entry.depth, counts[entry.scope->name]);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* RepositoryService::Export(grpc::CallbackServerContext* context,
                                                    const duet::v1::ExportRequest*,
                                                    duet::v1::ExportResponse* response) {
  return read(context, [this, response](const repository::State& state, store::Store& store) {
    response->set_node(node_name_);
    response->set_applied_lsn(store.last_lsn());
    response->set_yaml(repository::export_yaml(
        state, "Duet repository, exported from " + node_name_ + " at LSN " +
                   std::to_string(store.last_lsn()) + ".\nApply it with: duetctl apply -f FILE"));
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* RepositoryService::AddNode(grpc::CallbackServerContext* context,
                                                     const duet::v1::AddNodeRequest* request,
                                                     duet::v1::ChangeResponse* response) {
  return change(context, response, false, "nodes add " + request->node().name(),
                [request](const repository::State& state) {
                  return repository::plan_add(state, document_of(request->node()));
                });
}

grpc::ServerUnaryReactor* RepositoryService::AddScope(grpc::CallbackServerContext* context,
                                                      const duet::v1::AddScopeRequest* request,
                                                      duet::v1::ChangeResponse* response) {
  return change(context, response, false, "scopes add " + request->scope().name(),
                [request](const repository::State& state) {
                  return repository::plan_add(state, document_of(request->scope()));
                });
}

grpc::ServerUnaryReactor* RepositoryService::RemoveNode(grpc::CallbackServerContext* context,
                                                        const duet::v1::RemoveRequest* request,
                                                        duet::v1::ChangeResponse* response) {
  return change(context, response, false, "nodes remove " + request->name(),
                [request](const repository::State& state) {
                  return repository::plan_remove_node(state, request->name());
                });
}

grpc::ServerUnaryReactor* RepositoryService::RemoveScope(grpc::CallbackServerContext* context,
                                                         const duet::v1::RemoveRequest* request,
                                                         duet::v1::ChangeResponse* response) {
  return change(context, response, false, "scopes remove " + request->name(),
                [request](const repository::State& state) {
                  return repository::plan_remove_scope(state, request->name());
                });
}

grpc::ServerUnaryReactor* RepositoryService::Apply(grpc::CallbackServerContext* context,
                                                   const duet::v1::ApplyRequest* request,
                                                   duet::v1::ChangeResponse* response) {
  // Parsed here, on the gRPC thread (CPU only, nothing shared): a large file
  // takes a while to parse and must not hold up the strand, which also runs
  // the heartbeats.
  auto doc = std::make_shared<repository::Document>();
  doc->file = request->file().empty() ? "(document)" : request->file();
  auto problems = std::make_shared<std::vector<repository::Problem>>(
      repository::parse_into(request->yaml(), *doc));
  return change(context, response, request->dry_run(), "apply " + doc->file,
                [doc, problems](const repository::State& state) {
                  return repository::plan_apply(state, std::move(*doc), std::move(*problems));
                });
}

}  // namespace duet::manager
