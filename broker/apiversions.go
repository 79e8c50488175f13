package broker

// ApiVersions: v0-v5.
//
// The answer is generated from protocol.Implemented, so only versions with a
// handler are advertised. A request of a version above ours never reaches
// here: the connection answers it in the v0 format with UNSUPPORTED_VERSION
// and our versions (KIP-511), so the client retries with one we serve.
//
// v3+ carries the client's software name and version (validated with Kafka's
// pattern, INVALID_REQUEST otherwise); they are kept for logs. v5 (KIP-1242)
// carries the cluster and node the client believes it reached:
// REBOOTSTRAP_REQUIRED when either is wrong, INVALID_REQUEST when only one
// is set.
//
// v3+ advertises one feature, transaction.version, supported 0-2 and
// finalized at 2: clients that know it use KIP-890 part 2 transactions
// (transactions.go); at 1 in the cluster mode (txn_remote.go). Others (metadata.version, group.version) are not
// advertised.

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// softwarePattern is Kafka's rule for client software names and versions.
var softwarePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (s *Server) handleApiVersions(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 {
		if !softwarePattern.MatchString(req.ClientSoftwareName) || !softwarePattern.MatchString(req.ClientSoftwareVersion) {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		r.conn.clientSoftware = req.ClientSoftwareName + "/" + req.ClientSoftwareVersion
	}
	if req.Version >= 5 {
		switch {
		case (req.ClusterID == nil) != (req.NodeID < 0):
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		case req.ClusterID != nil && (*req.ClusterID != s.clusterID || req.NodeID != s.nodeID):
			resp.ErrorCode = kerr.RebootstrapRequired.Code
			return resp, nil
		}
	}
	s.table.FillApiVersions(resp)
	if req.Version >= 3 {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, 2
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		level := int16(2)
		if s.clustered() {
			// A produce cannot add its partition to a transaction
			// another broker coordinates (txn_remote.go): clients
			// add partitions with AddPartitionsToTxn.
			level = 1
		}
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", level, level
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		resp.FinalizedFeaturesEpoch = 1
	}
	return resp, nil
}
