package broker

// DescribeUserScramCredentials v0 and AlterUserScramCredentials v0: the
// SCRAM users in the catalog, as Kafka's tools (kafka-configs
// --entity-type users, kadm, confluent-kafka-go's admin client) manage them.
//
// Alter takes the salted password (Hi(password, salt, iterations)), never
// the password; the broker keeps the salt, the iterations and the two keys
// derived from it. Checked as Kafka checks: a user named twice in one
// request (DUPLICATE_RESOURCE), an empty name or iterations outside
// 4096-16384 or an empty salt (UNACCEPTABLE_CREDENTIAL), an unknown
// mechanism (UNSUPPORTED_SASL_MECHANISM), the deletion of a credential that
// does not exist (RESOURCE_NOT_FOUND). Each user's changes are stored in
// one catalog transaction with every other valid user's of the request.
// Describe lists mechanisms and iterations, never keys; every user when none
// is named; RESOURCE_NOT_FOUND for a named user without credentials and
// DUPLICATE_RESOURCE for one named twice.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/meta"
)

func (s *Server) handleDescribeUserScramCredentials(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	all, err := s.cfg.Catalog.ScramCredentials(ctx)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		r.failed = true
		return resp, nil
	}
	byUser := map[string][]meta.ScramCredential{}
	var users []string
	for _, c := range all {
		if _, ok := byUser[c.User]; !ok {
			users = append(users, c.User)
		}
		byUser[c.User] = append(byUser[c.User], c)
	}
	result := func(user string) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = user
		for _, c := range byUser[user] {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = c.Mechanism, c.Iterations
			res.CredentialInfos = append(res.CredentialInfos, ci)
		}
		return res
	}
	if len(req.Users) == 0 {
		for _, u := range users {
			resp.Results = append(resp.Results, result(u))
		}
		return resp, nil
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	done := map[string]bool{}
	for _, u := range req.Users {
		if done[u.Name] {
			continue
		}
		done[u.Name] = true
		res := result(u.Name)
		switch {
		case count[u.Name] > 1:
			res.CredentialInfos = nil
			res.ErrorCode = kerr.DuplicateResource.Code
			msg := "Cannot describe SCRAM credentials for the same user twice in a single request: " + u.Name
			res.ErrorMessage = &msg
		case len(byUser[u.Name]) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			msg := "Attempt to describe a user credential that does not exist: " + u.Name
			res.ErrorMessage = &msg
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (s *Server) handleAlterUserScramCredentials(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string
	errs := map[string]*kmsg.AlterUserSCRAMCredentialsResponseResult{}
	setErr := func(user string, code *kerr.Error, msg string) {
		if e := errs[user]; e.ErrorCode == 0 {
			e.ErrorCode, e.ErrorMessage = code.Code, &msg
		}
	}
	seen := map[string]int{}
	note := func(user string) {
		if _, ok := errs[user]; !ok {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User = user
			errs[user] = &res
			order = append(order, user)
		}
	}
	type key struct {
		user string
		mech int8
	}
	pairs := map[key]int{}
	for _, d := range req.Deletions {
		note(d.Name)
		pairs[key{d.Name, d.Mechanism}]++
		seen[d.Name]++
	}
	for _, u := range req.Upsertions {
		note(u.Name)
		pairs[key{u.Name, u.Mechanism}]++
		seen[u.Name]++
	}
	for k, n := range pairs {
		if n > 1 {
			setErr(k.user, kerr.DuplicateResource, "A user credential cannot be altered twice in the same request")
		}
	}
	for _, d := range req.Deletions {
		switch {
		case d.Name == "":
			setErr(d.Name, kerr.UnacceptableCredential, "Username must not be empty")
		case !auth.Mechanism(d.Mechanism).Valid():
			setErr(d.Name, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		default:
			if _, ok, err := s.cfg.Catalog.ScramCredential(ctx, d.Name, d.Mechanism); err != nil {
				setErr(d.Name, kerr.KafkaStorageError, "The credentials could not be read")
			} else if !ok {
				setErr(d.Name, kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
			}
		}
	}
	for _, u := range req.Upsertions {
		m := auth.Mechanism(u.Mechanism)
		switch {
		case u.Name == "":
			setErr(u.Name, kerr.UnacceptableCredential, "Username must not be empty")
		case !m.Valid():
			setErr(u.Name, kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism")
		case u.Iterations < auth.MinIterations:
			setErr(u.Name, kerr.UnacceptableCredential, "Too few iterations")
		case u.Iterations > auth.MaxIterations:
			setErr(u.Name, kerr.UnacceptableCredential, "Too many iterations")
		case len(u.Salt) == 0:
			setErr(u.Name, kerr.UnacceptableCredential, "Salt must not be empty")
		case len(u.SaltedPassword) == 0:
			setErr(u.Name, kerr.UnacceptableCredential, "Salted password must not be empty")
		}
	}
	var ups []meta.ScramCredential
	var dels []meta.ScramUser
	for _, d := range req.Deletions {
		if errs[d.Name].ErrorCode == 0 {
			dels = append(dels, meta.ScramUser{User: d.Name, Mechanism: d.Mechanism})
		}
	}
	for _, u := range req.Upsertions {
		if errs[u.Name].ErrorCode != 0 {
			continue
		}
		c := auth.CredentialFromSalted(auth.Mechanism(u.Mechanism), u.SaltedPassword, u.Salt, int(u.Iterations))
		ups = append(ups, meta.ScramCredential{User: u.Name, Mechanism: u.Mechanism, Salt: c.Salt,
			StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: u.Iterations})
	}
	if len(ups)+len(dels) > 0 {
		if err := s.cfg.Catalog.AlterScramCredentials(ctx, ups, dels); err != nil {
			s.log.Error("alter scram credentials", "err", err)
			for _, u := range order {
				setErr(u, kerr.KafkaStorageError, "The credentials could not be stored")
			}
		} else {
			s.log.Info("scram credentials altered", "principal", r.conn.principal, "upserted", len(ups), "deleted", len(dels))
		}
	}
	for _, u := range order {
		if errs[u].ErrorCode != 0 {
			r.failed = true
		}
		resp.Results = append(resp.Results, *errs[u])
	}
	return resp, nil
}

// BootstrapScram creates or replaces user's credential for mechanism
// (SCRAM-SHA-256 or SCRAM-SHA-512) from a password, as Kafka's storage
// tool does with --add-scram: the way to the first user of a broker whose
// listeners all require SASL. iterations 0 means 4096.
func BootstrapScram(ctx context.Context, cat meta.ScramCredentials, mechanism, user, password string, iterations int) error {
	m, ok := auth.ParseMechanism(mechanism)
	if !ok {
		return fmt.Errorf("SCRAM mechanism %q is not SCRAM-SHA-256 or SCRAM-SHA-512", mechanism)
	}
	if iterations == 0 {
		iterations = auth.MinIterations
	}
	if iterations < auth.MinIterations || iterations > auth.MaxIterations {
		return fmt.Errorf("iterations %d outside %d-%d", iterations, auth.MinIterations, auth.MaxIterations)
	}
	if user == "" || password == "" {
		return errors.New("SCRAM user name and password must not be empty")
	}
	c, err := auth.NewRandomCredential(m, password, iterations)
	if err != nil {
		return err
	}
	return cat.AlterScramCredentials(ctx, []meta.ScramCredential{{User: user, Mechanism: int8(m), Salt: c.Salt,
		StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: int32(iterations)}}, nil)
}
