package track

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The filter language of Query.Filter:
//
//	filter     = or
//	or         = and { "OR" and }
//	and        = not { "AND" not }
//	not        = "NOT" not | "(" or ")" | comparison
//	comparison = field op value
//	field      = ("params." | "metrics." | "tags.") key | attribute
//	attribute  = "id" | "name" | "experiment" | "status" | "start_time" | "end_time" | "note" | "host"
//	op         = "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "LIKE" | "NOT LIKE"
//	value      = string | number | "true" | "false"
//
// Keywords are case-insensitive. Strings are in single or double quotes,
// with backslash escapes (\' \" \\). A key is letters, digits and _ . / : -
// (starting with a letter or _), or a quoted string: params."batch size".
// metrics.K compares the metric's last value. start_time and end_time
// compare with a date string: "2025-01-31", "2025-01-31 14:05" or RFC 3339.
// A comparison on a param, metric or tag that a run lacks is false, for
// != as well. LIKE uses SQL patterns (% and _) and ignores ASCII case.

// FilterError is a syntax or meaning error in a filter or order-by string.
type FilterError struct {
	// Column is the 1-based position (in characters) of the problem.
	Column int
	// Msg says what was wrong.
	Msg string
	// What is "filter" or "order-by".
	What string
}

// Error reads like "filter: column 14: expected value after "<"".
func (e *FilterError) Error() string {
	return fmt.Sprintf("%s: column %d: %s", e.What, e.Column, e.Msg)
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokOp
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string // identifier, operator, number source, or decoded string
	col  int    // 1-based column of the first character
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of filter"
	case tokString:
		return strconv.Quote(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func (t token) is(keyword string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, keyword)
}

// lex splits src into tokens.
func lex(what, src string) ([]token, error) {
	var toks []token
	rs := []rune(src)
	errAt := func(i int, format string, args ...any) error {
		return &FilterError{What: what, Column: i + 1, Msg: fmt.Sprintf(format, args...)}
	}
	readString := func(i int) (string, int, error) {
		quote := rs[i]
		var b strings.Builder
		for j := i + 1; j < len(rs); j++ {
			switch c := rs[j]; {
			case c == '\\' && j+1 < len(rs):
				j++
				b.WriteRune(rs[j])
			case c == quote:
				return b.String(), j + 1, nil
			default:
				b.WriteRune(c)
			}
		}
		return "", 0, errAt(i, "unterminated string starting with %c", quote)
	}
	isIdentStart := func(c rune) bool { return c == '_' || unicode.IsLetter(c) }
	isIdent := func(c rune) bool {
		return isIdentStart(c) || unicode.IsDigit(c) || strings.ContainsRune("./:-", c)
	}
	isDigit := func(i int) bool { return i < len(rs) && rs[i] >= '0' && rs[i] <= '9' }
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i + 1})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i + 1})
			i++
		case c == '\'' || c == '"':
			s, next, err := readString(i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, s, i + 1})
			i = next
		case strings.ContainsRune("=!<>", c):
			op := string(c)
			if i+1 < len(rs) && strings.ContainsRune("=>", rs[i+1]) {
				if two := op + string(rs[i+1]); two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "<>" {
					op = two
				}
			}
			if op == "!" {
				return nil, errAt(i, `unexpected "!" (did you mean "!="?)`)
			}
			toks = append(toks, token{tokOp, op, i + 1})
			i += utf8.RuneCountInString(op)
		case isDigit(i) || ((c == '-' || c == '+' || c == '.') && (isDigit(i+1) || (i+2 < len(rs) && rs[i+1] == '.' && isDigit(i+2)))):
			j := i + 1
			for j < len(rs) {
				d := rs[j]
				if (d >= '0' && d <= '9') || d == '.' {
					j++
				} else if (d == 'e' || d == 'E') && j+1 < len(rs) {
					j++
					if rs[j] == '+' || rs[j] == '-' {
						j++
					}
				} else {
					break
				}
			}
			toks = append(toks, token{tokNumber, string(rs[i:j]), i + 1})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(rs) && isIdent(rs[j]) {
				j++
			}
			text := string(rs[i:j])
			if strings.HasSuffix(text, ".") && j < len(rs) && (rs[j] == '\'' || rs[j] == '"') {
				s, next, err := readString(j)
				if err != nil {
					return nil, err
				}
				text += s
				j = next
			}
			toks = append(toks, token{tokIdent, text, i + 1})
			i = j
		default:
			return nil, errAt(i, "unexpected character %q", c)
		}
	}
	toks = append(toks, token{tokEOF, "", len(rs) + 1})
	return toks, nil
}

