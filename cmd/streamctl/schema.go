package main

// schema list|get|register|check|delete: the schema registry's REST API
// (StreamHouse's built-in one, or any Confluent-compatible registry)
// through franz-go's pkg/sr client. --registry names it (env
// STREAMHOUSE_SCHEMA_REGISTRY_URL, default http://127.0.0.1:8081).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"
)

const (
	defaultRegistry = "http://127.0.0.1:8081"
	registryEnv     = "STREAMHOUSE_SCHEMA_REGISTRY_URL"
)

// registryFlag declares --registry on fs; its value is read when the
// command runs.
func registryFlag(fs *flag.FlagSet) *string {
	def := defaultRegistry
	if v := os.Getenv(registryEnv); v != "" {
		def = v
	}
	return fs.String("registry", def, "the schema registry's `URL` (env "+registryEnv+")")
}

func (a *app) registry(url string) (*sr.Client, error) {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	return sr.NewClient(sr.URLs(url), sr.UserAgent("streamctl"))
}

// explainRegistry turns a registry's error answer into one line: its
// message and Confluent's error code.
func explainRegistry(err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%s (error %d)", re.Message, re.ErrorCode)
	}
	return err
}

type schemaRow struct {
	Subject    string               `json:"subject"`
	Version    int                  `json:"version"`
	ID         int                  `json:"id"`
	Type       string               `json:"type"`
	References []sr.SchemaReference `json:"references,omitempty"`
	Schema     string               `json:"schema,omitempty"`
}

func rowOf(s sr.SubjectSchema, withText bool) schemaRow {
	r := schemaRow{Subject: s.Subject, Version: s.Version, ID: s.ID, Type: s.Type.String(), References: s.References}
	if withText {
		r.Schema = s.Schema.Schema
	}
	return r
}

func schemaListCmd(fs *flag.FlagSet) runFunc {
	url := registryFlag(fs)
	prefix := fs.String("prefix", "", "only subjects that start with `PREFIX`")
	deleted := fs.Bool("deleted", false, "include soft-deleted versions")
	return func(ctx context.Context, a *app, _ []string) error {
		cl, err := a.registry(*url)
		if err != nil {
			return err
		}
		params := []sr.Param{sr.SubjectPrefix(*prefix), sr.LatestOnly}
		if *deleted {
			params = append(params, sr.ShowDeleted)
		}
		all, err := cl.AllSchemas(sr.WithParams(ctx, params...))
		if err != nil {
			return explainRegistry(err)
		}
		out := []schemaRow{}
		for _, s := range all {
			out = append(out, rowOf(s, false))
		}
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "SUBJECT", "LATEST", "ID", "TYPE")
			for _, r := range out {
				row(tw, r.Subject, r.Version, r.ID, r.Type)
			}
			tw.Flush()
		})
	}
}

func schemaGetCmd(fs *flag.FlagSet) runFunc {
	url := registryFlag(fs)
	version := fs.String("version", "latest", "the subject's `VERSION`: a number or latest")
	id := fs.Int("id", 0, "get the schema with this `ID` instead of a subject's")
	deleted := fs.Bool("deleted", false, "a soft-deleted version too")
	return func(ctx context.Context, a *app, args []string) error {
		cl, err := a.registry(*url)
		if err != nil {
			return err
		}
		if *deleted {
			ctx = sr.WithParams(ctx, sr.ShowDeleted)
		}
		var out schemaRow
		switch {
		case *id > 0:
			if len(args) > 0 {
				return usagef("schema get", "schema get: give a SUBJECT or --id, not both")
			}
			s, err := cl.SchemaByID(ctx, *id)
			if err != nil {
				return explainRegistry(err)
			}
			out = rowOf(sr.SubjectSchema{ID: *id, Schema: s}, true)
		case len(args) == 1:
			v := -1
			if *version != "latest" {
				if v, err = strconv.Atoi(*version); err != nil || v < 1 {
					return usagef("schema get", "--version must be a positive number or latest, not %q", *version)
				}
			}
			s, err := cl.SchemaByVersion(ctx, args[0], v)
			if err != nil {
				return explainRegistry(err)
			}
			out = rowOf(s, true)
		default:
			return usagef("schema get", "schema get: give a SUBJECT or --id")
		}
		return a.emit(out, func(w io.Writer) {
			if out.Subject != "" {
				fmt.Fprintf(w, "subject %s version %d id %d type %s\n", out.Subject, out.Version, out.ID, out.Type)
			} else {
				fmt.Fprintf(w, "id %d type %s\n", out.ID, out.Type)
			}
			for _, r := range out.References {
				fmt.Fprintf(w, "reference %s: subject %s version %d\n", r.Name, r.Subject, r.Version)
			}
			fmt.Fprintln(w, out.Schema)
		})
	}
}

// schemaInput declares the flags that give a schema: its text (--schema,
// --file, or standard input), --type and --reference.
type schemaInput struct {
	text, file, typ string
	refs            kvFlag
}

func (in *schemaInput) declare(fs *flag.FlagSet) {
	fs.StringVar(&in.text, "schema", "", "the schema's `TEXT`")
	fs.StringVar(&in.file, "file", "", "read the schema from `FILE` (-: standard input; default when --schema is not given)")
	fs.StringVar(&in.typ, "type", "AVRO", "the schema's `TYPE`: AVRO, JSON or PROTOBUF")
	fs.Var(&in.refs, "reference", "a reference `NAME=SUBJECT:VERSION` (repeatable)")
}

