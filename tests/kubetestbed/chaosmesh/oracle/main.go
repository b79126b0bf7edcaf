// Command oracle judges Chaos Mesh objects with Chaos Mesh's own webhook code: the defaulting
// and validation of the chaos-mesh `api` module (what its admission webhooks run), so the
// differential test in tests/kube_diff can compare them with Aftershock's crd_rules.py.
//
// Protocol: one JSON object per line on stdin; one JSON verdict per line on stdout:
//
//	{"ok": true, "defaulted": {...}}          defaulted object, as the mutating webhook leaves it
//	{"ok": false, "error": "...", "defaulted": {...}}
//
// Decoding is strict (unknown fields are an error), like a server-side apply with
// fieldValidation=Strict. Test infrastructure only; the product never runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

type verdict struct {
	OK        bool            `json:"ok"`
	Error     string          `json:"error,omitempty"`
	Warnings  []string        `json:"warnings,omitempty"`
	Defaulted json.RawMessage `json:"defaulted,omitempty"`
}

func judge(line []byte) verdict {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return verdict{Error: "not JSON: " + err.Error()}
	}
	kind, found := v1alpha1.AllKinds()[head.Kind]
	if !found {
		return verdict{Error: fmt.Sprintf("unknown kind %q", head.Kind)}
	}
	obj := kind.SpawnObject()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return verdict{Error: "decode: " + err.Error()}
	}
	ctx := context.Background()
	if d, isDefaulter := obj.(webhook.CustomDefaulter); isDefaulter {
		if err := d.Default(ctx, obj); err != nil {
			return verdict{Error: "default: " + err.Error()}
		}
	}
	defaulted, err := json.Marshal(obj)
	if err != nil {
		return verdict{Error: "encode: " + err.Error()}
	}
	v, isValidator := obj.(webhook.CustomValidator)
	if !isValidator {
		return verdict{OK: true, Defaulted: defaulted}
	}
	warnings, err := v.ValidateCreate(ctx, obj)
	out := verdict{OK: err == nil, Warnings: warnings, Defaulted: defaulted}
	if err != nil {
		out.Error = err.Error()
	}
	return out
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		if err := enc.Encode(judge(in.Bytes())); err != nil {
			fmt.Fprintln(os.Stderr, "oracle:", err)
			os.Exit(1)
		}
		if err := out.Flush(); err != nil {
			os.Exit(1)
		}
	}
}
