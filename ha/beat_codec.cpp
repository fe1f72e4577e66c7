#include "ha/beat_codec.h"

namespace duet::ha {

duet::v1::Role to_proto(Role role) {
  switch (role) {
    case Role::kSyncing:
      return duet::v1::ROLE_SYNCING;
    case Role::kStandby:
      return duet::v1::ROLE_STANDBY;
    case Role::kMaster:
      return duet::v1::ROLE_MASTER;
    case Role::kFenced:
      return duet::v1::ROLE_FENCED;
  }
  return duet::v1::ROLE_UNSPECIFIED;
}

Role from_proto(duet::v1::Role role) {
  switch (role) {
    case duet::v1::ROLE_STANDBY:
      return Role::kStandby;
    case duet::v1::ROLE_MASTER:
      return Role::kMaster;
    case duet::v1::ROLE_FENCED:
      return Role::kFenced;
    default:
      return Role::kSyncing;
  }
}

duet::v1::Beat to_proto(const Beat& b) {
  duet::v1::Beat p;
  p.set_from(b.from);
  p.set_role(to_proto(b.role));
  p.set_epoch(b.epoch);
  p.set_last_epoch(b.position.last_epoch);
  p.set_last_lsn(b.position.last_lsn);
  p.set_eligible(b.healthy);
  p.set_acting(b.acting);
  p.set_priority(b.priority);
  p.set_incarnation(b.incarnation);
  p.set_seq(b.seq);
  p.set_echo_incarnation(b.echo_incarnation);
  p.set_echo_seq(b.echo_seq);
  p.set_running_alone(b.alone);
  if (b.timing) {
    p.set_interval_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(b.timing->interval).count());
    p.set_timeout_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(b.timing->timeout).count());
  }
  return p;
}

Beat from_proto(const duet::v1::Beat& p) {
  Beat b;
  b.from = p.from();
  b.role = from_proto(p.role());
  b.epoch = p.epoch();
  b.position = {p.last_epoch(), p.last_lsn()};
  b.healthy = p.eligible();
  b.acting = p.acting();
  b.priority = p.priority();
  b.incarnation = p.incarnation();
  b.seq = p.seq();
  b.echo_incarnation = p.echo_incarnation();
  b.echo_seq = p.echo_seq();
  b.alone = p.running_alone();
  // Only a sane advertisement is believed (the sender checked the same bounds).
  if (p.interval_ms() > 0 && p.timeout_ms() >= 3 * p.interval_ms()) {
    b.timing = Timing{std::chrono::milliseconds(p.interval_ms()),
                      std::chrono::milliseconds(p.timeout_ms())};
  }
  return b;
}

}  // namespace duet::ha
