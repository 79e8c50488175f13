package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACLs and SCRAM users, through DescribeAcls/CreateAcls/DeleteAcls and
// Describe/AlterUserScramCredentials: the broker decides who may see and
// change them (DESCRIBE and ALTER on the cluster).

type aclRow struct {
	Principal, Host, Type, Name, Pattern, Operation, Permission string
}

// Form values of an ACL, as the delete form sends them back.
func (a aclRow) Fields() map[string]string {
	return map[string]string{"principal": a.Principal, "host": a.Host, "type": a.Type, "name": a.Name,
		"pattern": a.Pattern, "operation": a.Operation, "permission": a.Permission}
}

type aclsData struct {
	ACLs       []aclRow
	Pager      pager
	Error      string
	Notice     string
	Types      []string
	Operations []string
	Patterns   []string
	Form       aclRow
	Disabled   string // why ACLs cannot be listed (no authorizer)
}

var (
	aclTypes      = []string{"TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN"}
	aclOperations = []string{"ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION",
		"DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"}
	aclPatterns = []string{"LITERAL", "PREFIXED"}
)

func (c *Console) acls(w http.ResponseWriter, r *http.Request, st *reqState) error {
	d, err := c.aclsData(r, st)
	if err != nil {
		return err
	}
	d.Notice = r.FormValue("notice")
	d.Form = aclRow{Host: "*", Type: "TOPIC", Pattern: "LITERAL", Operation: "READ", Permission: "ALLOW"}
	c.render(w, r, st, http.StatusOK, "acls", "ACLs", "acls", d)
	return nil
}

func (c *Console) aclsData(r *http.Request, st *reqState) (*aclsData, error) {
	ctx, cancel := ctx10(r)
	defer cancel()
	d := &aclsData{Types: aclTypes, Operations: aclOperations, Patterns: aclPatterns}
	err := st.pool.with(func(cl *kgo.Client) error {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType = kmsg.ACLResourceTypeAny
		req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
		req.Operation = kmsg.ACLOperationAny
		req.PermissionType = kmsg.ACLPermissionTypeAny
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if err == kerr.SecurityDisabled {
				d.Disabled = "This broker authorizes nothing (no authorizer.class.name): there are no ACLs to show."
				return nil
			}
			return &userError{statusOf(err), kafkaMessage(err, deref(resp.ErrorMessage))}
		}
		var all []aclRow
		for _, res := range resp.Resources {
			for _, a := range res.ACLs {
				all = append(all, aclRow{Principal: a.Principal, Host: a.Host, Type: res.ResourceType.String(), Name: res.ResourceName,
					Pattern: res.ResourcePatternType.String(), Operation: a.Operation.String(), Permission: a.PermissionType.String()})
			}
		}
		slices.SortFunc(all, func(a, b aclRow) int {
			return strings.Compare(a.Principal+"\x00"+a.Type+"\x00"+a.Name+"\x00"+a.Operation, b.Principal+"\x00"+b.Type+"\x00"+b.Name+"\x00"+b.Operation)
		})
		q := strings.TrimSpace(r.FormValue("q"))
		if q != "" {
			all = slices.DeleteFunc(all, func(a aclRow) bool {
				return !strings.Contains(a.Principal, q) && !strings.Contains(a.Name, q)
			})
		}
		d.Pager, d.ACLs = pageOf(r, "/acls", q, all, pageSize)
		return nil
	})
	return d, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func aclFromForm(r *http.Request) (aclRow, kmsg.ACLResourceType, kmsg.ACLResourcePatternType, kmsg.ACLOperation, kmsg.ACLPermissionType, error) {
	a := aclRow{Principal: strings.TrimSpace(r.PostFormValue("principal")), Host: or(strings.TrimSpace(r.PostFormValue("host")), "*"),
		Type: r.PostFormValue("type"), Name: strings.TrimSpace(r.PostFormValue("name")), Pattern: r.PostFormValue("pattern"),
		Operation: r.PostFormValue("operation"), Permission: r.PostFormValue("permission")}
	rt, err1 := kmsg.ParseACLResourceType(a.Type)
	pt, err2 := kmsg.ParseACLResourcePatternType(a.Pattern)
	op, err3 := kmsg.ParseACLOperation(a.Operation)
	perm, err4 := kmsg.ParseACLPermissionType(a.Permission)
	switch {
	case err1 != nil:
		return a, 0, 0, 0, 0, badRequest("Resource type: %q is not one of %s.", a.Type, strings.Join(aclTypes, ", "))
	case err2 != nil:
		return a, 0, 0, 0, 0, badRequest("Pattern: %q is not LITERAL or PREFIXED.", a.Pattern)
	case err3 != nil:
		return a, 0, 0, 0, 0, badRequest("Operation: %q is not an ACL operation.", a.Operation)
	case err4 != nil:
		return a, 0, 0, 0, 0, badRequest("Permission: %q is not ALLOW or DENY.", a.Permission)
	case !strings.Contains(a.Principal, ":"):
		return a, 0, 0, 0, 0, badRequest("Principal: %q is not type:name, such as User:alice.", a.Principal)
	}
	if rt == kmsg.ACLResourceTypeCluster && a.Name == "" {
		a.Name = "kafka-cluster"
	}
	return a, rt, pt, op, perm, nil
}

