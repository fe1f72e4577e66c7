#pragma once

// ha::Beat <-> duet.v1.Beat (the heartbeat on the wire).

#include "duet/v1/peer.pb.h"
#include "ha/role_machine.h"

namespace duet::ha {

duet::v1::Role to_proto(Role role);
Role from_proto(duet::v1::Role role);
duet::v1::Beat to_proto(const Beat& beat);
Beat from_proto(const duet::v1::Beat& beat);

}  // namespace duet::ha