// fieldKind says which part of a run a field names.
type fieldKind int

const (
	fieldAttr fieldKind = iota
	fieldParam
	fieldMetric
	fieldTag
)

type field struct {
	kind fieldKind
	key  string // param/metric/tag key, or attribute name
	col  int
}

// attrColumns maps run attributes to SQL columns (r: runs, e: experiments).
var attrColumns = map[string]string{
	"id":         "r.id",
	"name":       "r.name",
	"experiment": "e.name",
	"status":     "r.status",
	"start_time": "r.start_time",
	"end_time":   "r.end_time",
	"note":       "r.note",
	"host":       "r.host",
}

func attrNames() string {
	return "id, name, experiment, status, start_time, end_time, note, host"
}

func parseField(what string, t token) (field, error) {
	if t.kind != tokIdent {
		return field{}, &FilterError{What: what, Column: t.col, Msg: fmt.Sprintf("expected a field (params.KEY, metrics.KEY, tags.KEY or %s), got %s", attrNames(), t)}
	}
	for prefix, kind := range map[string]fieldKind{"params.": fieldParam, "metrics.": fieldMetric, "tags.": fieldTag} {
		if len(t.text) >= len(prefix) && strings.EqualFold(t.text[:len(prefix)], prefix) {
			key := t.text[len(prefix):]
			if key == "" {
				return field{}, &FilterError{What: what, Column: t.col, Msg: fmt.Sprintf("missing key after %q", prefix)}
			}
			return field{kind: kind, key: key, col: t.col}, nil
		}
	}
	name := strings.ToLower(t.text)
	if _, ok := attrColumns[name]; ok {
		return field{kind: fieldAttr, key: name, col: t.col}, nil
	}
	return field{}, &FilterError{What: what, Column: t.col, Msg: fmt.Sprintf("unknown field %q: use params.%s, metrics.%s, tags.%s or one of %s", t.text, t.text, t.text, t.text, attrNames())}
}

// node is a filter syntax tree node.
type node interface {
	// sql is the node's condition in dialect d, appending its bound values
	// to args.
	sql(d dialect, args *[]any) string
}

type logicNode struct {
	op   string // "AND" or "OR"
	l, r node
}

type notNode struct{ x node }

type cmpNode struct {
	f   field
	op  string // SQL operator
	val any    // bound value
}

func (n *logicNode) sql(d dialect, args *[]any) string {
	l := n.l.sql(d, args)
	r := n.r.sql(d, args)
	return "(" + l + " " + n.op + " " + r + ")"
}

func (n *notNode) sql(d dialect, args *[]any) string { return "(NOT " + n.x.sql(d, args) + ")" }

// sql compiles a comparison. A param compares with a number (or a boolean, as
// 0 or 1) when it is a number or a boolean, and with a string when it is a
// string; LIKE matches any param by its text.
func (n *cmpNode) sql(d dialect, args *[]any) string {
	like := strings.HasSuffix(n.op, "LIKE")
	op := func(col string) string {
		if like {
			return col + " " + d.like(n.op)
		}
		return col + " " + n.op + " ?"
	}
	_, isStr := n.val.(string)
	switch n.f.kind {
	case fieldParam:
		cond := ""
		switch {
		case d == dialectSQLite && like:
			cond = op("p.value")
		case d == dialectSQLite && isStr:
			cond = "p.type = 'string' AND " + op("p.value")
		case d == dialectSQLite:
			cond = "p.type <> 'string' AND " + op("p.value")
		case like:
			cond = op("coalesce(p.sval, p.ival::text, p.fval::text)")
		case isStr:
			cond = op(d.text("p.sval"))
		default:
			cast := "::float8"
			if _, ok := n.val.(int64); ok {
				cast = "::bigint"
			}
			*args = append(*args, n.f.key, n.val, n.val)
			return "EXISTS (SELECT 1 FROM params p WHERE p.run = r.seq AND p.key = ? AND (p.ival " + n.op + " ?" + cast +
				" OR p.fval " + n.op + " ?::float8))"
		}
		*args = append(*args, n.f.key, n.val)
		return "EXISTS (SELECT 1 FROM params p WHERE p.run = r.seq AND p.key = ? AND " + cond + ")"
	case fieldMetric:
		col, val := "s.last_value", n.val
		if d == dialectPostgres {
			if like {
				col = "s.last_value::text"
			} else if i, ok := val.(int64); ok {
				val = float64(i)
			}
		}
		*args = append(*args, n.f.key, val)
		return "EXISTS (SELECT 1 FROM series s WHERE s.run = r.seq AND s.key = ? AND " + op(col) + ")"
	case fieldTag:
		*args = append(*args, n.f.key, n.val)
		return "EXISTS (SELECT 1 FROM tags t WHERE t.run = r.seq AND t.key = ? AND " + op(d.text("t.value")) + ")"
	}
	*args = append(*args, n.val)
	col := attrColumns[n.f.key]
	if isStr && !like {
		col = d.text(col)
	}
	return "(" + op(col) + ")"
}