func (c *Console) createACL(w http.ResponseWriter, r *http.Request, st *reqState) error {
	a, rt, pt, op, perm, err := aclFromForm(r)
	if err != nil {
		return c.aclFail(w, r, st, a, err.Error())
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	err = st.pool.with(func(cl *kgo.Client) error {
		req := kmsg.NewPtrCreateACLsRequest()
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = rt, a.Name, pt
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = a.Principal, a.Host, op, perm
		req.Creations = append(req.Creations, cr)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, res := range resp.Results {
			if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
				return &userError{statusOf(err), kafkaMessage(err, deref(res.ErrorMessage))}
			}
		}
		return nil
	})
	c.audit(r, st, "acl.create", aclText(a), err)
	if err != nil {
		return c.aclFail(w, r, st, a, err.Error())
	}
	http.Redirect(w, r, "/acls?notice="+url.QueryEscape("ACL created: "+aclText(a)), http.StatusSeeOther)
	return nil
}

func aclText(a aclRow) string {
	return a.Permission + " " + a.Principal + " from " + a.Host + " " + a.Operation + " on " + a.Type + " " + a.Pattern + " " + a.Name
}

func (c *Console) aclFail(w http.ResponseWriter, r *http.Request, st *reqState, a aclRow, msg string) error {
	d, err := c.aclsData(r, st)
	if err != nil {
		return err
	}
	d.Error, d.Form = msg, a
	c.render(w, r, st, http.StatusBadRequest, "acls", "ACLs", "acls", d)
	return nil
}

// deleteACL deletes exactly one ACL: a filter naming every field.
func (c *Console) deleteACL(w http.ResponseWriter, r *http.Request, st *reqState) error {
	a, rt, pt, op, perm, err := aclFromForm(r)
	if err != nil {
		return err
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	deleted := 0
	err = st.pool.with(func(cl *kgo.Client) error {
		req := kmsg.NewPtrDeleteACLsRequest()
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = rt, &a.Name, pt
		f.Principal, f.Host, f.Operation, f.PermissionType = &a.Principal, &a.Host, op, perm
		req.Filters = append(req.Filters, f)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, res := range resp.Results {
			if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
				return &userError{statusOf(err), kafkaMessage(err, deref(res.ErrorMessage))}
			}
			deleted += len(res.MatchingACLs)
		}
		return nil
	})
	c.audit(r, st, "acl.delete", aclText(a), err)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/acls?notice="+url.QueryEscape("ACL deleted: "+aclText(a)), http.StatusSeeOther)
	return nil
}

type userRow struct {
	Name       string
	Mechanisms []string
}

