package bench

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// AddToReport stores r in dir (one JSON file per run) and rewrites dir/report.html and its charts
// (throughput over time, latency percentiles, throughput side by side) from every run stored there,
// so runs of kaquan and of the baselines (which write the same JSON) land on one page. It returns
// the page's path.
func AddToReport(dir string, r *Result) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if r.System == "" {
		r.System = "kaquan"
	}
	if r.Started == "" {
		r.Started = time.Now().UTC().Format(time.RFC3339)
	}
	name := fmt.Sprintf("%s-%s-%s.json", r.Scenario, r.label(), strings.NewReplacer(":", "", "-", "").Replace(r.Started))
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, sanitize(name)), b, 0o644); err != nil {
		return "", err
	}
	runs, err := loadRuns(dir)
	if err != nil {
		return "", err
	}
	charts := map[string][]byte{}
	for name, draw := range map[string]func([]*Result) (*plot.Plot, error){
		"throughput.png": throughputChart, "latency.png": latencyChart, "comparison.png": comparisonChart,
		"comparison-sales.png": salesChart,
	} {
		p, err := draw(runs)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		var buf bytes.Buffer
		w, err := p.WriterTo(18*vg.Centimeter, 10*vg.Centimeter, "png")
		if err != nil {
			return "", err
		}
		if _, err := w.WriteTo(&buf); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return "", err
		}
		charts[name] = buf.Bytes()
	}
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		return "", err
	}
	defer f.Close()
	img := func(name string) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(charts[name]))
	}
	err = reportPage.Execute(f, map[string]any{"Runs": runs, "Throughput": img("throughput.png"),
		"Latency": img("latency.png"), "Comparison": img("comparison.png"), "Sales": img("comparison-sales.png")})
	return page, err
}

// label names a run in charts and files: the system, and where or how it ran.
func (r *Result) label() string {
	switch {
	case r.Target != "":
		return r.System + "-network"
	case r.Durability != "":
		return r.System + "-" + r.Durability
	}
	return r.System
}

func sanitize(name string) string {
	return strings.Map(func(c rune) rune {
		if c == '/' || c == ' ' || c == '\\' {
			return '_'
		}
		return c
	}, name)
}

func loadRuns(dir string) ([]*Result, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var runs []*Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := &Result{}
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Started < runs[j].Started })
	return runs, nil
}

func runName(r *Result) string { return r.Scenario + " " + r.label() }

func throughputChart(runs []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = "Throughput over time", "seconds", "operations/s"
	p.Y.Min = 0
	var lines []any
	for _, r := range runs {
		pts := make(plotter.XYs, len(r.Timeline))
		for i, v := range r.Timeline {
			pts[i] = plotter.XY{X: float64(i + 1), Y: v}
		}
		lines = append(lines, runName(r), pts)
	}
	return p, plotutil.AddLines(p, lines...)
}

