package main

// user list|set|delete: SCRAM users (Describe/AlterUserScramCredentials).
// acl list|create|delete: ACLs with kafka-acls' flags (--allow-principal
// User:alice --operation Read --topic orders --resource-pattern-type
// prefixed).

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const userPasswordEnv = "STREAMHOUSE_USER_PASSWORD"

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

type userRow struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func userListCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, _ []string) error {
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		users, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			return fmt.Errorf("describe users: %w", err)
		}
		rows := []userRow{}
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for n := range users {
				if !yield(n) {
					return
				}
			}
		}) {
			u := users[name]
			if u.Err != nil {
				return fmt.Errorf("user %s: %w", name, u.Err)
			}
			for _, ci := range u.CredInfos {
				rows = append(rows, userRow{User: name, Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
			}
		}
		return a.emit(rows, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "USER", "MECHANISM", "ITERATIONS")
			for _, r := range rows {
				row(tw, r.User, r.Mechanism, r.Iterations)
			}
			tw.Flush()
		})
	}
}

func parseMechanisms(l []string) ([]kadm.ScramMechanism, error) {
	if len(l) == 0 {
		return []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512}, nil
	}
	var out []kadm.ScramMechanism
	for _, m := range l {
		switch strings.ToUpper(m) {
		case "SCRAM-SHA-256":
			out = append(out, kadm.ScramSha256)
		case "SCRAM-SHA-512":
			out = append(out, kadm.ScramSha512)
		default:
			return nil, fmt.Errorf("--mechanism %q is not SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
	}
	return out, nil
}

func userSetCmd(fs *flag.FlagSet) runFunc {
	var mechs listFlag
	fs.Var(&mechs, "mechanism", "SCRAM-SHA-256 or SCRAM-SHA-512, repeatable (default both)")
	iterations := fs.Int("iterations", 4096, "PBKDF2 iterations, 4096 to 16384")
	return func(ctx context.Context, a *app, args []string) error {
		ms, err := parseMechanisms(mechs)
		if err != nil {
			return usagef("user set", "%v", err)
		}
		pw := a.getenv(userPasswordEnv)
		if pw == "" {
			if pw, err = a.readNewPassword(args[0]); err != nil {
				return err
			}
		}
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		var ups []kadm.UpsertSCRAM
		for _, m := range ms {
			ups = append(ups, kadm.UpsertSCRAM{User: args[0], Mechanism: m, Iterations: int32(*iterations), Password: pw})
		}
		res, err := adm.AlterUserSCRAMs(ctx, nil, ups)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return fmt.Errorf("set user %s: %w", args[0], err)
		}
		fmt.Fprintf(a.stdout, "user %s set\n", args[0])
		return nil
	}
}

// readNewPassword reads the new user's password: on a terminal, without
// echo; otherwise the first line of standard input.
func (a *app) readNewPassword(user string) (string, error) {
	if f, ok := a.stdin.(*os.File); ok {
		if pw, err := a.promptPassword(user); err == nil {
			if pw == "" {
				return "", errors.New("empty password")
			}
			return pw, nil
		} else if !isNotTerminal(f) {
			return "", err
		}
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		if err == nil {
			err = errors.New("empty line")
		}
		return "", fmt.Errorf("no password for %s: set %s or give it on standard input (%v)", user, userPasswordEnv, err)
	}
	return line, nil
}

func userDeleteCmd(fs *flag.FlagSet) runFunc {
	var mechs listFlag
	fs.Var(&mechs, "mechanism", "SCRAM-SHA-256 or SCRAM-SHA-512, repeatable (default every one the user has)")
	return func(ctx context.Context, a *app, args []string) error {
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		ms, err := parseMechanisms(mechs)
		if err != nil {
			return usagef("user delete", "%v", err)
		}
		if len(mechs) == 0 {
			users, err := adm.DescribeUserSCRAMs(ctx, args[0])
			if err != nil {
				return fmt.Errorf("user %s: %w", args[0], err)
			}
			if err := users[args[0]].Err; err != nil {
				return fmt.Errorf("user %s: %w", args[0], err)
			}
			ms = nil
			for _, ci := range users[args[0]].CredInfos {
				ms = append(ms, ci.Mechanism)
			}
		}
		var dels []kadm.DeleteSCRAM
		for _, m := range ms {
			dels = append(dels, kadm.DeleteSCRAM{User: args[0], Mechanism: m})
		}
		res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return fmt.Errorf("delete user %s: %w", args[0], err)
		}
		fmt.Fprintf(a.stdout, "user %s deleted\n", args[0])
		return nil
	}
}

// aclFlags are kafka-acls' resource and entry flags.
type aclFlags struct {
	allowPrincipals, denyPrincipals listFlag
	allowHosts, denyHosts           listFlag
	principals                      listFlag // list: --principal
	operations                      listFlag
	topics, groups, txnIDs          listFlag
	users, tokens                   listFlag
	cluster                         bool
	patternType                     string
}