type parser struct {
	what string
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) errf(t token, format string, args ...any) error {
	return &FilterError{What: p.what, Column: t.col, Msg: fmt.Sprintf(format, args...)}
}

// parseFilter parses src into a tree; "" gives nil.
func parseFilter(src string) (node, error) {
	toks, err := lex("filter", src)
	if err != nil {
		return nil, err
	}
	if toks[0].kind == tokEOF {
		return nil, nil
	}
	p := &parser{what: "filter", toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		if t.kind == tokRParen {
			return nil, p.errf(t, `unexpected ")" without a matching "("`)
		}
		return nil, p.errf(t, "expected AND, OR or end of filter, got %s", t)
	}
	return n, nil
}

func (p *parser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().is("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &logicNode{op: "OR", l: l, r: r}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.peek().is("and") {
		p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &logicNode{op: "AND", l: l, r: r}
	}
	return l, nil
}

func (p *parser) not() (node, error) {
	t := p.peek()
	switch {
	case t.is("not"):
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	case t.kind == tokLParen:
		p.next()
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errf(c, `expected ")" to close "(" at column %d, got %s`, t.col, c)
		}
		return x, nil
	}
	return p.comparison()
}

func (p *parser) comparison() (node, error) {
	ft := p.next()
	if ft.kind == tokEOF {
		return nil, p.errf(ft, "expected a comparison, got end of filter")
	}
	f, err := parseField(p.what, ft)
	if err != nil {
		return nil, err
	}
	ot := p.next()
	var op string
	switch {
	case ot.kind == tokOp:
		op = map[string]string{"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[ot.text]
	case ot.is("like"):
		op = "LIKE"
	case ot.is("not") && p.peek().is("like"):
		p.next()
		op = "NOT LIKE"
	default:
		return nil, p.errf(ot, "expected an operator (= != < <= > >= LIKE) after %q, got %s", ft.text, ot)
	}
	vt := p.next()
	var lit any
	switch {
	case vt.kind == tokString:
		lit = vt.text
	case vt.kind == tokNumber:
		if i, err := strconv.ParseInt(vt.text, 10, 64); err == nil {
			lit = i
		} else if x, err := strconv.ParseFloat(vt.text, 64); err == nil {
			lit = x
		} else {
			return nil, p.errf(vt, "bad number %s", vt)
		}
	case vt.is("true"):
		lit = true
	case vt.is("false"):
		lit = false
	default:
		opText := ot.text
		if op == "NOT LIKE" {
			opText = "NOT LIKE"
		}
		return nil, p.errf(vt, "expected value after %q, got %s", opText, vt)
	}
	val, err := p.bindValue(f, op, lit, vt)
	if err != nil {
		return nil, err
	}
	return &cmpNode{f: f, op: op, val: val}, nil
}

// bindValue checks that the literal suits the field and operator and turns it
// into the value bound in SQL.
func (p *parser) bindValue(f field, op string, lit any, vt token) (any, error) {
	_, isStr := lit.(string)
	if strings.HasSuffix(op, "LIKE") && !isStr {
		return nil, p.errf(vt, "LIKE needs a string pattern, got %s", vt)
	}
	if b, ok := lit.(bool); ok {
		if f.kind == fieldTag || f.kind == fieldAttr {
			return strconv.FormatBool(b), nil
		}
		if b {
			return int64(1), nil
		}
		return int64(0), nil
	}
	switch f.kind {
	case fieldParam:
		return lit, nil
	case fieldMetric:
		if isStr && !strings.HasSuffix(op, "LIKE") {
			return nil, p.errf(vt, "metrics.%s holds numbers; got string %s", f.key, vt)
		}
		return lit, nil
	case fieldTag:
		if !isStr {
			return vt.text, nil // tags are text: compare with the number as written
		}
		return lit, nil
	}
	switch f.key {
	case "start_time", "end_time":
		if strings.HasSuffix(op, "LIKE") {
			return nil, p.errf(vt, "%s does not support LIKE; compare with a date such as \"2025-01-31\"", f.key)
		}
		s, ok := lit.(string)
		if !ok {
			return nil, p.errf(vt, "%s compares with a date string such as \"2025-01-31\" or RFC 3339, got %s", f.key, vt)
		}
		t, err := parseTime(s)
		if err != nil {
			return nil, p.errf(vt, "%s: %v", f.key, err)
		}
		return clampUnixNano(t), nil
	case "status":
		s, ok := lit.(string)
		if !ok {
			return nil, p.errf(vt, "status compares with a string (%s), got %s", statusNames(), vt)
		}
		if !strings.HasSuffix(op, "LIKE") && !validStatus(Status(s)) {
			return nil, p.errf(vt, "unknown status %q (allowed: %s)", s, statusNames())
		}
		return s, nil
	}
	if !isStr {
		return vt.text, nil
	}
	return lit, nil
}

func validStatus(s Status) bool {
	for _, v := range allStatuses {
		if s == v {
			return true
		}
	}
	return false
}

func statusNames() string {
	names := make([]string, len(allStatuses))
	for i, s := range allStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// clampUnixNano is t.UnixNano(), saturated at the ends of int64 (years
// 1678 and 2262) instead of overflowing.
func clampUnixNano(t time.Time) int64 {
	switch {
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	}
	return t.UnixNano()
}

// parseTime accepts RFC 3339 and the shorter forms people type; times
// without a zone are in local time.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time (want \"2025-01-31\", \"2025-01-31 14:05\" or RFC 3339)", s)
}

// orderBy is a parsed Query.OrderBy.
type orderBy struct {
	f    field // kind fieldAttr with key "" for newest first
	desc bool
}

// clause is the ORDER BY clause and its bound values in dialect d: runs that
// lack the key last, then by the value (numbers before strings, strings
// bytewise), then by creation.
func (o orderBy) clause(d dialect) (string, []any) {
	dir := " ASC"
	if o.desc {
		dir = " DESC"
	}
	sub := func(col, table string) string {
		return "(SELECT " + col + " FROM " + table + " WHERE x.run = r.seq AND x.key = ?)"
	}
	one := func(expr string, args ...any) (string, []any) {
		return " ORDER BY (" + expr + ") IS NULL, " + expr + dir + ", r.seq" + dir, append(args, args...)
	}
	switch o.f.kind {
	case fieldParam:
		if d == dialectPostgres {
			num, txt := sub("coalesce(x.fval, x.ival::float8)", "params x"), sub("x.sval", "params x")
			k := o.f.key
			return " ORDER BY (" + num + " IS NULL AND " + txt + " IS NULL), " + num + dir + ", " + d.text(txt) + dir + ", r.seq" + dir,
				[]any{k, k, k, k}
		}
		return one(sub("x.value", "params x"), o.f.key)
	case fieldMetric:
		return one(sub("x.last_value", "series x"), o.f.key)
	case fieldTag:
		return one(d.text(sub("x.value", "tags x")), o.f.key)
	}
	if o.f.key == "" {
		return " ORDER BY r.start_time" + dir + ", r.seq" + dir, nil
	}
	col := attrColumns[o.f.key]
	if col != "r.start_time" && col != "r.end_time" {
		col = d.text(col)
	}
	return one(col)
}

// parseOrderBy reads "KEY", "-KEY", "KEY ASC" or "KEY DESC", where KEY is a
// field as in filters. "" gives newest first.
func parseOrderBy(src string) (orderBy, error) {
	var o orderBy
	if trimmed := strings.TrimLeftFunc(src, unicode.IsSpace); strings.HasPrefix(trimmed, "-") {
		// Blank out the minus so that columns in errors stay right.
		o.desc = true
		src = src[:len(src)-len(trimmed)] + " " + trimmed[1:]
	}
	toks, err := lex("order-by", src)
	if err != nil {
		return orderBy{}, err
	}
	if toks[0].kind == tokEOF {
		if o.desc {
			return orderBy{}, &FilterError{What: "order-by", Column: 1, Msg: `expected a field after "-"`}
		}
		return orderBy{desc: true}, nil
	}
	f, err := parseField("order-by", toks[0])
	if err != nil {
		return orderBy{}, err
	}
	i := 1
	if t := toks[i]; t.is("desc") || t.is("asc") {
		if o.desc {
			return orderBy{}, &FilterError{What: "order-by", Column: t.col, Msg: fmt.Sprintf(`%s conflicts with the leading "-"`, t)}
		}
		o.desc = t.is("desc")
		i++
	}
	if t := toks[i]; t.kind != tokEOF {
		return orderBy{}, &FilterError{What: "order-by", Column: t.col, Msg: fmt.Sprintf("expected ASC, DESC or end, got %s", t)}
	}
	o.f = f
	return o, nil
}
