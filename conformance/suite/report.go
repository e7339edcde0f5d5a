package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// familyNames are the section titles of the Autobahn report, plus the
// suite's own W family.
var familyNames = map[string]string{
	"1": "Framing", "2": "Pings/Pongs", "3": "Reserved Bits", "4": "Opcodes",
	"5": "Fragmentation", "6": "UTF-8 Handling", "7": "Close Handling",
	"9": "Limits/Performance", "10": "Misc", "12": "Compression (payloads)",
	"13": "Compression (parameters)", "W": "wsio extras (not Autobahn)",
}

// FamilySummary counts the outcomes of one case family.
type FamilySummary struct {
	// Family is the leading id component, such as "6".
	Family string
	// Name is the family title.
	Name string
	// Cases is the number of cases.
	Cases int
	// Counts maps each outcome to its number of cases.
	Counts map[Outcome]int
}

func familyOf(id string) string {
	f, _, _ := strings.Cut(id, ".")
	return f
}

// Summarize groups results by family in order of first appearance.
func Summarize(results []*Result) []FamilySummary {
	var out []FamilySummary
	idx := map[string]int{}
	for _, r := range results {
		f := familyOf(r.ID)
		i, ok := idx[f]
		if !ok {
			i = len(out)
			idx[f] = i
			out = append(out, FamilySummary{Family: f, Name: familyNames[f], Counts: map[Outcome]int{}})
		}
		out[i].Cases++
		out[i].Counts[r.Outcome]++
	}
	return out
}

// CountFailed returns the number of FAILED results.
func CountFailed(results []*Result) int {
	n := 0
	for _, r := range results {
		if r.Outcome == Failed {
			n++
		}
	}
	return n
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Markdown renders the report: a per-family summary table followed by every
// case that is not OK with its reason.
func Markdown(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# WebSocket conformance: %s (suite role: %s)\n\n", rep.Agent, rep.Role)
	if rep.Quick {
		fmt.Fprintf(&b, "Quick mode: the 9.* message sizes are divided by 16; the 12.* and 13.* cases send %d messages instead of %d.\n\n", compressionQuickCount, compressionCount)
	}
	b.WriteString("| Family | Cases | OK | NON-STRICT | INFORMATIONAL | UNIMPLEMENTED | FAILED |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	total := FamilySummary{Counts: map[Outcome]int{}}
	for _, f := range Summarize(rep.Results) {
		fmt.Fprintf(&b, "| %s %s | %d | %d | %d | %d | %d | %d |\n", f.Family, f.Name, f.Cases,
			f.Counts[OK], f.Counts[NonStrict], f.Counts[Informational], f.Counts[Unimplemented], f.Counts[Failed])
		total.Cases += f.Cases
		for k, v := range f.Counts {
			total.Counts[k] += v
		}
	}
	fmt.Fprintf(&b, "| **Total** | %d | %d | %d | %d | %d | %d |\n\n", total.Cases,
		total.Counts[OK], total.Counts[NonStrict], total.Counts[Informational], total.Counts[Unimplemented], total.Counts[Failed])

	var notOK []*Result
	unimpl := 0
	for _, r := range rep.Results {
		switch r.Outcome {
		case OK:
		case Unimplemented:
			unimpl++
		default:
			notOK = append(notOK, r)
		}
	}
	if len(notOK) == 0 {
		b.WriteString("Every case that ran is OK.\n")
	} else {
		b.WriteString("## Cases that are not OK\n\n| Case | Outcome | Close | Close code | ms | Reason |\n|---|---|---|---|---:|---|\n")
		for _, r := range notOK {
			code := "-"
			if r.CloseCode != nil {
				code = fmt.Sprint(*r.CloseCode)
			}
			reason := r.Reason
			if r.BehaviorClose != CloseOK && r.BehaviorClose != CloseInformational && !strings.Contains(reason, r.ReasonClose) {
				reason += " / close: " + r.ReasonClose
			}
			if len(r.Details) > 0 {
				reason += " / " + strings.Join(r.Details, "; ")
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s |\n", r.ID, r.Outcome, r.BehaviorClose, code, r.DurationMS, mdEscape(reason))
		}
	}
	if unimpl > 0 {
		fmt.Fprintf(&b, "\n%d cases are UNIMPLEMENTED and were not run: the peer did not negotiate permessage-deflate (12.*, 13.*).\n", unimpl)
	}
	var timed []*Result
	for _, r := range rep.Results {
		if r.ReportTime && r.Outcome != Unimplemented {
			timed = append(timed, r)
		}
	}
	if len(timed) > 0 {
		b.WriteString("\n## Timings\n\n| Case | Outcome | ms |\n|---|---|---:|\n")
		for _, r := range timed {
			fmt.Fprintf(&b, "| %s | %s | %d |\n", r.ID, r.Outcome, r.DurationMS)
		}
	}
	return b.String()
}

// WriteReports writes index.json and index.md into dir, creating it.
func WriteReports(dir string, rep *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating report folder: %w", err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), js, 0o644); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.md"), []byte(Markdown(rep)), 0o644); err != nil {
		return fmt.Errorf("writing Markdown report: %w", err)
	}
	return nil
}

// DefaultReportDir returns reports/<role>-<agent> under base, with the agent
// name reduced to safe characters. An empty base means the conformance
// folder: "conformance" when run from the repository root, else ".".
func DefaultReportDir(base, role, agent string) string {
	if base == "" {
		base = "."
		if _, err := os.Stat(filepath.Join("conformance", "go.mod")); err == nil {
			base = "conformance"
		}
	}
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, agent)
	return filepath.Join(base, "reports", role+"-"+safe)
}
