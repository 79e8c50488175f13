package main

// token create|renew|expire|describe: delegation tokens, as
// kafka-delegation-tokens.sh manages them (--create --max-life-time-period
// --renewer-principal --owner-principal, --renew --hmac
// --renew-time-period, --expire --hmac --expiry-time-period, --describe
// --owner-principal). The HMAC is shown and taken in base64, the token's
// SCRAM password.

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type tokenRow struct {
	TokenID   string   `json:"token_id"`
	HMAC      string   `json:"hmac"`
	Owner     string   `json:"owner"`
	Requester string   `json:"requester,omitempty"`
	Renewers  []string `json:"renewers"`
	Issued    string   `json:"issue_date"`
	Expiry    string   `json:"expiry_date"`
	Max       string   `json:"max_date"`
}

func tokenTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

func (a *app) emitTokens(rows []tokenRow) error {
	return a.emit(rows, func(w io.Writer) {
		tw := newTable(w)
		row(tw, "TOKENID", "HMAC", "OWNER", "REQUESTER", "RENEWERS", "ISSUEDATE", "EXPIRYDATE", "MAXDATE")
		for _, r := range rows {
			renewers := strings.Join(r.Renewers, ",")
			if renewers == "" {
				renewers = "-"
			}
			row(tw, r.TokenID, r.HMAC, r.Owner, r.Requester, renewers, r.Issued, r.Expiry, r.Max)
		}
		tw.Flush()
	})
}

// splitPrincipalFlag parses User:name.
func splitPrincipalFlag(cmd, flagName, p string) (typ, name string, err error) {
	typ, name, ok := strings.Cut(p, ":")
	if !ok || typ == "" || name == "" {
		return "", "", usagef(cmd, "--%s %q is not a principal (User:name)", flagName, p)
	}
	return typ, name, nil
}

func tokenCreateCmd(fs *flag.FlagSet) runFunc {
	var renewers listFlag
	fs.Var(&renewers, "renewer-principal", "a principal that may renew and expire the token (User:name), repeatable")
	owner := fs.String("owner-principal", "", "create the token for this owner (User:name; needs CreateTokens on the USER resource); default: yourself")
	maxLife := fs.Int64("max-life-time-period", -1, "the token's maximum lifetime in ms; -1: the broker's delegation.token.max.lifetime.ms")
	return func(ctx context.Context, a *app, _ []string) error {
		req := kmsg.NewPtrCreateDelegationTokenRequest()
		if *owner != "" {
			typ, name, err := splitPrincipalFlag("token create", "owner-principal", *owner)
			if err != nil {
				return err
			}
			req.OwnerPrincipalType, req.OwnerPrincipalName = &typ, &name
		}
		for _, r := range renewers {
			typ, name, err := splitPrincipalFlag("token create", "renewer-principal", r)
			if err != nil {
				return err
			}
			rn := kmsg.NewCreateDelegationTokenRequestRenewer()
			rn.PrincipalType, rn.PrincipalName = typ, name
			req.Renewers = append(req.Renewers, rn)
		}
		req.MaxLifetimeMillis = *maxLife
		resp, err := send(ctx, a, req, "create token")
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		r := tokenRow{TokenID: resp.TokenID, HMAC: base64.StdEncoding.EncodeToString(resp.HMAC),
			Owner: resp.PrincipalType + ":" + resp.PrincipalName, Renewers: []string(renewers),
			Issued: tokenTime(resp.IssueTimestamp), Expiry: tokenTime(resp.ExpiryTimestamp), Max: tokenTime(resp.MaxTimestamp)}
		if resp.TokenRequesterPrincipalName != "" {
			r.Requester = resp.TokenRequesterPrincipalType + ":" + resp.TokenRequesterPrincipalName
		}
		if r.Renewers == nil {
			r.Renewers = []string{}
		}
		return a.emitTokens([]tokenRow{r})
	}
}

// tokenExpiryCmd is renew and expire: both name the token by its HMAC and
// answer its new expiry.
func tokenExpiryCmd(renew bool) func(fs *flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		cmd, periodFlag, doc := "token expire", "expiry-time-period", "the token expires this many ms from now; -1: at once"
		if renew {
			cmd, periodFlag, doc = "token renew", "renew-time-period", "the token's new expiry, ms from now; -1: the broker's delegation.token.expiry.time.ms"
		}
		mac := fs.String("hmac", "", "the token's HMAC, in base64 (as token create prints it)")
		period := fs.Int64(periodFlag, -1, doc)
		return func(ctx context.Context, a *app, _ []string) error {
			if *mac == "" {
				return usagef(cmd, "--hmac is required")
			}
			h, err := base64.StdEncoding.DecodeString(*mac)
			if err != nil {
				return usagef(cmd, "--hmac is not base64: %v", err)
			}
			var code int16
			var expiry int64
			if renew {
				req := kmsg.NewPtrRenewDelegationTokenRequest()
				req.HMAC, req.RenewTimeMillis = h, *period
				resp, err := send(ctx, a, req, "renew token")
				if err != nil {
					return err
				}
				code, expiry = resp.ErrorCode, resp.ExpiryTimestamp
			} else {
				req := kmsg.NewPtrExpireDelegationTokenRequest()
				req.HMAC, req.ExpiryPeriodMillis = h, *period
				resp, err := send(ctx, a, req, "expire token")
				if err != nil {
					return err
				}
				code, expiry = resp.ErrorCode, resp.ExpiryTimestamp
			}
			if err := kerr.ErrorForCode(code); err != nil {
				return fmt.Errorf("%s: %w", cmd, err)
			}
			out := struct {
				ExpiryDate string `json:"expiry_date"`
			}{tokenTime(expiry)}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "expiry date: %s\n", out.ExpiryDate)
			})
		}
	}
}

func tokenDescribeCmd(fs *flag.FlagSet) runFunc {
	var owners listFlag
	fs.Var(&owners, "owner-principal", "only tokens this principal owns, requested or renews (User:name), repeatable; default: every token you may see")
	return func(ctx context.Context, a *app, _ []string) error {
		req := kmsg.NewPtrDescribeDelegationTokenRequest()
		for _, o := range owners {
			typ, name, err := splitPrincipalFlag("token describe", "owner-principal", o)
			if err != nil {
				return err
			}
			ow := kmsg.NewDescribeDelegationTokenRequestOwner()
			ow.PrincipalType, ow.PrincipalName = typ, name
			req.Owners = append(req.Owners, ow)
		}
		resp, err := send(ctx, a, req, "describe tokens")
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("describe tokens: %w", err)
		}
		rows := []tokenRow{}
		for _, d := range resp.TokenDetails {
			r := tokenRow{TokenID: d.TokenID, HMAC: base64.StdEncoding.EncodeToString(d.HMAC), Owner: d.PrincipalType + ":" + d.PrincipalName,
				Renewers: []string{}, Issued: tokenTime(d.IssueTimestamp), Expiry: tokenTime(d.ExpiryTimestamp), Max: tokenTime(d.MaxTimestamp)}
			if d.TokenRequesterPrincipalName != "" {
				r.Requester = d.TokenRequesterPrincipalType + ":" + d.TokenRequesterPrincipalName
			}
			for _, rn := range d.Renewers {
				r.Renewers = append(r.Renewers, rn.PrincipalType+":"+rn.PrincipalName)
			}
			rows = append(rows, r)
		}
		return a.emitTokens(rows)
	}
}
