package broker

// CreateAcls, DescribeAcls, DeleteAcls: v1-v3 (v0, without pattern types,
// predates Kafka 2.0 and is not served).
//
// ACLs live in the catalog; the broker decides from an index of them
// (auth.Authorizer) that each change replaces whole after the catalog has
// stored it, so a change applies to the next request of every connection.
// Without an authorizer (authorizer.class.name unset) the three answer
// SECURITY_DISABLED, as Kafka does. New bindings are validated as Kafka's
// controller validates them (INVALID_REQUEST with its message); filters
// with an UNKNOWN value are INVALID_REQUEST too. Who may call them is in
// the authorization table (ALTER or DESCRIBE on the cluster).
//
// In a cluster of brokers sharing a catalog, a change made through another
// broker reaches this one through the catalog's change feed (follow.go):
// each ACL change is a ChangeACLs, on which every broker reads the ACLs
// again.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/meta"
)

// loadACLs reads every ACL from the catalog into the authorizer's index.
func (s *Server) loadACLs(ctx context.Context) error {
	if s.cfg.Authorizer == nil {
		return nil
	}
	stored, err := s.cfg.Catalog.ACLs(ctx)
	if err != nil {
		return fmt.Errorf("broker: acls: %w", err)
	}
	acls := make([]auth.ACL, len(stored))
	for i, a := range stored {
		acls[i] = aclFromMeta(a)
	}
	s.cfg.Authorizer.Set(acls)
	return nil
}

// reloadACLs is loadACLs under the lock that orders ACL changes, for the
// change feed (follow.go): another broker changed them.
func (s *Server) reloadACLs(ctx context.Context) error {
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	return s.loadACLs(ctx)
}

func aclFromMeta(a meta.ACL) auth.ACL {
	return auth.ACL{ResourceType: auth.ResourceType(a.ResourceType), ResourceName: a.ResourceName,
		PatternType: auth.PatternType(a.PatternType), Principal: a.Principal, Host: a.Host,
		Operation: auth.Operation(a.Operation), Permission: auth.Permission(a.Permission)}
}

func aclToMeta(a auth.ACL) meta.ACL {
	return meta.ACL{ResourceType: int8(a.ResourceType), ResourceName: a.ResourceName,
		PatternType: int8(a.PatternType), Principal: a.Principal, Host: a.Host,
		Operation: int8(a.Operation), Permission: int8(a.Permission)}
}

var securityDisabled = "No Authorizer is configured."

func (s *Server) handleCreateAcls(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	if s.cfg.Authorizer == nil {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = kerr.SecurityDisabled.Code
			resp.Results[i].ErrorMessage = &securityDisabled
		}
		r.failed = true
		return resp, nil
	}
	var valid []meta.ACL
	var idx []int
	for i, c := range req.Creations {
		a := auth.ACL{ResourceType: auth.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: auth.PatternType(c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: auth.Operation(c.Operation), Permission: auth.Permission(c.PermissionType)}
		if err := a.Validate(); err != nil {
			resp.Results[i].ErrorCode = kerr.InvalidRequest.Code
			msg := err.Error()
			resp.Results[i].ErrorMessage = &msg
			r.failed = true
			continue
		}
		valid = append(valid, aclToMeta(a))
		idx = append(idx, i)
	}
	if len(valid) == 0 {
		return resp, nil
	}
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	err := s.cfg.Catalog.CreateACLs(ctx, valid)
	if err == nil {
		err = s.loadACLs(ctx)
	}
	if err != nil {
		s.log.Error("create acls", "err", err)
		for _, i := range idx {
			resp.Results[i].ErrorCode = errorCode(err)
			msg := "The ACLs could not be stored"
			resp.Results[i].ErrorMessage = &msg
		}
		r.failed = true
		return resp, nil
	}
	s.log.Info("acls created", "principal", r.conn.principal, "count", len(valid))
	return resp, nil
}

// filterFrom converts a request's filter; invalid values are an
// INVALID_REQUEST error.
func filterFrom(rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) (auth.Filter, error) {
	f := auth.Filter{ResourceType: auth.ResourceType(rt), ResourceName: name, PatternType: auth.PatternType(pt),
		Principal: principal, Host: host, Operation: auth.Operation(op), Permission: auth.Permission(perm)}
	return f, f.Validate()
}

func (s *Server) handleDescribeAcls(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if s.cfg.Authorizer == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = &securityDisabled
		return resp, nil
	}
	f, err := filterFrom(req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	if err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		return resp, nil
	}
	type pattern struct {
		rt   auth.ResourceType
		name string
		pt   auth.PatternType
	}
	at := map[pattern]int{}
	for _, a := range s.cfg.Authorizer.Describe(f) {
		p := pattern{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := at[p]
		if !ok {
			i = len(resp.Resources)
			at[p] = i
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = kmsg.ACLResourceType(p.rt), p.name, kmsg.ACLResourcePatternType(p.pt)
			resp.Resources = append(resp.Resources, res)
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	return resp, nil
}

func (s *Server) handleDeleteAcls(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	if s.cfg.Authorizer == nil {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = kerr.SecurityDisabled.Code
			resp.Results[i].ErrorMessage = &securityDisabled
		}
		return resp, nil
	}
	s.aclMu.Lock()
	defer s.aclMu.Unlock()
	var del []meta.ACL
	seen := map[auth.ACL]bool{}
	for i, kf := range req.Filters {
		f, err := filterFrom(kf.ResourceType, kf.ResourceName, kf.ResourcePatternType, kf.Principal, kf.Host, kf.Operation, kf.PermissionType)
		if err != nil {
			resp.Results[i].ErrorCode = kerr.InvalidRequest.Code
			msg := err.Error()
			resp.Results[i].ErrorMessage = &msg
			continue
		}
		for _, a := range s.cfg.Authorizer.Describe(f) {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			if !seen[a] {
				seen[a] = true
				del = append(del, aclToMeta(a))
			}
		}
	}
	if len(del) == 0 {
		return resp, nil
	}
	err := s.cfg.Catalog.DeleteACLs(ctx, del)
	if err == nil {
		err = s.loadACLs(ctx)
	}
	if err != nil {
		s.log.Error("delete acls", "err", err)
		for i := range resp.Results {
			if resp.Results[i].ErrorCode == 0 {
				resp.Results[i].ErrorCode = errorCode(err)
				resp.Results[i].MatchingACLs = nil
			}
		}
		r.failed = true
		return resp, nil
	}
	s.log.Info("acls deleted", "principal", r.conn.principal, "count", len(del))
	return resp, nil
}
