package main

import (
	"fmt"
	"strconv"
	"strings"
)

// table is one Markdown table of a report.
type table struct {
	heading string // the text of the nearest heading above it, without the #s
	header  []string
	rows    [][]string
}

// parseTables returns the tables of md in order. A table is a run of lines
// starting with "|" whose second line is the delimiter row.
func parseTables(md string) []table {
	var out []table
	heading := ""
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "#") {
			heading = strings.TrimSpace(strings.TrimLeft(l, "#"))
			continue
		}
		if !strings.HasPrefix(l, "|") || i+1 >= len(lines) || !isDelimiter(lines[i+1]) {
			continue
		}
		t := table{heading: heading, header: cells(l)}
		i += 2
		for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
			t.rows = append(t.rows, cells(lines[i]))
		}
		out = append(out, t)
	}
	return out
}

func isDelimiter(l string) bool {
	if !strings.HasPrefix(l, "|") {
		return false
	}
	for _, c := range cells(l) {
		if strings.Trim(c, ":-") != "" || c == "" {
			return false
		}
	}
	return true
}

// cells splits a table line into its trimmed cells; `\|` is a pipe inside
// a cell.
func cells(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(l, "|")
	l = strings.TrimSuffix(l, "|")
	var out []string
	var cur strings.Builder
	for i := 0; i < len(l); i++ {
		switch {
		case l[i] == '\\' && i+1 < len(l) && l[i+1] == '|':
			cur.WriteByte('|')
			i++
		case l[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(l[i])
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// find returns the first table whose heading starts with prefix.
func find(ts []table, prefix string) (table, error) {
	for _, t := range ts {
		if strings.HasPrefix(t.heading, prefix) {
			return t, nil
		}
	}
	return table{}, fmt.Errorf("no table under a heading %q", prefix)
}

// row returns the row whose first cell, with bold marks removed, is label.
func (t table) row(label string) ([]string, error) {
	for _, r := range t.rows {
		if len(r) > 0 && unbold(r[0]) == label {
			return r, nil
		}
	}
	return nil, fmt.Errorf("table %q has no row %q", t.heading, label)
}

// col returns the index of the column named name; "#N" is column N.
func (t table) col(name string) (int, error) {
	if n, ok := strings.CutPrefix(name, "#"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < len(t.header) {
			return i, nil
		}
	}
	for i, h := range t.header {
		if h == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("table %q has no column %q", t.heading, name)
}

// cell returns the cell of row label and column name, bold marks removed.
func (t table) cell(label, name string) (string, error) {
	r, err := t.row(label)
	if err != nil {
		return "", err
	}
	c, err := t.col(name)
	if err != nil {
		return "", err
	}
	if c >= len(r) {
		return "", fmt.Errorf("table %q, row %q: no cell in column %q", t.heading, label, name)
	}
	return unbold(r[c]), nil
}

func unbold(s string) string { return strings.TrimSpace(strings.ReplaceAll(s, "**", "")) }

// number parses a figure as the reports print it ("1,842", "0.867").
func number(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return f, nil
}

// markdown renders a table.
func markdown(header []string, align string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for i := range header {
		if i > 0 && i < len(align) && align[i] == 'r' {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		esc := make([]string, len(r))
		for i, c := range r {
			esc[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(esc, " | ") + " |\n")
	}
	return b.String()
}