func (f *aclFlags) declare(fs *flag.FlagSet, list bool) {
	if list {
		fs.Var(&f.principals, "principal", "only ACLs of this principal (User:name)")
	} else {
		fs.Var(&f.allowPrincipals, "allow-principal", "principal to allow (User:name, User:*), repeatable")
		fs.Var(&f.denyPrincipals, "deny-principal", "principal to deny, repeatable")
		fs.Var(&f.allowHosts, "allow-host", "host (IP) the allow applies from, repeatable (default *)")
		fs.Var(&f.denyHosts, "deny-host", "host (IP) the deny applies from, repeatable (default *)")
		fs.Var(&f.operations, "operation", "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All; repeatable")
	}
	fs.Var(&f.topics, "topic", "topic name (or prefix, or *), repeatable")
	fs.Var(&f.groups, "group", "consumer group (or prefix, or *), repeatable")
	fs.Var(&f.txnIDs, "transactional-id", "transactional id (or prefix, or *), repeatable")
	fs.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	fs.Var(&f.users, "user-principal", "a user principal (User:name), the resource of CreateTokens and DescribeTokens; repeatable")
	fs.Var(&f.tokens, "delegation-token", "a delegation token id, repeatable")
	def := "literal"
	if list {
		def = "any"
	}
	fs.StringVar(&f.patternType, "resource-pattern-type", def, "literal, prefixed (and for list and delete: any, match)")
}

type aclResource struct {
	typ  kmsg.ACLResourceType
	name string
}

func (f *aclFlags) resources() []aclResource {
	var out []aclResource
	for _, t := range f.topics {
		out = append(out, aclResource{kmsg.ACLResourceTypeTopic, t})
	}
	for _, g := range f.groups {
		out = append(out, aclResource{kmsg.ACLResourceTypeGroup, g})
	}
	for _, x := range f.txnIDs {
		out = append(out, aclResource{kmsg.ACLResourceTypeTransactionalId, x})
	}
	if f.cluster {
		out = append(out, aclResource{kmsg.ACLResourceTypeCluster, "kafka-cluster"})
	}
	for _, u := range f.users {
		out = append(out, aclResource{kmsg.ACLResourceTypeUser, u})
	}
	for _, d := range f.tokens {
		out = append(out, aclResource{kmsg.ACLResourceTypeDelegationToken, d})
	}
	return out
}

func parsePattern(s string) (kmsg.ACLResourcePatternType, error) {
	p, err := kmsg.ParseACLResourcePatternType(strings.ToLower(s))
	if err != nil || p == kmsg.ACLResourcePatternTypeUnknown {
		return 0, fmt.Errorf("--resource-pattern-type %q is not literal, prefixed, match or any", s)
	}
	return p, nil
}

func parseOperation(s string) (kmsg.ACLOperation, error) {
	n := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(s, "_", ""), "-", ""))
	for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationAll, kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationClusterAction,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
		kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens, kmsg.ACLOperationAny} {
		if strings.ReplaceAll(strings.ToLower(op.String()), "_", "") == n {
			return op, nil
		}
	}
	return 0, fmt.Errorf("--operation %q is not a Kafka ACL operation", s)
}

type aclRow struct {
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
}

func aclListCmd(fs *flag.FlagSet) runFunc {
	var f aclFlags
	f.declare(fs, true)
	return func(ctx context.Context, a *app, _ []string) error {
		pt, err := parsePattern(f.patternType)
		if err != nil {
			return usagef("acl list", "%v", err)
		}
		cl, err := a.client()
		if err != nil {
			return err
		}
		defer cl.Close()
		res := f.resources()
		if len(res) == 0 {
			res = []aclResource{{kmsg.ACLResourceTypeAny, ""}}
		}
		principals := []*string{nil}
		if len(f.principals) > 0 {
			principals = nil
			for _, p := range f.principals {
				principals = append(principals, &p)
			}
		}
		rows := []aclRow{}
		for _, r := range res {
			for _, p := range principals {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourcePatternType = r.typ, pt
				if r.typ != kmsg.ACLResourceTypeAny {
					req.ResourceName = kmsg.StringPtr(r.name)
				}
				req.Principal = p
				req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return fmt.Errorf("describe acls: %w", err)
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return fmt.Errorf("describe acls: %w%s", err, msgOf(resp.ErrorMessage))
				}
				for _, res := range resp.Resources {
					for _, e := range res.ACLs {
						rows = append(rows, aclRow{e.Principal, e.Host, e.Operation.String(), e.PermissionType.String(),
							res.ResourceType.String(), res.ResourceName, res.ResourcePatternType.String()})
					}
				}
			}
		}
		return a.emit(rows, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "PRINCIPAL", "HOST", "OPERATION", "PERMISSION", "RESOURCE-TYPE", "NAME", "PATTERN")
			for _, r := range rows {
				row(tw, r.Principal, r.Host, r.Operation, r.Permission, r.ResourceType, r.ResourceName, r.PatternType)
			}
			tw.Flush()
		})
	}
}

func msgOf(s *string) string {
	if s == nil || *s == "" {
		return ""
	}
	return ": " + *s
}

