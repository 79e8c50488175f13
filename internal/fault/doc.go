// Package fault holds the fault-injection seams of the crash and power-loss
// tests. Built without the "faults" tag every function is an empty one the
// compiler inlines away; built with it (go build -tags faults), the
// environment arms them:
//
//	STREAMHOUSE_CRASH_AT=name[:n]  the process kills itself with SIGKILL the
//	                               n-th time (default 1) it passes Crash(name)
//	STREAMHOUSE_SYNC_LOG=path      every successful fsync is appended to path
//	                               (see Synced and DirSynced)
//
// Crash points, in the order a write meets them:
//
//	append-before-sync  a batch is written to its segment, not yet fsynced
//	sync-before-ack     a group commit's fsyncs are done, nothing published
//	roll                a new segment file exists, the old one's indexes not written
//	checkpoint          a checkpoint's temporary file is written, not renamed
//	retention           the new log start offset is checkpointed, segments not removed
//	txn-marker          a transaction's end is decided and stored, one marker
//	                    written (the n-th marker of the process), not the rest
//	catalog-answer      an OffsetCommit, EndTxn or CreateTopics succeeded in the
//	                    catalog, its answer not sent
//
// The sync log has one line per fsync, taken before the fsync and written
// (O_APPEND) after it returned:
//
//	file <path> <size>     a file was fsynced; it held size bytes before
//	dir <path> <name>...   a directory was fsynced; it held these entries before
//
// A power-loss test replays it: every file is cut back to its last synced
// size and every entry missing from its directory's last synced listing is
// dropped.
package fault
