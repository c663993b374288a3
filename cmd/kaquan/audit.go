package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/kaquan/kaquan"
)

var errAuditFailed = errors.New("audit failed")

// acksMax bounds the acknowledged payments one audit checks.
const acksMax = 10_000_000

// dataFolders is a repeatable --data.
type dataFolders []string

func (d *dataFolders) String() string { return strings.Join(*d, ",") }

func (d *dataFolders) Set(v string) error {
	*d = append(*d, v)
	return nil
}

func (m Main) audit(ctx context.Context, args []string) error {
	fs := m.newFlags("audit")
	var folders dataFolders
	fs.Var(&folders, "data", "data folder (default kaquan-data); given once per node, the folders of every node of one cluster, audited together")
	acks := fs.String("expect-acks", "", "file of acknowledgements, one per line, that must hold: payment keys (complete), gift:CARD:SEQ:TO, claim:CARD:CLAIMER, reward:SHARER:USE (as bench --ack-log writes them)")
	asJSON := fs.Bool("json", false, "print the report as one JSON line")
	verbose := fs.Bool("v", false, "log engine activity")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(folders) == 0 {
		folders = dataFolders{"kaquan-data"}
	}
	for _, dir := range folders {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("data folder: %w", err)
		}
	}
	if len(folders) > 1 {
		return m.auditCluster(ctx, folders, *acks, *asJSON, m.logger(*verbose))
	}
	opts := kaquan.DefaultOptions()
	opts.Logger = m.logger(*verbose)
	e, r, err := openAudited(ctx, folders[0], opts)
	if err != nil {
		return err
	}
	defer e.Close()
	checked := 0
	if *acks != "" {
		keys, err := readAcks(*acks)
		if err != nil {
			return err
		}
		checked = len(keys)
		if err := e.CheckAcks(ctx, r, keys); err != nil {
			return err
		}
	}
	if *asJSON {
		b, _ := json.Marshal(struct {
			*kaquan.AuditReport
			AcksChecked int  `json:"acks_checked"`
			OK          bool `json:"ok"`
		}{r, checked, r.OK()})
		fmt.Fprintln(m.Stdout, string(b))
	} else {
		fmt.Fprintln(m.Stdout, r)
		if *acks != "" {
			fmt.Fprintf(m.Stdout, "acknowledged payments checked: %d\n", checked)
		}
		for _, p := range r.Problems {
			fmt.Fprintln(m.Stdout, "problem:", p)
		}
	}
	if !r.OK() {
		return fmt.Errorf("%w: %d problems", errAuditFailed, r.ProblemCount)
	}
	return nil
}

// auditCluster audits the folders of every node of a cluster together (kaquan.AuditCluster).
// It opens no engine, so it resumes no interrupted payment: one left is a problem, as one that a
// single node's recovery left is.
func (m Main) auditCluster(ctx context.Context, folders []string, acks string, asJSON bool, logger *slog.Logger) error {
	var keys []string
	if acks != "" {
		var err error
		if keys, err = readAcks(acks); err != nil {
			return err
		}
	}
	r, err := kaquan.AuditCluster(ctx, folders, keys, logger)
	if err != nil {
		return err
	}
	if r.InFlightCount > 0 {
		p := fmt.Sprintf("%d payments half-done: the audit resumes none (each node resumes its own, with its peers); start the cluster, let it finish them, then audit again", r.InFlightCount)
		r.ProblemCount++
		r.Problems = append(r.Problems, p)
		r.Cluster.ProblemCount++
		r.Cluster.Problems = append(r.Cluster.Problems, p)
	}
	if asJSON {
		b, _ := json.Marshal(struct {
			*kaquan.ClusterAuditReport
			AcksChecked int  `json:"acks_checked"`
			OK          bool `json:"ok"`
		}{r, len(keys), r.OK()})
		fmt.Fprintln(m.Stdout, string(b))
	} else {
		for _, n := range r.Cluster.Nodes {
			fmt.Fprintf(m.Stdout, "node %d (%s): %s\n", n.Node, n.Data, n.AuditReport)
		}
		fmt.Fprintln(m.Stdout, r)
		if acks != "" {
			fmt.Fprintf(m.Stdout, "acknowledged payments checked: %d\n", len(keys))
		}
		for _, p := range r.Problems {
			fmt.Fprintln(m.Stdout, "problem:", p)
		}
	}
	if !r.OK() {
		return fmt.Errorf("%w: %d problems", errAuditFailed, r.ProblemCount)
	}
	return nil
}

// openAudited opens the data folder, which resolves interrupted payments first, and audits it; a
// payment still half-done after that recovery is a problem too. The caller closes the engine.
func openAudited(ctx context.Context, data string, opts kaquan.Options) (*kaquan.Engine, *kaquan.AuditReport, error) {
	e, err := kaquan.Open(data, opts)
	if err != nil {
		return nil, nil, err
	}
	r, err := e.Audit(ctx)
	if err != nil {
		return nil, nil, errors.Join(err, e.Close())
	}
	if r.InFlightCount > 0 {
		r.ProblemCount++
		r.Problems = append(r.Problems, fmt.Sprintf("%d payments half-done after recovery", r.InFlightCount))
	}
	return e, r, nil
}

// readAcks reads an ack log; a last line cut short by a crash is ignored.
func readAcks(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("acks: %w", err)
	}
	defer f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acks: %w", err)
	}
	complete := string(data)
	if i := strings.LastIndexByte(complete, '\n'); i >= 0 {
		complete = complete[:i+1]
	} else {
		complete = ""
	}
	var keys []string
	sc := bufio.NewScanner(strings.NewReader(complete))
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" {
			if len(keys) >= acksMax {
				return nil, fmt.Errorf("acks: more than %d lines", acksMax)
			}
			keys = append(keys, k)
		}
	}
	return keys, sc.Err()
}
