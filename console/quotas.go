package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Client quotas, through DescribeClientQuotas and AlterClientQuotas.

type quotaRow struct {
	Entity string // user=alice, client-id=<default>, ...
	Values []kadm.ClientQuotaValue
	// Fields for the change form: the entity's components.
	User, Client, IP          string
	HasUser, HasClient, HasIP bool
}

type quotasData struct {
	Quotas []quotaRow
	Pager  pager
	Keys   []string
	Error  string
	Notice string
}

var quotaKeys = []string{"producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate", "connection_creation_rate"}

func (c *Console) quotas(w http.ResponseWriter, r *http.Request, st *reqState) error {
	d, err := c.quotasData(r, st)
	if err != nil {
		return err
	}
	d.Notice = r.FormValue("notice")
	c.render(w, r, st, http.StatusOK, "quotas", "Quotas", "quotas", d)
	return nil
}

func (c *Console) quotasData(r *http.Request, st *reqState) (*quotasData, error) {
	ctx, cancel := ctx10(r)
	defer cancel()
	d := &quotasData{Keys: quotaKeys}
	err := st.pool.do(func(adm *kadm.Client) error {
		qs, err := adm.DescribeClientQuotas(ctx, false, nil)
		if err != nil {
			return err
		}
		var rows []quotaRow
		for _, q := range qs {
			row := quotaRow{Entity: q.Entity.String(), Values: q.Values}
			for _, comp := range q.Entity {
				name := "<default>"
				if comp.Name != nil {
					name = *comp.Name
				}
				switch comp.Type {
				case "user":
					row.User, row.HasUser = name, true
				case "client-id":
					row.Client, row.HasClient = name, true
				case "ip":
					row.IP, row.HasIP = name, true
				}
			}
			slices.SortFunc(row.Values, func(a, b kadm.ClientQuotaValue) int { return strings.Compare(a.Key, b.Key) })
			rows = append(rows, row)
		}
		slices.SortFunc(rows, func(a, b quotaRow) int { return strings.Compare(a.Entity, b.Entity) })
		d.Pager, d.Quotas = pageOf(r, "/quotas", "", rows, pageSize)
		return nil
	})
	return d, err
}

// alterQuota sets or removes one quota of one entity: user, client id
// or both, or an IP; "<default>" names the default entity.
func (c *Console) alterQuota(w http.ResponseWriter, r *http.Request, st *reqState) error {
	var entity kadm.ClientQuotaEntity
	for _, typ := range []string{"user", "client-id", "ip"} {
		v := strings.TrimSpace(r.PostFormValue(typ))
		if v == "" {
			continue
		}
		comp := kadm.ClientQuotaEntityComponent{Type: typ}
		if v != "<default>" {
			comp.Name = &v
		}
		entity = append(entity, comp)
	}
	key := r.PostFormValue("key")
	value := strings.TrimSpace(r.PostFormValue("value"))
	fail := func(msg string) error {
		d, err := c.quotasData(r, st)
		if err != nil {
			return err
		}
		d.Error = msg
		c.render(w, r, st, http.StatusBadRequest, "quotas", "Quotas", "quotas", d)
		return nil
	}
	if len(entity) == 0 {
		return fail("Name a user, a client id or an IP (<default> for the default).")
	}
	op := kadm.AlterClientQuotaOp{Key: key, Remove: value == ""}
	if value != "" {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return fail("Value: " + strconv.Quote(value) + " is not a number.")
		}
		op.Value = f
	}
	ctx, cancel := ctx10(r)
	defer cancel()
	err := st.pool.do(func(adm *kadm.Client) error {
		res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{op}}})
		if err != nil {
			return err
		}
		for _, a := range res {
			if a.Err != nil {
				return &userError{statusOf(a.Err), kafkaMessage(a.Err, a.ErrMessage)}
			}
		}
		return nil
	})
	what := entity.String() + " " + key + "=" + or(value, "(removed)")
	c.audit(r, st, "quota.alter", what, err)
	if err != nil {
		return fail(err.Error())
	}
	http.Redirect(w, r, "/quotas?notice="+url.QueryEscape("Quota set: "+what), http.StatusSeeOther)
	return nil
}