type usersData struct {
	Users  []userRow
	Pager  pager
	Error  string
	Notice string
	Form   struct{ Name, Mechanism string }
}

func (c *Console) users(w http.ResponseWriter, r *http.Request, st *reqState) error {
	d, err := c.usersData(r, st)
	if err != nil {
		return err
	}
	d.Notice = r.FormValue("notice")
	d.Form.Mechanism = "SCRAM-SHA-512"
	c.render(w, r, st, http.StatusOK, "users", "Users", "users", d)
	return nil
}

func (c *Console) usersData(r *http.Request, st *reqState) (*usersData, error) {
	ctx, cancel := ctx10(r)
	defer cancel()
	d := &usersData{}
	err := st.pool.do(func(adm *kadm.Client) error {
		described, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			return err
		}
		var names []string
		for n := range described {
			names = append(names, n)
		}
		var page []string
		d.Pager, page = paginate(r, "/users", names, pageSize)
		for _, n := range page {
			u := described[n]
			row := userRow{Name: n}
			for _, ci := range u.CredInfos {
				row.Mechanisms = append(row.Mechanisms, ci.Mechanism.String())
			}
			d.Users = append(d.Users, row)
		}
		return nil
	})
	return d, err
}

func scramMechanism(s string) (kadm.ScramMechanism, bool) {
	switch s {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, true
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, true
	}
	return 0, false
}

// upsertUser sets a user's SCRAM password (kadm salts it here; the broker
// stores the salted form).
func (c *Console) upsertUser(w http.ResponseWriter, r *http.Request, st *reqState) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	mech := r.PostFormValue("mechanism")
	pass := r.PostFormValue("password")
	fail := func(msg string) error {
		d, err := c.usersData(r, st)
		if err != nil {
			return err
		}
		d.Error = msg
		d.Form.Name, d.Form.Mechanism = name, mech
		c.render(w, r, st, http.StatusBadRequest, "users", "Users", "users", d)
		return nil
	}
	m, ok := scramMechanism(mech)
	switch {
	case name == "":
		return fail("Name the user.")
	case !ok:
		return fail("Mechanism: " + mech + " is not SCRAM-SHA-256 or SCRAM-SHA-512.")
	case pass == "":
		return fail("Give a password.")
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	err := alterSCRAMs(ctx, st, nil, []kadm.UpsertSCRAM{{User: name, Mechanism: m, Iterations: 8192, Password: pass}})
	c.audit(r, st, "user.upsert", name+" "+mech, err)
	if err != nil {
		return fail(err.Error())
	}
	http.Redirect(w, r, "/users?notice="+url.QueryEscape("User "+name+" set ("+mech+")."), http.StatusSeeOther)
	return nil
}

// alterSCRAMs deletes and upserts credentials; the broker's refusal of
// any is the error.
func alterSCRAMs(ctx context.Context, st *reqState, del []kadm.DeleteSCRAM, upsert []kadm.UpsertSCRAM) error {
	return st.pool.do(func(adm *kadm.Client) error {
		res, err := adm.AlterUserSCRAMs(ctx, del, upsert)
		if err != nil {
			return err
		}
		for _, u := range res {
			if u.Err != nil {
				return &userError{statusOf(u.Err), kafkaMessage(u.Err, u.ErrMessage)}
			}
		}
		return nil
	})
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request, st *reqState) error {
	name := r.PostFormValue("name")
	mech := r.PostFormValue("mechanism")
	m, ok := scramMechanism(mech)
	if !ok {
		return badRequest("Mechanism: %q is not SCRAM-SHA-256 or SCRAM-SHA-512.", mech)
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	err := alterSCRAMs(ctx, st, []kadm.DeleteSCRAM{{User: name, Mechanism: m}}, nil)
	c.audit(r, st, "user.delete", name+" "+mech, err)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/users?notice="+url.QueryEscape("User "+name+"'s "+mech+" credential deleted."), http.StatusSeeOther)
	return nil
}