func (in *schemaInput) schema(a *app, cmd string) (sr.Schema, error) {
	var s sr.Schema
	text := in.text
	switch {
	case text != "" && in.file != "":
		return s, usagef(cmd, "give --schema or --file, not both")
	case text == "" && (in.file == "" || in.file == "-"):
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return s, err
		}
		text = string(b)
	case text == "":
		b, err := os.ReadFile(in.file)
		if err != nil {
			return s, err
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		return s, usagef(cmd, "the schema is empty")
	}
	if err := s.Type.UnmarshalText([]byte(strings.ToUpper(in.typ))); err != nil {
		return s, usagef(cmd, "--type must be AVRO, JSON or PROTOBUF, not %q", in.typ)
	}
	s.Schema = text
	for _, r := range in.refs {
		name, rest, ok1 := strings.Cut(r, "=")
		subject, ver, ok2 := strings.Cut(rest, ":")
		v, err := strconv.Atoi(ver)
		if !ok1 || !ok2 || err != nil || name == "" || subject == "" {
			return s, usagef(cmd, "--reference must be NAME=SUBJECT:VERSION, not %q", r)
		}
		s.References = append(s.References, sr.SchemaReference{Name: name, Subject: subject, Version: v})
	}
	return s, nil
}

func schemaRegisterCmd(fs *flag.FlagSet) runFunc {
	url := registryFlag(fs)
	var in schemaInput
	in.declare(fs)
	normalize := fs.Bool("normalize", false, "normalize the schema before registering it")
	return func(ctx context.Context, a *app, args []string) error {
		s, err := in.schema(a, "schema register")
		if err != nil {
			return err
		}
		cl, err := a.registry(*url)
		if err != nil {
			return err
		}
		if *normalize {
			ctx = sr.WithParams(ctx, sr.Normalize)
		}
		got, err := cl.CreateSchema(ctx, args[0], s)
		if err != nil {
			return explainRegistry(err)
		}
		out := rowOf(got, false)
		return a.emit(out, func(w io.Writer) {
			fmt.Fprintf(w, "subject %s version %d id %d\n", out.Subject, out.Version, out.ID)
		})
	}
}

type checkResult struct {
	Subject    string   `json:"subject"`
	Version    string   `json:"version"`
	Compatible bool     `json:"compatible"`
	Messages   []string `json:"messages"`
}

func schemaCheckCmd(fs *flag.FlagSet) runFunc {
	url := registryFlag(fs)
	var in schemaInput
	in.declare(fs)
	version := fs.String("version", "all", "check against `VERSION` (a number or latest), or all: what registering would check")
	return func(ctx context.Context, a *app, args []string) error {
		s, err := in.schema(a, "schema check")
		if err != nil {
			return err
		}
		v := -2
		switch *version {
		case "all":
		case "latest":
			v = -1
		default:
			if v, err = strconv.Atoi(*version); err != nil || v < 1 {
				return usagef("schema check", "--version must be a positive number, latest or all, not %q", *version)
			}
		}
		cl, err := a.registry(*url)
		if err != nil {
			return err
		}
		res, err := cl.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), args[0], v, s)
		if err != nil {
			return explainRegistry(err)
		}
		out := checkResult{Subject: args[0], Version: *version, Compatible: res.Is, Messages: res.Messages}
		if out.Messages == nil {
			out.Messages = []string{}
		}
		if err := a.emit(out, func(w io.Writer) {
			if out.Compatible {
				fmt.Fprintf(w, "compatible with %s of subject %s\n", *version, out.Subject)
				return
			}
			fmt.Fprintf(w, "NOT compatible with %s of subject %s\n", *version, out.Subject)
			for _, m := range out.Messages {
				fmt.Fprintln(w, "  "+m)
			}
		}); err != nil {
			return err
		}
		if !out.Compatible {
			return errors.New("the schema is not compatible")
		}
		return nil
	}
}

func schemaDeleteCmd(fs *flag.FlagSet) runFunc {
	url := registryFlag(fs)
	version := fs.String("version", "", "delete this `VERSION` (a number or latest) only; default: the whole subject")
	permanent := fs.Bool("permanent", false, "delete permanently (what was soft-deleted before)")
	return func(ctx context.Context, a *app, args []string) error {
		cl, err := a.registry(*url)
		if err != nil {
			return err
		}
		how := sr.SoftDelete
		if *permanent {
			how = sr.HardDelete
		}
		var deleted []int
		if *version == "" {
			if deleted, err = cl.DeleteSubject(ctx, args[0], how); err != nil {
				return explainRegistry(err)
			}
		} else {
			v := -1
			if *version != "latest" {
				if v, err = strconv.Atoi(*version); err != nil || v < 1 {
					return usagef("schema delete", "--version must be a positive number or latest, not %q", *version)
				}
			}
			if err := cl.DeleteSchema(ctx, args[0], v, how); err != nil {
				return explainRegistry(err)
			}
			if v > 0 {
				deleted = []int{v}
			}
		}
		if deleted == nil {
			deleted = []int{}
		}
		out := map[string]any{"subject": args[0], "versions": deleted, "permanent": *permanent}
		return a.emit(out, func(w io.Writer) {
			kind := "soft-deleted"
			if *permanent {
				kind = "permanently deleted"
			}
			fmt.Fprintf(w, "%s subject %s versions %v\n", kind, args[0], deleted)
		})
	}
}