// entries are the (principal, host, permission) triples of the flags.
func (f *aclFlags) entries() []kmsg.CreateACLsRequestCreation {
	var out []kmsg.CreateACLsRequestCreation
	add := func(principals, hosts listFlag, perm kmsg.ACLPermissionType) {
		if len(hosts) == 0 {
			hosts = listFlag{"*"}
		}
		for _, p := range principals {
			for _, h := range hosts {
				c := kmsg.NewCreateACLsRequestCreation()
				c.Principal, c.Host, c.PermissionType = p, h, perm
				out = append(out, c)
			}
		}
	}
	add(f.allowPrincipals, f.allowHosts, kmsg.ACLPermissionTypeAllow)
	add(f.denyPrincipals, f.denyHosts, kmsg.ACLPermissionTypeDeny)
	return out
}

func aclCreateCmd(fs *flag.FlagSet) runFunc {
	var f aclFlags
	f.declare(fs, false)
	return func(ctx context.Context, a *app, _ []string) error {
		pt, err := parsePattern(f.patternType)
		if err != nil || (pt != kmsg.ACLResourcePatternTypeLiteral && pt != kmsg.ACLResourcePatternTypePrefixed) {
			return usagef("acl create", "--resource-pattern-type must be literal or prefixed")
		}
		res, ents := f.resources(), f.entries()
		if len(res) == 0 || len(ents) == 0 || len(f.operations) == 0 {
			return usagef("acl create", "name a resource (--topic, --group, --transactional-id, --cluster, --user-principal, --delegation-token), a principal (--allow-principal, --deny-principal) and an --operation")
		}
		req := kmsg.NewPtrCreateACLsRequest()
		for _, r := range res {
			for _, opName := range f.operations {
				op, err := parseOperation(opName)
				if err != nil {
					return usagef("acl create", "%v", err)
				}
				for _, e := range ents {
					e.ResourceType, e.ResourceName, e.ResourcePatternType, e.Operation = r.typ, r.name, pt, op
					req.Creations = append(req.Creations, e)
				}
			}
		}
		resp, err := send(ctx, a, req, "create acls")
		if err != nil {
			return err
		}
		for i, r := range resp.Results {
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				c := req.Creations[i]
				return fmt.Errorf("create acl %s %s %s on %s %s: %w%s", c.PermissionType, c.Principal, c.Operation, c.ResourceType, c.ResourceName, err, msgOf(r.ErrorMessage))
			}
		}
		fmt.Fprintf(a.stdout, "%d ACLs created\n", len(req.Creations))
		return nil
	}
}

func aclDeleteCmd(fs *flag.FlagSet) runFunc {
	var f aclFlags
	f.declare(fs, false)
	return func(ctx context.Context, a *app, _ []string) error {
		pt, err := parsePattern(f.patternType)
		if err != nil {
			return usagef("acl delete", "%v", err)
		}
		res := f.resources()
		if len(res) == 0 {
			return usagef("acl delete", "name a resource (--topic, --group, --transactional-id, --cluster, --user-principal, --delegation-token)")
		}
		ops := []kmsg.ACLOperation{kmsg.ACLOperationAny}
		if len(f.operations) > 0 {
			ops = nil
			for _, o := range f.operations {
				op, err := parseOperation(o)
				if err != nil {
					return usagef("acl delete", "%v", err)
				}
				ops = append(ops, op)
			}
		}
		type ent struct {
			principal *string
			host      *string
			perm      kmsg.ACLPermissionType
		}
		var ents []ent
		addE := func(ps, hs listFlag, perm kmsg.ACLPermissionType) {
			for _, p := range ps {
				if len(hs) == 0 {
					ents = append(ents, ent{&p, nil, perm})
				}
				for _, h := range hs {
					ents = append(ents, ent{&p, &h, perm})
				}
			}
		}
		addE(f.allowPrincipals, f.allowHosts, kmsg.ACLPermissionTypeAllow)
		addE(f.denyPrincipals, f.denyHosts, kmsg.ACLPermissionTypeDeny)
		if len(ents) == 0 {
			ents = []ent{{nil, nil, kmsg.ACLPermissionTypeAny}}
		}
		req := kmsg.NewPtrDeleteACLsRequest()
		for _, r := range res {
			for _, op := range ops {
				for _, e := range ents {
					flt := kmsg.NewDeleteACLsRequestFilter()
					flt.ResourceType, flt.ResourceName, flt.ResourcePatternType = r.typ, kmsg.StringPtr(r.name), pt
					flt.Principal, flt.Host, flt.Operation, flt.PermissionType = e.principal, e.host, op, e.perm
					req.Filters = append(req.Filters, flt)
				}
			}
		}
		resp, err := send(ctx, a, req, "delete acls")
		if err != nil {
			return err
		}
		n := 0
		for _, r := range resp.Results {
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				return fmt.Errorf("delete acls: %w%s", err, msgOf(r.ErrorMessage))
			}
			n += len(r.MatchingACLs)
		}
		fmt.Fprintf(a.stdout, "%d ACLs deleted\n", n)
		return nil
	}
}

// isNotTerminal reports whether f is not a terminal.
func isNotTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err != nil || fi.Mode()&os.ModeCharDevice == 0
}
