package broker

import "github.com/twmb/franz-go/pkg/kmsg"

// handlerTable maps each API key to its handler. It must list exactly the
// keys of protocol.Implemented; New checks that it does.
func (s *Server) handlerTable() map[int16]handler {
	return map[int16]handler{
		int16(kmsg.Produce):                    s.handleProduce,
		int16(kmsg.Fetch):                      s.handleFetch,
		int16(kmsg.ListOffsets):                s.handleListOffsets,
		int16(kmsg.Metadata):                   s.handleMetadata,
		int16(kmsg.ApiVersions):                s.handleApiVersions,
		int16(kmsg.CreateTopics):               s.handleCreateTopics,
		int16(kmsg.DeleteTopics):               s.handleDeleteTopics,
		int16(kmsg.DescribeConfigs):            s.handleDescribeConfigs,
		int16(kmsg.DeleteRecords):              s.handleDeleteRecords,
		int16(kmsg.FindCoordinator):            s.handleFindCoordinator,
		int16(kmsg.JoinGroup):                  s.handleJoinGroup,
		int16(kmsg.SyncGroup):                  s.handleSyncGroup,
		int16(kmsg.Heartbeat):                  s.handleHeartbeat,
		int16(kmsg.LeaveGroup):                 s.handleLeaveGroup,
		int16(kmsg.OffsetCommit):               s.handleOffsetCommit,
		int16(kmsg.OffsetFetch):                s.handleOffsetFetch,
		int16(kmsg.OffsetDelete):               s.handleOffsetDelete,
		int16(kmsg.DescribeGroups):             s.handleDescribeGroups,
		int16(kmsg.ListGroups):                 s.handleListGroups,
		int16(kmsg.DeleteGroups):               s.handleDeleteGroups,
		int16(kmsg.ConsumerGroupHeartbeat):     s.handleConsumerGroupHeartbeat,
		int16(kmsg.ConsumerGroupDescribe):      s.handleConsumerGroupDescribe,
		int16(kmsg.InitProducerID):             s.handleInitProducerID,
		int16(kmsg.AddPartitionsToTxn):         s.handleAddPartitionsToTxn,
		int16(kmsg.AddOffsetsToTxn):            s.handleAddOffsetsToTxn,
		int16(kmsg.EndTxn):                     s.handleEndTxn,
		int16(kmsg.TxnOffsetCommit):            s.handleTxnOffsetCommit,
		int16(kmsg.DescribeProducers):          s.handleDescribeProducers,
		int16(kmsg.DescribeTransactions):       s.handleDescribeTransactions,
		int16(kmsg.ListTransactions):           s.handleListTransactions,
		int16(kmsg.CreatePartitions):           s.handleCreatePartitions,
		int16(kmsg.DescribeCluster):            s.handleDescribeCluster,
		int16(kmsg.OffsetForLeaderEpoch):       s.handleOffsetForLeaderEpoch,
		int16(kmsg.ElectLeaders):               s.handleElectLeaders,
		int16(kmsg.AlterPartitionAssignments):  s.handleAlterPartitionAssignments,
		int16(kmsg.ListPartitionReassignments): s.handleListPartitionReassignments,
		int16(kmsg.DescribeLogDirs):            s.handleDescribeLogDirs,
		int16(kmsg.AlterConfigs):               s.handleAlterConfigs,
		int16(kmsg.IncrementalAlterConfigs):    s.handleIncrementalAlterConfigs,
		int16(kmsg.DescribeClientQuotas):       s.handleDescribeClientQuotas,
		int16(kmsg.AlterClientQuotas):          s.handleAlterClientQuotas,
		// Security (sasl.go, acls.go, scram.go).
		int16(kmsg.SASLHandshake):                s.handleSaslHandshake,
		int16(kmsg.SASLAuthenticate):             s.handleSaslAuthenticate,
		int16(kmsg.DescribeACLs):                 s.handleDescribeAcls,
		int16(kmsg.CreateACLs):                   s.handleCreateAcls,
		int16(kmsg.DeleteACLs):                   s.handleDeleteAcls,
		int16(kmsg.DescribeUserSCRAMCredentials): s.handleDescribeUserScramCredentials,
		int16(kmsg.AlterUserSCRAMCredentials):    s.handleAlterUserScramCredentials,
		// Delegation tokens (delegationtoken.go).
		int16(kmsg.CreateDelegationToken):   s.handleCreateDelegationToken,
		int16(kmsg.RenewDelegationToken):    s.handleRenewDelegationToken,
		int16(kmsg.ExpireDelegationToken):   s.handleExpireDelegationToken,
		int16(kmsg.DescribeDelegationToken): s.handleDescribeDelegationToken,

		// Share groups (share.go).
		int16(kmsg.ShareGroupHeartbeat):       s.handleShareGroupHeartbeat,
		int16(kmsg.ShareGroupDescribe):        s.handleShareGroupDescribe,
		int16(kmsg.ShareFetch):                s.handleShareFetch,
		int16(kmsg.ShareAcknowledge):          s.handleShareAcknowledge,
		int16(kmsg.DescribeShareGroupOffsets): s.handleDescribeShareGroupOffsets,
		int16(kmsg.AlterShareGroupOffsets):    s.handleAlterShareGroupOffsets,
		int16(kmsg.DeleteShareGroupOffsets):   s.handleDeleteShareGroupOffsets,
	}
}