func latencyChart(runs []*Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = "Latency percentiles", "ms"
	w := vg.Points(8)
	for i, q := range []struct {
		name string
		v    func(*Result) float64
	}{{"p50", func(r *Result) float64 { return r.P50Ms }}, {"p99", func(r *Result) float64 { return r.P99Ms }},
		{"p99.9", func(r *Result) float64 { return r.P999Ms }}} {
		vals := make(plotter.Values, len(runs))
		for j, r := range runs {
			vals[j] = q.v(r)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color, bars.Offset = plotutil.Color(i), vg.Length(i-1)*w
		p.Add(bars)
		p.Legend.Add(q.name, bars)
	}
	p.Legend.Top = true
	p.NominalX(names(runs)...)
	return p, nil
}

// comparisonChart sets every run but the flash sales side by side (operations per second), and
// salesChart the flash sales (claims per second): on one axis the sales' claims, ten to a hundred
// times the payments, flattened the payments' bars to nothing.
func comparisonChart(runs []*Result) (*plot.Plot, error) {
	return sideBySide(runs, func(r *Result) bool { return r.SaleAttemptsPerS == 0 }, "Operations per second, side by side (flash sales apart)")
}

func salesChart(runs []*Result) (*plot.Plot, error) {
	return sideBySide(runs, func(r *Result) bool { return r.SaleAttemptsPerS > 0 }, "Flash sales: claims per second, side by side")
}

// sideBySide draws the headline figure of the runs that pick selects, named by their number in the
// report's table, kaquan's bars in one colour and the baselines' in another.
func sideBySide(runs []*Result, pick func(*Result) bool, title string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = title, "per second"
	var ours, theirs plotter.Values
	var labels []string
	for i, r := range runs {
		if !pick(r) {
			continue
		}
		v := headline(r)
		if r.System == "kaquan" {
			ours, theirs = append(ours, v), append(theirs, 0)
		} else {
			ours, theirs = append(ours, 0), append(theirs, v)
		}
		labels = append(labels, fmt.Sprint(i+1))
	}
	if len(labels) == 0 {
		p.Title.Text += ": no runs"
		return p, nil
	}
	for i, vals := range []plotter.Values{ours, theirs} {
		bars, err := plotter.NewBarChart(vals, vg.Points(20))
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(i)
		p.Add(bars)
		p.Legend.Add([]string{"kaquan", "baselines"}[i], bars)
	}
	p.Legend.Top = true
	if top := max(slices.Max(ours), slices.Max(theirs)); top > 0 {
		p.Y.Max = 1.15 * top // room for the legend above the bars
	}
	p.NominalX(labels...)
	return p, nil
}

// names label the runs by their number in the report's table (full names would overlap).
func names(runs []*Result) []string {
	out := make([]string, len(runs))
	for i := range runs {
		out[i] = fmt.Sprint(i + 1)
	}
	return out
}

// headline is a run's figure of merit: claims per second in a flash sale, else operations per second.
func headline(r *Result) float64 {
	if r.SaleAttemptsPerS > 0 {
		return r.SaleAttemptsPerS
	}
	return r.OpsPerS
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>kaquan benchmark report</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eee}</style>
</head><body>
<h1>kaquan benchmark report</h1>
<table><tr><th>#</th><th>started</th><th>scenario</th><th>system</th><th>where</th><th>clients</th><th>ops/s</th><th>transactions/s</th><th>sale claims/s</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>errors</th><th>audit</th></tr>
{{range $i, $r := .Runs}}<tr><td>{{inc $i}}</td><td>{{$r.Started}}</td><td>{{$r.Scenario}}</td><td>{{$r.System}}</td><td>{{if $r.Target}}{{$r.Target}}{{else}}{{$r.Durability}}{{end}}</td><td>{{$r.Concurrency}}</td>
<td>{{printf "%.0f" $r.OpsPerS}}</td><td>{{if $r.TransactionsPerS}}{{printf "%.0f" $r.TransactionsPerS}}{{end}}</td><td>{{if $r.SaleAttemptsPerS}}{{printf "%.0f" $r.SaleAttemptsPerS}}{{end}}</td><td>{{$r.P50Ms}}</td><td>{{$r.P99Ms}}</td><td>{{$r.P999Ms}}</td><td>{{$r.Errors}}</td><td>{{if $r.AuditOK}}held{{else}}FAILED{{end}}</td></tr>
{{end}}</table>
<p>The charts name runs by their number in this table.</p>
<h2>Throughput over time</h2><img src="{{.Throughput}}" alt="throughput over time">
<h2>Latency percentiles</h2><img src="{{.Latency}}" alt="latency percentiles">
<h2>Throughput, side by side</h2><img src="{{.Comparison}}" alt="throughput side by side">
<h2>Flash sales, side by side</h2><img src="{{.Sales}}" alt="flash-sale claims side by side">
</body></html>
`))
