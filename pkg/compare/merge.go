package compare

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Parse reads a report and checks its schema.
func Parse(data []byte) (*Report, error) {
	var probe struct {
		Schema string `json:"schema"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("compare: not a JSON report: %w", err)
	}
	if probe.Schema != Schema {
		return nil, fmt.Errorf("compare: schema %q, want %q", probe.Schema, Schema)
	}
	rep := &Report{}
	if err := json.Unmarshal(data, rep); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.ID != r.RowSpec.ID() {
			return nil, fmt.Errorf("compare: row %d: id %q does not match its method, bits, group and calibration (%q)", i+1, r.ID, r.RowSpec.ID())
		}
		if err := r.CheckFinite(); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// Merge joins reports of the same comparison computed in pieces (--shard):
// they must agree on the model, the settings and the evaluated data; rows
// are united (a row present in several must have the same fingerprint) and
// the deltas recomputed over the union.
func Merge(reps []*Report, z float64) (*Report, error) {
	if len(reps) == 0 {
		return nil, fmt.Errorf("compare: nothing to merge")
	}
	out := *reps[0]
	out.Rows = nil
	out.Shard = ""
	out.Interrupted = false
	out.WallSeconds = 0
	seen := map[string]string{}
	for i, r := range reps {
		if r.Model.SHA256 != out.Model.SHA256 || r.Model.Name != out.Model.Name {
			return nil, fmt.Errorf("compare: report %d is of model %s (%.12s), report 1 of %s (%.12s)", i+1, r.Model.Name, r.Model.SHA256, out.Model.Name, out.Model.SHA256)
		}
		if !reflect.DeepEqual(r.Settings, out.Settings) {
			return nil, fmt.Errorf("compare: report %d was run with different settings from report 1", i+1)
		}
		if !reflect.DeepEqual(r.Datasets, out.Datasets) {
			return nil, fmt.Errorf("compare: report %d evaluated different data from report 1", i+1)
		}
		if r.TTQVersion != out.TTQVersion {
			return nil, fmt.Errorf("compare: report %d is from ttq %s, report 1 from %s", i+1, r.TTQVersion, out.TTQVersion)
		}
		out.Interrupted = out.Interrupted || r.Interrupted
		out.WallSeconds += r.WallSeconds
		for _, row := range r.Rows {
			if fp, ok := seen[row.ID]; ok {
				if fp != row.Fingerprint {
					return nil, fmt.Errorf("compare: row %s differs between reports (fingerprints %.12s and %.12s)", row.ID, fp, row.Fingerprint)
				}
				continue
			}
			seen[row.ID] = row.Fingerprint
			out.Rows = append(out.Rows, row)
		}
	}
	SortRows(&out)
	ComputeDeltas(&out, z)
	return &out, nil
}
