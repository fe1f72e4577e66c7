#pragma once

// Journal records and snapshot rows <-> their wire form (duet.v1). Pure
// functions; a malformed message from the network comes back as an error.

#include "common/result.h"
#include "duet/v1/journal.pb.h"
#include "store/journal_record.h"
#include "store/row.h"

namespace duet::ha {

duet::v1::JournalRecord record_to_proto(const store::JournalRecord& record);
Result<store::JournalRecord> record_from_proto(const duet::v1::JournalRecord& record);

duet::v1::Row row_to_proto(const store::Row& row);
Result<store::Row> row_from_proto(const duet::v1::Row& row);

}  // namespace duet::ha
