#include "ha/journal_codec.h"

#include "common/errors.h"

namespace duet::ha {

duet::v1::JournalRecord record_to_proto(const store::JournalRecord& r) {
  duet::v1::JournalRecord pb;
  pb.set_lsn(r.lsn);
  pb.set_epoch(r.epoch);
  pb.set_table(r.table);
  pb.set_op(r.op == store::JournalOp::kDelete       ? duet::v1::JOURNAL_OP_DELETE
            : r.op == store::JournalOp::kUpsertRows ? duet::v1::JOURNAL_OP_UPSERT_ROWS
                                                    : duet::v1::JOURNAL_OP_UPSERT);
  pb.set_key(r.key);
  pb.set_payload(r.payload);
  pb.set_committed_at_ms(r.committed_at_ms);
  return pb;
}

Result<store::JournalRecord> record_from_proto(const duet::v1::JournalRecord& pb) {
  store::JournalRecord r;
  r.lsn = pb.lsn();
  r.epoch = pb.epoch();
  r.table = pb.table();
  switch (pb.op()) {
    case duet::v1::JOURNAL_OP_UPSERT:
      r.op = store::JournalOp::kUpsert;
      break;
    case duet::v1::JOURNAL_OP_DELETE:
      r.op = store::JournalOp::kDelete;
      break;
    case duet::v1::JOURNAL_OP_UPSERT_ROWS:
      r.op = store::JournalOp::kUpsertRows;
      break;
    default:
      return make_error(CommonErrc::kInvalidArgument,
                        "journal record at LSN " + std::to_string(pb.lsn()) + " has no valid op");
  }
  r.key = pb.key();
  r.payload = pb.payload();
  r.committed_at_ms = pb.committed_at_ms();
  return r;
}

duet::v1::Row row_to_proto(const store::Row& row) {
  duet::v1::Row pb;
  pb.ParseFromString(store::encode_row(row));
  return pb;
}

Result<store::Row> row_from_proto(const duet::v1::Row& row) {
  return store::decode_row(row.SerializeAsString());
}

}  // namespace duet::ha
